"""Signing in to Graph: msal's own cache decides when a token is renewed, delegated
sign-in keeps its cache on disk, and an unreachable login server is a clear error.

The login server is played by a small in-process HTTP client handed to the real msal
(its documented ``http_client`` parameter), so msal's real caching logic runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from outlook_sync import BackendUnavailableError
from outlook_sync.adapters.graph import (
    client_credentials_provider,
    device_code_provider,
    interactive_provider,
)
from outlook_sync.adapters.graph.auth import default_token_cache_path, persistent_token_cache

AUTHORITY = "https://login.example.test/contoso.example"


class _Answer:
    def __init__(self, body: dict[str, Any], status: int = 200) -> None:
        self.status_code = status
        self.text = json.dumps(body)
        self.headers = {"Content-Type": "application/json"}

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(self.status_code)


class LoginServer:
    """Answers msal's OpenID discovery and token requests; counts token requests."""

    def __init__(self) -> None:
        self.issued: list[str] = []

    def get(self, url: str, **_kwargs: Any) -> _Answer:
        assert url.startswith(AUTHORITY), url
        return _Answer(
            {
                "token_endpoint": f"{AUTHORITY}/oauth2/v2.0/token",
                "authorization_endpoint": f"{AUTHORITY}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{AUTHORITY}/oauth2/v2.0/devicecode",
                "issuer": f"{AUTHORITY}/v2.0",
            }
        )

    def post(self, url: str, **_kwargs: Any) -> _Answer:
        assert url.endswith("/token"), url
        token = f"token-{len(self.issued) + 1}"
        self.issued.append(token)
        return _Answer({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def close(self) -> None:
        pass


def test_client_credentials_tokens_come_from_msals_cache_until_refused() -> None:
    server = LoginServer()
    tokens = client_credentials_provider(
        "app-id", "app-secret", tenant="contoso.example", authority=AUTHORITY, http_client=server
    )
    assert tokens.token() == "token-1"
    assert tokens.token() == "token-1"  # msal's cache: no second request
    assert server.issued == ["token-1"]
    assert tokens.token(refresh=True) == "token-2"  # after a 401: a new one, really
    assert tokens.token() == "token-2"
    assert "app-secret" not in repr(tokens)


@pytest.mark.parametrize("make", [device_code_provider, interactive_provider])
def test_an_unreachable_login_server_is_backend_unavailable(make: Any, tmp_path: Path) -> None:
    # nothing listens on port 9: the connection is refused, as with no network
    tokens = make("client-id", authority="https://127.0.0.1:9/organizations", cache_path=None)
    with pytest.raises(BackendUnavailableError, match="unreachable"):
        tokens.token()


def test_an_unreachable_login_server_is_backend_unavailable_for_app_only_too() -> None:
    tokens = client_credentials_provider(
        "app-id", "app-secret", tenant="contoso.example", authority="https://127.0.0.1:9/x"
    )
    with pytest.raises(BackendUnavailableError, match="unreachable") as caught:
        tokens.token()
    assert "app-secret" not in str(caught.value)


def test_delegated_sign_in_keeps_its_cache_on_disk_for_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "graph_token_cache.bin"
    first = persistent_token_cache(path)
    first.add(
        {
            "client_id": "client-id",
            "scope": ["Calendars.ReadWrite"],
            "token_endpoint": f"{AUTHORITY}/oauth2/v2.0/token",
            "response": {"access_token": "kept", "expires_in": 3600, "token_type": "Bearer"},
        }
    )
    assert path.exists()
    if os.name == "posix":
        assert path.stat().st_mode & 0o077 == 0  # only the user may read it
    again = persistent_token_cache(path)  # the next run of a scheduled sync
    found = list(again.search(again.CredentialType.ACCESS_TOKEN))
    assert [t["secret"] for t in found] == ["kept"]


def test_the_default_cache_lives_in_the_users_cache_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    assert default_token_cache_path() == tmp_path / "outlook_sync" / "graph_token_cache.bin"


def test_building_a_provider_touches_no_network(tmp_path: Path) -> None:
    # the msal application (and the cache file) are made on the first token() call
    device_code_provider(
        "client-id", authority="https://127.0.0.1:9/organizations", cache_path=tmp_path / "c"
    )
    assert not (tmp_path / "c").exists()
