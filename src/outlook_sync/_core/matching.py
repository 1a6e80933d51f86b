"""Pairing unlinked items before anything is created (step 3 of the planner): by the
partner keys items carry, then by match key. So a first full sync never duplicates what
exists on both sides, and a copy of a linked item is synced as a new item.

Pure: it reads the free items of both sides and takes out the ones it pairs.
"""

from __future__ import annotations

from collections import defaultdict

from outlook_sync.model import Item, Side
from outlook_sync.records import Conflict

__all__ = ["claim_notice", "pair_by_match_key", "pair_by_partner_key"]

_S, _O = Side.SALJSTOD, Side.OUTLOOK


def pair_by_partner_key(free: dict[Side, dict[str, Item]], linked: dict[Side, set[str]],
                        notices: list[Conflict]) -> list[tuple[Item, Item]]:
    """Pair unlinked items that carry each other's id as partner key, taking them out of
    ``free``; mutual claims go first, then in id order. An item naming an item linked
    to another (a user's copy), or one whose claim lost, gets a notice: it is a new
    item."""
    # Edges between unlinked items that name each other; mutual claims go first.
    edges: set[tuple[bool, str, str]] = set()
    for side in (_S, _O):
        for item in free[side].values():
            key = item.partner_key
            if key is None:
                continue
            partner = free[side.other].get(key)
            if partner is None:
                if key in linked[side.other]:
                    notices.append(claim_notice(side, item, key))
                continue
            s_item, o_item = (item, partner) if side is _S else (partner, item)
            mutual = s_item.partner_key == o_item.id and o_item.partner_key == s_item.id
            edges.add((not mutual, s_item.id, o_item.id))
    pairs = []
    for _, s_id, o_id in sorted(edges):
        if s_id in free[_S] and o_id in free[_O]:
            pairs.append((free[_S].pop(s_id), free[_O].pop(o_id)))
        else:
            claimant = (_S, s_id) if s_id in free[_S] else (_O, o_id)
            if claimant[1] in free[claimant[0]]:
                item = free[claimant[0]][claimant[1]]
                assert item.partner_key is not None
                notices.append(claim_notice(claimant[0], item, item.partner_key))
    return pairs


def claim_notice(side: Side, item: Item, key: str) -> Conflict:
    """The notice for an item naming a partner it cannot have."""
    ids = {f"{side.value}_id": item.id, f"{side.other.value}_id": key}
    return Conflict(
        saljstod_id=ids["saljstod_id"],
        outlook_id=ids["outlook_id"],
        kind="duplicate_claim",
        resolution="treated as a new item",
        detail=f"{side} item {item.id} names {key} as its partner, which is linked to "
        "another item (a copy?); it is synced as a separate item",
    )


def pair_by_match_key(free: dict[Side, dict[str, Item]],
                      notices: list[Conflict]) -> list[tuple[Item, Item]]:
    """Pair unlinked items equal by match key (start, end, normalised subject), taking
    them out of ``free``: exact copies first, then in id order; a key shared by several
    items on a side gets a notice."""
    groups: dict[Side, dict[object, list[Item]]] = {_S: defaultdict(list),
                                                    _O: defaultdict(list)}
    for side in (_S, _O):
        for item in free[side].values():
            groups[side][item.event.match_key].append(item)
    pairs: list[tuple[Item, Item]] = []
    for key, s_items in groups[_S].items():
        o_items = groups[_O].get(key)
        if not o_items:
            continue
        matched = _pair_group(s_items, o_items)
        if len(s_items) > 1 or len(o_items) > 1:
            notices.append(
                Conflict(
                    saljstod_id=None,
                    outlook_id=None,
                    kind="ambiguous_match",
                    resolution="paired exact copies first, then by id order",
                    detail=f"{len(s_items)} Säljstöd and {len(o_items)} Outlook items "
                    f"share start, end and subject {s_items[0].event.subject!r}: "
                    + ", ".join(f"{s.id}={o.id}" for s, o in matched),
                )
            )
        for s_item, o_item in matched:
            del free[_S][s_item.id]
            del free[_O][o_item.id]
        pairs.extend(matched)
    return pairs


def _pair_group(s_items: list[Item], o_items: list[Item]) -> list[tuple[Item, Item]]:
    s_left = sorted(s_items, key=lambda item: item.id)
    o_left = sorted(o_items, key=lambda item: item.id)
    pairs = []
    for s_item in list(s_left):
        for o_item in o_left:
            if o_item.event == s_item.event:
                pairs.append((s_item, o_item))
                s_left.remove(s_item)
                o_left.remove(o_item)
                break
    pairs.extend(zip(s_left, o_left, strict=False))
    return pairs
