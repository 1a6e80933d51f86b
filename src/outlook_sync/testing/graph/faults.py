"""Fault injection: the trouble a real tenant causes, on demand.

Each rule matches requests by method and a substring of the path and fires for its next
``times`` matches. Kinds, with the documented behaviour they imitate:

- ``status`` — answer 429 / 503 / 504 with an optional ``Retry-After`` header instead of
  serving the request. Throttling: https://learn.microsoft.com/en-us/graph/throttling
  ("429 Too Many Requests … Retry-After"); 503/504 are the transient errors the same page
  says to retry with back-off. Applies to batch items too (a throttled batch item gets
  its own 429, https://learn.microsoft.com/en-us/graph/json-batching).
- ``unauthorized`` — 401 ``InvalidAuthenticationToken`` (an expired access token).
- ``drop_before`` / ``drop_after`` — close the connection without an answer, before or
  *after* the request was carried out (a lost answer to a write that happened).
- ``delay`` — answer only after ``delay`` seconds (a slow service; trips client timeouts).
- ``corrupt`` — answer 200 with ``body`` as the raw bytes (truncated or malformed JSON).
- ``callback`` — run ``callback()`` before serving the request: "the user edited the
  item between two requests" (e.g. between the listing and the PATCH, giving a 412).

Expired delta tokens are not a rule: :meth:`GraphEmulator.expire_delta_tokens` trims the
token cache, as the service does (https://learn.microsoft.com/en-us/graph/delta-query-overview,
"Token duration").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FaultRule", "Faults"]


@dataclass
class FaultRule:
    """One injected fault; see the module docstring for ``kind``."""

    kind: str
    times: int = 1
    method: str | None = None
    path_contains: str | None = None
    status: int = 429
    retry_after: float | None = None
    delay: float = 0.0
    body: bytes = b""
    callback: Callable[[], None] | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.times <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains in path


_HTTP_ONLY = frozenset({"drop_before", "drop_after", "delay", "corrupt"})


class Faults:
    """The emulator's list of pending faults (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        """Arm ``rule``; it fires for its next ``times`` matching requests."""
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[FaultRule]:
        with self._lock:
            return [r for r in self._rules if r.times > 0]

    def take(
        self, method: str, path: str, *, inner: bool, kinds: frozenset[str] | None = None
    ) -> FaultRule | None:
        """Consume and return the first rule matching this request, if any.

        Batch items (``inner``) never match the connection-level kinds.
        """
        with self._lock:
            for rule in self._rules:
                if kinds is not None and rule.kind not in kinds:
                    continue
                if inner and rule.kind in _HTTP_ONLY:
                    continue
                if rule.matches(method, path):
                    rule.times -= 1
                    return rule
        return None


HTTP_KINDS = _HTTP_ONLY
SERVICE_KINDS = frozenset({"status", "unauthorized", "callback"})
