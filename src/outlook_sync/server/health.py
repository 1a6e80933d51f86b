"""Is a mailbox reachable? One cheap Graph request, classified.

A sync that cannot list a mailbox fails the same way whether Graph is briefly down or
will never let us in again. Retrying the second kind forever wastes the request budget
and hides the problem, so after a failed listing (and in the periodic health job) the
server asks once, ``GET /users/{mailbox}/calendar?$select=id``, and classifies the answer:

- 200: reachable; the failure was something else (``needs attention``, retried).
- 403 (``ErrorAccessDenied``, ``Authorization_RequestDenied``, ``ExtensionError``
  "Access to OData is disabled"): the app has no access to this mailbox — admin consent
  revoked, or the mailbox is outside the application access policy
  (https://learn.microsoft.com/en-us/graph/auth-limit-mailbox-access,
  https://learn.microsoft.com/en-us/graph/resolve-auth-errors) → ``consent missing``.
- 404 (``ErrorInvalidUser``, ``MailboxNotEnabledForRESTAPI``, ``ResourceNotFound``):
  the mailbox does not exist (deleted, or never licensed for Exchange Online)
  (https://learn.microsoft.com/en-us/graph/errors) → ``consent missing`` with that reason.
- sign-in refused by Microsoft Entra (no token at all: the app's consent or secret is
  gone tenant-wide) → ``consent missing``.
- anything else (429, 5xx, unreachable): unknown; the account keeps its state and the
  next attempt decides.
"""

from __future__ import annotations

import json
import urllib.parse

import attrs

from outlook_sync.adapters.graph import GraphClient
from outlook_sync.errors import BackendUnavailableError
from outlook_sync.server.ledger import AccountState

__all__ = ["Verdict", "probe_mailbox"]


@attrs.frozen(kw_only=True)
class Verdict:
    """What the probe concluded: a state (``None``: unknown) and the reason to show."""

    state: AccountState | None
    reason: str | None


def _code(content: bytes) -> str:
    try:
        err = json.loads(content).get("error") or {}
    except (ValueError, AttributeError):
        return ""
    return str(err.get("code") or "") if isinstance(err, dict) else ""


def probe_mailbox(client: GraphClient, mailbox: str) -> Verdict:
    """Ask Graph once whether ``mailbox`` is reachable with our credentials."""
    path = f"users/{urllib.parse.quote(mailbox, safe='@.')}/calendar?$select=id"
    try:
        resp = client.request("GET", path)
    except BackendUnavailableError as exc:
        text = str(exc)
        if "sign-in to Microsoft Graph failed" in text:
            return Verdict(
                state=AccountState.CONSENT_MISSING,
                reason=f"{text} (admin consent or the app's credentials are gone)",
            )
        return Verdict(state=None, reason=text)
    code = _code(resp.content)
    if resp.ok:
        return Verdict(state=AccountState.OK, reason=None)
    if resp.status in (401, 403):
        return Verdict(
            state=AccountState.CONSENT_MISSING,
            reason=f"Graph refuses this mailbox (HTTP {resp.status} {code}): admin consent "
            "revoked, or the mailbox is outside the application access policy",
        )
    if resp.status == 404:
        return Verdict(
            state=AccountState.CONSENT_MISSING,
            reason=f"the mailbox does not exist (HTTP 404 {code}): deleted or not licensed",
        )
    return Verdict(state=None, reason=f"HTTP {resp.status} {code}".strip())
