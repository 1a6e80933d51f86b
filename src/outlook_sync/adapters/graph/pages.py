"""Paged Graph answers, read defensively: one page at a time, to the client's own host.

Theory of operation
-------------------
Graph pages a collection with ``@odata.nextLink`` and ends a delta round with
``@odata.deltaLink`` (https://learn.microsoft.com/en-us/graph/paging,
https://learn.microsoft.com/en-us/graph/delta-query-overview). A client follows those
links as given, which makes three failure modes possible that a sync must survive:

- **A round that never ends.** A ``nextLink`` that leads back to a page already served
  (the loop reported against Microsoft's own SDKs, msgraph-sdk-dotnet #3082 and #3070)
  would be followed forever. :class:`PageReader` stops after ``max_pages`` pages, and at
  once when a link or a non-empty page repeats; either is a :class:`ListingError`, so
  nothing is concluded (and nothing deleted) from the listing.
- **A link to another host.** The bearer token goes with every request, and a delta link
  is stored as the next sync's cursor. A link whose scheme, host or port differs from the
  client's Graph root is never followed: :class:`ListingError`.
- **Memory.** Pages are yielded one at a time (:meth:`PageReader.entries`); the caller
  keeps what it needs, so a round of 100 000 entries never holds them all.

A page that is not a JSON object with a ``value`` list, an entry without an id, or a last
page with neither link is a :class:`ListingError` too. An expired delta token (410 Gone,
or the ``syncStateNotFound`` family of codes) is :class:`DeltaExpiredError`, which the
caller answers with a complete listing.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from outlook_sync.adapters.graph.transport import (
    GraphClient,
    GraphResponse,
    MalformedResponseError,
    error_for,
)
from outlook_sync.errors import ListingError

__all__ = [
    "DEFAULT_MAX_PAGES",
    "CollectionGoneError",
    "DeltaExpiredError",
    "PageReader",
    "QueryRefusedError",
    "error_code",
    "server_date",
]

#: Pages one listing may take before it is called a loop (200 000 entries at 200 a page).
DEFAULT_MAX_PAGES = 1000

_EXPIRED_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})


class DeltaExpiredError(Exception):
    """The delta token is unknown or expired (a complete listing is needed)."""


class QueryRefusedError(ListingError):
    """Graph answered 400 to a query (a filter or option this service does not support)."""


class CollectionGoneError(ListingError):
    """Graph answered 404: the resource the collection belongs to is gone."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme.casefold())
    return parts.scheme.casefold(), (parts.hostname or "").casefold(), port


def error_code(resp: GraphResponse) -> str:
    """Graph's error code of an error answer, case-folded ("" when there is none)."""
    if resp.ok:
        return ""
    try:
        err = resp.json_object().get("error")
    except MalformedResponseError:
        return ""
    return str(err.get("code", "")).casefold() if isinstance(err, dict) else ""


def server_date(resp: GraphResponse) -> dt.datetime | None:
    """The answer's ``Date`` header (the service's clock), or None."""
    raw = resp.headers.get("date")
    if not raw:
        return None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else None


class PageReader:
    """Follows one paged listing (a collection, or a delta round) to its end.

    Args:
        client: the Graph client (its base URL names the only host links may lead to).
        url: the first request (a path under the Graph root, or an absolute URL).
        headers: request headers.
        what: names the listing in error messages.
        delta: a delta round (ends with a deltaLink; 410 means expired).
        max_pages: pages allowed before the listing is called a loop.

    After :meth:`entries` is exhausted, :attr:`delta_link` holds the round's delta link
    and :attr:`server_time` the ``Date`` of its first answer.
    """

    def __init__(
        self,
        client: GraphClient,
        url: str,
        *,
        headers: Mapping[str, str],
        what: str,
        delta: bool = False,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        self._client = client
        self._url = url
        self._headers = dict(headers)
        self._what = what
        self._delta = delta
        self._max_pages = max_pages
        self._home = _origin(client.url(""))
        self.delta_link: str | None = None
        self.server_time: dt.datetime | None = None
        self.pages = 0

    def _check_link(self, link: str, kind: str) -> None:
        if link.startswith(("http://", "https://")) and _origin(link) != self._home:
            raise ListingError(
                f"{self._what}: the {kind} leads to another host; not followed "
                "(the token would go with it)"
            )

    def _get(self, url: str) -> dict[str, Any]:
        resp = self._client.request("GET", url, headers=self._headers)
        if self._delta and (resp.status == 410 or error_code(resp) in _EXPIRED_CODES):
            raise DeltaExpiredError
        if resp.status == 400 and not self._delta:
            raise QueryRefusedError(str(error_for(resp, what=self._what, listing=True)))
        if resp.status == 404 and not self._delta:
            raise CollectionGoneError(str(error_for(resp, what=self._what, listing=True)))
        if not resp.ok:
            raise error_for(resp, what=self._what, listing=True)
        if self.server_time is None:
            self.server_time = server_date(resp)
        try:
            return resp.json_object()
        except MalformedResponseError as exc:
            raise ListingError(f"{self._what}: malformed answer ({exc})") from None

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry of every page, one page fetched at a time.

        Raises:
            ListingError: a malformed page, a loop, too many pages, a foreign link.
            DeltaExpiredError: the delta token expired (delta rounds).
            BackendUnavailableError: Graph unreachable or throttled past retries.
        """
        url: str | None = self._url
        self._check_link(self._url, "stored link")  # a cursor from elsewhere: same rule
        seen_links: set[str] = set()
        seen_pages: set[bytes] = set()
        while url is not None:
            self.pages += 1
            if self.pages > self._max_pages:
                raise ListingError(
                    f"{self._what}: more than {self._max_pages} pages; stopped as a loop"
                )
            page = self._get(url)
            value = page.get("value")
            if not isinstance(value, list):
                raise ListingError(f"{self._what}: a page without a value list")
            digest = hashlib.sha256()
            for entry in value:
                if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                    raise ListingError(f"{self._what}: an entry without an id")
                digest.update(f"{entry['id']}\0{entry.get('changeKey')}\0".encode())
            if value:
                fingerprint = digest.digest()
                if fingerprint in seen_pages:
                    raise ListingError(f"{self._what}: the same page came twice; a loop")
                seen_pages.add(fingerprint)
            yield from value
            next_link, delta_link = page.get("@odata.nextLink"), page.get("@odata.deltaLink")
            if isinstance(next_link, str):
                self._check_link(next_link, "nextLink")
                if next_link in seen_links or next_link == url:
                    raise ListingError(f"{self._what}: a nextLink repeated; a loop")
                seen_links.add(next_link)
                url = next_link
            elif self._delta and isinstance(delta_link, str):
                self._check_link(delta_link, "deltaLink")
                self.delta_link = delta_link
                url = None
            elif self._delta:
                raise ListingError(
                    f"{self._what}: a delta page with neither nextLink nor deltaLink"
                )
            else:
                url = None
