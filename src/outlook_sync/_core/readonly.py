"""Leaving out the writes to a read-only side (pure).

A side can be read-only by policy (``SyncPolicy.read_only``: a shared calendar with
reviewer rights, a read-only CRM view) or turn out to be read-only during a sync (the
backend refused a write with ``PermissionDeniedError``). Either way the same rule
applies, here in one place:

- a create or a delete on the read-only side is left out; the link (if any) stays, so
  the pair is seen again and nothing is taken for deleted;
- an update keeps its writes to the writable side and drops those to the read-only
  one; the pair's base then stays what it was (``Update.previous_base``), because the
  read-only side never received the new content, and so does the writable side's
  version in the link (``Update.unagreed``): the next sync still sees that side
  changed and merges a later change of the read-only side with it, field by field,
  instead of copying it over the edit. An update whose old base is unknown is left
  out whole;
- partner-key stamps on the read-only side are left out.

Changes made on the read-only side still travel to the other side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import attrs

from outlook_sync._core.actions import Action, Create, Delete, LinkPair, Update
from outlook_sync.model import Link, Side

__all__ = ["restrict"]


def restrict(
    actions: Iterable[Action], read_only: frozenset[Side]
) -> tuple[tuple[Action, ...], dict[Side, int]]:
    """The actions without writes to ``read_only`` sides, and how many were left out."""
    if not read_only:
        return tuple(actions), {}
    kept: list[Action] = []
    skipped: Counter[Side] = Counter()
    for action in actions:
        if isinstance(action, Create | Delete):
            if action.side in read_only:
                skipped[action.side] += 1
                continue
            kept.append(action)
        elif isinstance(action, Update):
            restricted = _update(action, read_only, skipped)
            if restricted is not None:
                kept.append(restricted)
        elif isinstance(action, LinkPair):
            stamp = tuple(side for side in action.stamp if side not in read_only)
            skipped.update(side for side in action.stamp if side in read_only)
            kept.append(action if stamp == action.stamp else attrs.evolve(action, stamp=stamp))
        else:
            kept.append(action)
    return tuple(kept), dict(skipped)


def _update(action: Update, read_only: frozenset[Side], skipped: Counter[Side]) -> Action | None:
    writes = tuple(write for write in action.writes if write.side not in read_only)
    stamp = tuple(side for side in action.stamp if side not in read_only)
    dropped = [write.side for write in action.writes if write.side in read_only]
    skipped.update(dropped)
    skipped.update(side for side in action.stamp if side in read_only and side not in dropped)
    if not dropped:
        return action if stamp == action.stamp else attrs.evolve(action, stamp=stamp)
    if action.previous_base is None or action.previous_versions is None:
        return None
    base = action.previous_base
    # the writable side holds content the read-only side never got: not agreed on
    unagreed = tuple(side for side in (Side.SALJSTOD, Side.OUTLOOK) if side not in read_only)
    if writes:
        return attrs.evolve(action, writes=writes, stamp=stamp, base=base, unagreed=unagreed)
    versions = action.recorded_versions(
        {Side.SALJSTOD: action.saljstod_version, Side.OUTLOOK: action.outlook_version},
        unagreed)
    return LinkPair(
        link=Link(
            saljstod_id=action.saljstod_id,
            outlook_id=action.outlook_id,
            base=base,
            saljstod_version=versions[Side.SALJSTOD],
            outlook_version=versions[Side.OUTLOOK],
        ),
        new_link=action.new_link,
        stamp=stamp,
        replaces=action.replaces,
    )
