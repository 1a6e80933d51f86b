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

**Caching is msal's.** Every :meth:`token` asks msal, whose token cache knows each
token's expiry: a cached token is returned while valid and renewed (refresh token, or a
new client-credentials request) when not, so no request is sent with an expired token
and answered 401 first. ``token(refresh=True)`` (after a 401 all the same: a revoked
token) forces a new one.

**Delegated sign-in remembers the user.** :func:`device_code_provider` and
:func:`interactive_provider` keep msal's token cache on disk
(:func:`persistent_token_cache`, msal-extensions): encrypted with DPAPI on Windows, the
Keychain on macOS and libsecret on Linux where available, else a file only the user may
read (mode 0600). A scheduled ``outlook-sync sync`` therefore signs in silently with the
refresh token instead of asking for a new device code every run.

**An unreachable login server** (no network, DNS, a proxy refusing) is a
:class:`~outlook_sync.errors.BackendUnavailableError`, for every helper: msal's network
errors (``requests`` exceptions, all ``OSError``) are translated at the one place msal
is called. The msal application is made on the first :meth:`token` call, so building a
provider never touches the network.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from outlook_sync.errors import BackendUnavailableError, ConfigurationError

__all__ = [
    "DELEGATED_SCOPES",
    "StaticToken",
    "TokenProvider",
    "client_credentials_provider",
    "default_token_cache_path",
    "device_code_provider",
    "interactive_provider",
    "persistent_token_cache",
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
    """Ask msal for a token every time; msal's cache decides (see the module doc)."""

    def __init__(
        self,
        make_app: Callable[[], Any],
        scopes: Sequence[str],
        acquire: Callable[[Any, list[str]], dict[str, Any]],
        *,
        delegated: bool,
    ) -> None:
        self._make_app = make_app
        self._app: Any = None
        self._scopes = list(scopes)
        self._acquire = acquire
        self._delegated = delegated
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scopes={self._scopes!r})"

    def token(self, *, refresh: bool = False) -> str:
        with self._lock:
            try:
                return self._token(refresh)
            except OSError as exc:  # requests' errors are OSErrors: no route to login
                raise BackendUnavailableError(
                    f"the Microsoft sign-in server is unreachable ({type(exc).__name__})"
                ) from None

    def _token(self, refresh: bool) -> str:
        if self._app is None:
            self._app = self._make_app()
        app = self._app
        result: dict[str, Any] | None = None
        if self._delegated:
            accounts = app.get_accounts()
            if accounts:
                result = app.acquire_token_silent(
                    self._scopes, account=accounts[0], force_refresh=refresh
                )
        elif refresh:
            app.remove_tokens_for_client()  # the cached one was refused: ask anew
        if not result or "access_token" not in result:
            result = self._acquire(app, self._scopes)
        token = result.get("access_token") if result else None
        if not isinstance(token, str) or not token:
            code = (result or {}).get("error", "no token")
            # error_description can echo request details; keep only the error code.
            raise BackendUnavailableError(f"sign-in to Microsoft Graph failed: {code}")
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


#: ``cache_path`` default: the per-user cache file (:func:`default_token_cache_path`).
DEFAULT_CACHE = Path("<default>")


def default_token_cache_path() -> Path:
    """Where delegated sign-in keeps its token cache by default.

    ``%LOCALAPPDATA%\\outlook_sync`` on Windows, ``$XDG_CACHE_HOME/outlook_sync`` (or
    ``~/.cache/outlook_sync``) elsewhere; the file is ``graph_token_cache.bin``.
    """
    if sys.platform == "win32":
        root = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "outlook_sync" / "graph_token_cache.bin"


def persistent_token_cache(path: str | os.PathLike[str], *, encrypted_only: bool = False) -> Any:
    """An msal token cache kept in the file ``path`` (msal-extensions).

    Encrypted where the platform allows (DPAPI, Keychain, libsecret); otherwise a plain
    file readable by the user alone (0600), unless ``encrypted_only``.

    Raises:
        ConfigurationError: msal-extensions is missing, or no encryption is available
            and ``encrypted_only`` is set.
    """
    try:
        import msal_extensions
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            "msal-extensions is not installed; install outlook_sync[graph]", key="msal"
        ) from exc
    location = Path(path)
    location.parent.mkdir(parents=True, exist_ok=True)
    try:
        persistence = msal_extensions.build_encrypted_persistence(str(location))
    except Exception as exc:  # no DPAPI / Keychain / libsecret on this machine
        if encrypted_only:
            raise ConfigurationError(
                f"no encrypted token storage on this machine ({type(exc).__name__})",
                key="token_cache",
            ) from None
        persistence = msal_extensions.FilePersistence(str(location))  # created 0600
    return msal_extensions.PersistedTokenCache(persistence)


