"""Access tokens for Microsoft Graph: a small Protocol and helpers built on msal.

The adapter only needs "a bearer token, fresh if asked": :class:`TokenProvider`. Ship
your own (a host that already signs users in), or use one of the msal helpers:

- :func:`device_code_provider` — delegated, for a desktop host without a browser
  control: the user types a code at https://microsoft.com/devicelogin.
- :func:`interactive_provider` — delegated, opens the system browser.
- :func:`client_credentials_provider` — app-only (a server syncing many mailboxes with
  the ``Calendars.ReadWrite`` application permission).

msal is imported only when a helper is called (the ``[graph]`` extra), and tokens,
secrets and caches never appear in ``repr``, logs or error messages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from outlook_sync.errors import BackendUnavailableError, ConfigurationError

__all__ = [
    "DELEGATED_SCOPES",
    "StaticToken",
    "TokenProvider",
    "client_credentials_provider",
    "device_code_provider",
    "interactive_provider",
]

#: Delegated scopes the adapter needs (read/write the user's calendars).
DELEGATED_SCOPES = ("Calendars.ReadWrite",)
#: App-only scope: the application permissions granted to the app.
APP_SCOPES = ("https://graph.microsoft.com/.default",)


@runtime_checkable
class TokenProvider(Protocol):
    """Gives the bearer token for Graph requests.

    ``token(refresh=True)`` is called once after a 401: return a new token (not the
    cached one) or raise :class:`~outlook_sync.errors.BackendUnavailableError`.
    """

    def token(self, *, refresh: bool = False) -> str: ...


class StaticToken:
    """A fixed token (tests, the emulator, or a host that refreshes tokens itself)."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ConfigurationError("an empty access token", key="token")
        self._token = token

    def token(self, *, refresh: bool = False) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"


class _MsalProvider:
    """Shared logic: cache silently, fall back to an interactive or app flow."""

    def __init__(
        self,
        app: Any,
        scopes: Sequence[str],
        acquire: Callable[[Any, list[str]], dict[str, Any]],
        *,
        silent: bool,
    ) -> None:
        self._app = app
        self._scopes = list(scopes)
        self._acquire = acquire
        self._silent = silent
        self._lock = threading.Lock()
        self._cached: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scopes={self._scopes!r})"

    def token(self, *, refresh: bool = False) -> str:
        with self._lock:
            if self._cached is not None and not refresh:
                return self._cached
            result: dict[str, Any] | None = None
            if self._silent:
                accounts = self._app.get_accounts()
                if accounts:
                    result = self._app.acquire_token_silent(
                        self._scopes, account=accounts[0], force_refresh=refresh
                    )
            if not result or "access_token" not in result:
                result = self._acquire(self._app, self._scopes)
            token = result.get("access_token") if result else None
            if not isinstance(token, str) or not token:
                code = (result or {}).get("error", "no token")
                # error_description can echo request details; keep only the error code.
                raise BackendUnavailableError(f"sign-in to Microsoft Graph failed: {code}")
            self._cached = token
            return token


def _msal() -> Any:
    try:
        import msal
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            "msal is not installed; install outlook_sync[graph]", key="msal"
        ) from exc
    return msal


def _authority(tenant: str) -> str:
    return f"https://login.microsoftonline.com/{tenant}"


def device_code_provider(
    client_id: str,
    *,
    tenant: str = "organizations",
    scopes: Sequence[str] = DELEGATED_SCOPES,
    show: Callable[[str], None] = print,
    token_cache: Any = None,
) -> TokenProvider:
    """Delegated sign-in with the device-code flow; ``show`` displays the instructions."""
    msal = _msal()
    app = msal.PublicClientApplication(
        client_id, authority=_authority(tenant), token_cache=token_cache
    )

    def acquire(app: Any, scopes: list[str]) -> dict[str, Any]:
        flow = app.initiate_device_flow(scopes=scopes)
        if "user_code" not in flow:
            return {"error": flow.get("error", "device flow not started")}
        show(str(flow.get("message", "")))
        result: dict[str, Any] = app.acquire_token_by_device_flow(flow)
        return result

    return _MsalProvider(app, scopes, acquire, silent=True)


def interactive_provider(
    client_id: str,
    *,
    tenant: str = "organizations",
    scopes: Sequence[str] = DELEGATED_SCOPES,
    token_cache: Any = None,
) -> TokenProvider:
    """Delegated sign-in in the system browser (desktop hosts)."""
    msal = _msal()
    app = msal.PublicClientApplication(
        client_id, authority=_authority(tenant), token_cache=token_cache
    )

    def acquire(app: Any, scopes: list[str]) -> dict[str, Any]:
        result: dict[str, Any] = app.acquire_token_interactive(scopes=scopes)
        return result

    return _MsalProvider(app, scopes, acquire, silent=True)


def client_credentials_provider(
    client_id: str,
    client_credential: str | dict[str, Any],
    *,
    tenant: str,
    scopes: Sequence[str] = APP_SCOPES,
) -> TokenProvider:
    """App-only tokens (client secret or certificate dict) for server-side hosts."""
    if not tenant or tenant in ("common", "organizations", "consumers"):
        raise ConfigurationError("app-only sign-in needs a tenant id or domain", key="tenant")
    msal = _msal()
    app = msal.ConfidentialClientApplication(
        client_id, client_credential=client_credential, authority=_authority(tenant)
    )

    def acquire(app: Any, scopes: list[str]) -> dict[str, Any]:
        result: dict[str, Any] = app.acquire_token_for_client(scopes=scopes)
        return result

    return _MsalProvider(app, scopes, acquire, silent=False)
