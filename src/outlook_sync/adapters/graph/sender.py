"""The HTTP exchange under :class:`~outlook_sync.adapters.graph.transport.GraphClient`.

A *sender* sends one request and returns the answer's status, headers and body, or raises
:class:`SendFailed` saying whether the request may have reached the server. Two exist:

- :class:`DirectSender` -- HTTP/1.1 over the standard library's :mod:`http.client`, with
  keep-alive connections pooled per host. It is what a :class:`GraphClient` uses when it
  opens its own connections and no proxy applies to the Graph host: a first full sync
  sends about a thousand ``$batch`` requests, and this costs the sync process about a
  fifth of the CPU httpx's client does for the same exchange (``benchmarks/
  bench_first_sync.py --floor``). TLS uses the context httpx would
  (:func:`httpx.create_ssl_context`: certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``).
- :class:`HttpxSender` -- an :class:`httpx.Client`: one passed in (tests, a shared pool in
  server mode) or made when a proxy applies (``HTTPS_PROXY`` and friends, which httpx
  honours and :mod:`http.client` does not).

Whether a failed request was *sent* decides whether a write may be repeated: a request
that failed while connecting certainly did not reach the server; any failure after the
connection was open may have (the caller then reports a lost answer, not a retry).

JSON goes through :func:`dumps` and :func:`loads`: orjson when it is installed (the
``graph`` extra installs it; about 4x faster both ways on ``$batch`` bodies), the standard
library otherwise or for what orjson refuses (lone surrogates in text).
"""

from __future__ import annotations

import http.client
import importlib.metadata
import json
import select
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

_orjson: Any
try:  # an accelerator only: everything works without it
    import orjson as _orjson
except ImportError:  # pragma: no cover - the graph extra installs it
    _orjson = None

__all__ = [
    "DirectSender",
    "HttpxSender",
    "SendFailed",
    "Sender",
    "dumps",
    "loads",
    "proxied",
]


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON."""
    if _orjson is not None:
        try:
            encoded: bytes = _orjson.dumps(value)
            return encoded
        except TypeError:  # e.g. a lone surrogate, which json escapes
            pass
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def loads(data: bytes) -> Any:
    """Decode JSON; raises ``ValueError`` (or ``RecursionError``) when it is not JSON."""
    if _orjson is not None:
        return _orjson.loads(data)  # JSONDecodeError is a ValueError
    return json.loads(data)


class SendFailed(Exception):
    """The exchange failed: ``kind`` names the failure, ``sent`` whether it may have
    reached the server."""

    def __init__(self, kind: str, *, sent: bool) -> None:
        super().__init__(kind)
        self.kind = kind
        self.sent = sent


class Sender(Protocol):
    def send(
        self, method: str, url: str, headers: Mapping[str, str], content: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        """One exchange: ``(status, lower-case headers, body)``; raises SendFailed."""
        ...

    def close(self) -> None: ...


def proxied(url: str) -> bool:
    """True when the environment routes ``url`` through a proxy (as httpx would)."""
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def _timeouts(timeout: float | httpx.Timeout) -> tuple[float | None, float | None]:
    """(connect, read) seconds from a float or an ``httpx.Timeout``."""
    if isinstance(timeout, httpx.Timeout):
        return timeout.connect, timeout.read
    return float(timeout), float(timeout)


class HttpxSender:
    """Exchanges through an :class:`httpx.Client`."""

    def __init__(self, client: httpx.Client, timeout: float | httpx.Timeout, *, own: bool) -> None:
        self.client = client
        self._timeout = timeout
        self._own = own

    def send(
        self, method: str, url: str, headers: Mapping[str, str], content: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            resp = self.client.request(
                method, url, headers=dict(headers), content=content, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            raise SendFailed(type(exc).__name__, sent=not unsent) from exc
        return resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.content

    def close(self) -> None:
        if self._own:
            self.client.close()


def _user_agent() -> str:
    try:
        return f"outlook_sync/{importlib.metadata.version('outlook_sync')}"
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a tree
        return "outlook_sync"


#: sent with every request unless the caller sets them: who is calling (so that a
#: service's logs, or a proxy's allow list, can tell this client apart) and that JSON is
#: expected
_DEFAULT_HEADERS = {"User-Agent": _user_agent(), "Accept": "application/json"}

#: characters left as they are in a request target (RFC 3986 reserved and unreserved,
#: and ``%`` so that what the caller escaped stays escaped)
_TARGET_SAFE = "/?#[]@!$&'()*+,;=-._~:%"


class DirectSender:
    """HTTP/1.1 over :mod:`http.client`, keep-alive connections pooled per host.

    Thread-safe: each exchange takes an idle connection of its host or opens one, and
    gives it back once the answer has been read whole (unless the server closes it). An
    idle connection the server has closed meanwhile (readable while idle) is dropped
    before use instead of failing the request.
    """

    def __init__(self, timeout: float | httpx.Timeout) -> None:
        self._connect_timeout, self._read_timeout = _timeouts(timeout)
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._tls: Any = None

    def _open(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if scheme == "https":
            with self._lock:
                if self._tls is None:
                    self._tls = httpx.create_ssl_context()
            conn = http.client.HTTPSConnection(
                host, port, timeout=self._connect_timeout, context=self._tls
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self._connect_timeout)
        try:
            conn.connect()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise SendFailed(_kind(exc, connecting=True), sent=False) from exc
        if conn.sock is not None:
            conn.sock.settimeout(self._read_timeout)
        return conn

    def _take(self, key: tuple[str, str, int]) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                return self._open(*key)
            if conn.sock is not None and not _readable(conn.sock):
                return conn
            conn.close()  # closed by the server while idle (or it sent something unasked)

    def send(
        self, method: str, url: str, headers: Mapping[str, str], content: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SendFailed(f"unsupported URL scheme {parts.scheme!r}", sent=False)
        key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        target = urllib.parse.quote(parts.path or "/", safe=_TARGET_SAFE)
        if parts.query:
            target += "?" + urllib.parse.quote(parts.query, safe=_TARGET_SAFE)
        conn = self._take(key)
        try:
            conn.request(method, target, body=content, headers={**_DEFAULT_HEADERS, **headers})
        except ValueError as exc:  # a header value http.client refuses: nothing went out
            conn.close()
            raise SendFailed("LocalProtocolError", sent=False) from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise SendFailed(_kind(exc, connecting=False), sent=True) from exc
        try:
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise SendFailed(_kind(exc, connecting=False), sent=True) from exc
        answer_headers = {name.lower(): value for name, value in resp.getheaders()}
        if resp.will_close:
            conn.close()
        else:
            with self._lock:
                self._idle.setdefault(key, []).append(conn)
        return resp.status, answer_headers, body

    def close(self) -> None:
        with self._lock:
            pools, self._idle = self._idle, {}
        for idle in pools.values():
            for conn in idle:
                conn.close()

    def __del__(self) -> None:
        # a client dropped without close(): its idle sockets close quietly with it
        if hasattr(self, "_idle"):
            self.close()


def _readable(sock: Any) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _kind(exc: BaseException, *, connecting: bool) -> str:
    """A short name for the failure, in httpx's words where they exist."""
    if isinstance(exc, TimeoutError):
        return "ConnectTimeout" if connecting else "ReadTimeout"
    if connecting:
        return "ConnectError"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "RemoteProtocolError"
    return type(exc).__name__
