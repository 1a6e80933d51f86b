"""What a JSON ``$batch`` must look like, and how its answers look.

From https://learn.microsoft.com/en-us/graph/json-batching ("Creating a batch request"
and "Processing the JSON batch response"):

- ``id`` is required, "Not case-sensitive. Must be unique in the batch, otherwise, the
  batch request fails with a ``400`` error code": ids that differ only by case collide.
- ``url`` is "the relative resource URL for the individual request" (``/users``, not
  ``https://graph.microsoft.com/v1.0/users``): an absolute URL is refused.
- "When a **body** is included with the request, the **headers** object must contain a
  value for **Content-Type**": a body without it is refused. The service answers the
  whole batch 400 ("Write request id : 1 does not contain Content-Type header or body.").
- "If the batch request itself is malformed, the status code is ``400``"; otherwise 200,
  with a status per item.
- "The **headers** property in each individual response represents the headers returned
  by the server, for example, **Cache-Control** and **Content-Type** headers": every
  answer with a body carries its ``Content-Type``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from outlook_sync.testing.graph.store import GraphError

__all__ = ["JSON_CONTENT_TYPE", "batch_answer", "check_batch"]

#: The ``Content-Type`` of Graph's JSON answers.
JSON_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)


def _bad(message: str) -> GraphError:
    return GraphError(400, "BadRequest", message)


def check_batch(items: Sequence[Any]) -> None:
    """Refuse a malformed batch as a whole.

    Raises:
        GraphError: 400 ``BadRequest`` naming the first offending request.
    """
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            raise _bad("Invalid batch payload: each request must be an object.")
        rid, method, url = item.get("id"), item.get("method"), item.get("url")
        if not isinstance(rid, str) or not rid:
            raise _bad("Invalid batch payload: each request needs a string id.")
        if rid.casefold() in seen:
            raise _bad(f"Batch request ids must be unique (not case-sensitive): {rid}")
        seen.add(rid.casefold())
        if not isinstance(method, str) or not isinstance(url, str) or not url:
            raise _bad(f"Request id : {rid} needs a method and a url.")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme or parts.netloc or url.startswith("//"):
            raise _bad(f"Request id : {rid}: the url must be relative, not {url}.")
        headers = item.get("headers")
        if headers is not None and not isinstance(headers, dict):
            raise _bad(f"Request id : {rid}: headers must be an object.")
        depends = item.get("dependsOn")
        if depends is not None and not isinstance(depends, list):
            raise _bad(f"Request id : {rid}: dependsOn must be an array of ids.")
        if "body" in item and item["body"] is not None:
            names = {str(k).casefold() for k in (headers or {})}
            if "content-type" not in names:
                raise _bad(
                    f"Write request id : {rid} does not contain Content-Type header or body."
                )


def batch_answer(rid: str, status: int, body: Any, headers: Mapping[str, str]) -> dict[str, Any]:
    """One item of the ``responses`` array, with the headers the service sends."""
    out = dict(headers)
    if body is not None and not any(k.casefold() == "content-type" for k in out):
        out["Content-Type"] = JSON_CONTENT_TYPE
    answer: dict[str, Any] = {"id": rid, "status": status, "headers": out}
    if body is not None:
        answer["body"] = body
    return answer