def _cache(token_cache: Any, cache_path: str | os.PathLike[str] | None) -> Any:
    if token_cache is not None or cache_path is None:
        return token_cache
    path = default_token_cache_path() if cache_path == DEFAULT_CACHE else Path(cache_path)
    return persistent_token_cache(path)


def _public_app(
    client_id: str,
    tenant: str,
    authority: str | None,
    cache: tuple[Any, str | os.PathLike[str] | None],
    http_client: Any,
) -> Callable[[], Any]:
    def make() -> Any:
        msal = _msal()
        return msal.PublicClientApplication(
            client_id,
            authority=authority or _authority(tenant),
            token_cache=_cache(*cache),
            # a custom authority (a test server, a sovereign cloud) is used as given
            instance_discovery=authority is None,
            **({"http_client": http_client} if http_client is not None else {}),
        )

    return make


def device_code_provider(
    client_id: str,
    *,
    tenant: str = "organizations",
    scopes: Sequence[str] = DELEGATED_SCOPES,
    show: Callable[[str], None] = print,
    token_cache: Any = None,
    cache_path: str | os.PathLike[str] | None = DEFAULT_CACHE,
    authority: str | None = None,
    http_client: Any = None,
) -> TokenProvider:
    """Delegated sign-in with the device-code flow; ``show`` displays the instructions.

    Args:
        token_cache: an msal token cache to use as is.
        cache_path: without ``token_cache``, keep the cache in this file
            (:func:`persistent_token_cache`; :func:`default_token_cache_path` by default,
            ``None`` for memory only).
        authority: the sign-in authority URL (default: login.microsoftonline.com/tenant).
        http_client: a ``requests.Session``-like client for msal (proxies, tests).
    """
    cache = (token_cache, cache_path)
    make_app = _public_app(client_id, tenant, authority, cache, http_client)

    def acquire(app: Any, scopes: list[str]) -> dict[str, Any]:
        flow = app.initiate_device_flow(scopes=scopes)
        if "user_code" not in flow:
            return {"error": flow.get("error", "device flow not started")}
        show(str(flow.get("message", "")))
        result: dict[str, Any] = app.acquire_token_by_device_flow(flow)
        return result

    return _MsalProvider(make_app, scopes, acquire, delegated=True)


def interactive_provider(
    client_id: str,
    *,
    tenant: str = "organizations",
    scopes: Sequence[str] = DELEGATED_SCOPES,
    token_cache: Any = None,
    cache_path: str | os.PathLike[str] | None = DEFAULT_CACHE,
    authority: str | None = None,
    http_client: Any = None,
) -> TokenProvider:
    """Delegated sign-in in the system browser (desktop hosts); the cache as for
    :func:`device_code_provider`."""
    cache = (token_cache, cache_path)
    make_app = _public_app(client_id, tenant, authority, cache, http_client)

    def acquire(app: Any, scopes: list[str]) -> dict[str, Any]:
        result: dict[str, Any] = app.acquire_token_interactive(scopes=scopes)
        return result

    return _MsalProvider(make_app, scopes, acquire, delegated=True)


def client_credentials_provider(
    client_id: str,
    client_credential: str | dict[str, Any],
    *,
    tenant: str,
    scopes: Sequence[str] = APP_SCOPES,
    authority: str | None = None,
    http_client: Any = None,
) -> TokenProvider:
    """App-only tokens (client secret or certificate dict) for server-side hosts.

    msal caches the app token in memory and hands it out until it expires
    (``acquire_token_for_client`` looks in the cache first).
    """
    if not tenant or tenant in ("common", "organizations", "consumers"):
        raise ConfigurationError("app-only sign-in needs a tenant id or domain", key="tenant")

    def make_app() -> Any:
        msal = _msal()
        return msal.ConfidentialClientApplication(
            client_id,
            client_credential=client_credential,
            authority=authority or _authority(tenant),
            instance_discovery=authority is None,
            **({"http_client": http_client} if http_client is not None else {}),
        )

    def acquire(app: Any, scopes: list[str]) -> dict[str, Any]:
        result: dict[str, Any] = app.acquire_token_for_client(scopes=scopes)
        return result

    return _MsalProvider(make_app, scopes, acquire, delegated=False)
