"""An in-memory :class:`~outlook_sync.protocols.StateStore`: the reference semantics.

Used by tests and by hosts that keep no state between runs (every run is then a full
sync that re-links by partner keys and content). ``commit`` applies a change entirely
or not at all: it validates first, then mutates.

The lock lives in this process: a holder is alive as long as its ``with`` block runs,
so a held lock never expires (the lease is renewed for as long as it is held); ``ttl``
only matters for a lock taken and never released by a holder that lost track of it.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import cast

import attrs

from outlook_sync._core.series import occurrence_prefix
from outlook_sync.errors import LeaseLostError, StateError, SyncInProgressError
from outlook_sync.model import Cursor, Link, Side
from outlook_sync.protocols import StateChange
from outlook_sync.records import Conflict, DeletedItem, Quarantined, SubscriptionRecord

__all__ = ["MemoryStateStore"]

_at = Link.at_generation


@attrs.define
class _UserState:
    by_saljstod: dict[str, Link] = attrs.Factory(dict)
    by_outlook: dict[str, Link] = attrs.Factory(dict)
    cursors: dict[Side, Cursor] = attrs.Factory(dict)
    last_sync: dt.datetime | None = None
    last_error: tuple[dt.datetime, str] | None = None
    pending: dict[tuple[Side, str], None] = attrs.Factory(dict)
    intents: dict[tuple[Side, str], None] = attrs.Factory(dict)
    conflicts: list[Conflict] = attrs.Factory(list)
    quarantine: dict[tuple[Side, str], Quarantined] = attrs.Factory(dict)
    deleted: dict[tuple[Side, str], DeletedItem] = attrs.Factory(dict)
    identities: dict[Side, str] = attrs.Factory(dict)
    generation: int = 0
    audit: list[tuple[dt.datetime, str]] = attrs.Factory(list)
    subscriptions: dict[str, SubscriptionRecord] = attrs.Factory(dict)


class MemoryStateStore:
    """Keeps every user's sync state in this process's memory."""

    def __init__(self) -> None:
        self._users: dict[str, _UserState] = {}
        #: user -> (owner token, holder description, monotonic expiry)
        self._locks: dict[str, tuple[str, str, float]] = {}
        #: (user, thread) -> the owner token that thread's sync holds (fencing)
        self._held: dict[tuple[str, int], str] = {}
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStateStore(users={len(self._users)})"

    def _user(self, user: str) -> _UserState:
        state = self._users.get(user)
        if state is None:
            state = self._users[user] = _UserState()
        return state

    @contextmanager
    def lock(self, user: str, *, ttl: dt.timedelta) -> Iterator[None]:
        """Hold the user's lock (in this process) for the ``with`` block.

        Raises:
            SyncInProgressError: another holder has the lock.
        """
        token = secrets.token_hex(8)
        holder = f"{socket.gethostname()} pid {os.getpid()} thread {threading.get_ident()}"
        with self._mutex:
            held = self._locks.get(user)
            if held is not None and (held[0] in self._held.values()
                                     or held[2] > time.monotonic()):
                raise SyncInProgressError(f"a sync for {user!r} is already running", user=user)
            self._locks[user] = (token, holder, time.monotonic() + ttl.total_seconds())
            self._held[(user, threading.get_ident())] = token
        try:
            yield
        finally:
            with self._mutex:
                if self._locks.get(user, ("",))[0] == token:
                    del self._locks[user]
                if self._held.get((user, threading.get_ident())) == token:
                    del self._held[(user, threading.get_ident())]

    def lock_holder(self, user: str) -> tuple[str, dt.datetime] | None:
        """Who holds the user's lock; a held lock is reported as lasting ``ttl`` from now."""
        with self._mutex:
            held = self._locks.get(user)
        if held is None:
            return None
        remaining = max(held[2] - time.monotonic(), 0.0)
        return held[1], dt.datetime.now(dt.UTC) + dt.timedelta(seconds=remaining)

    def break_lock(self, user: str) -> None:
        """Drop the user's lock as if its holder had died and its lease had run out
        (tests of fencing: the old holder's next commit raises ``LeaseLostError``)."""
        with self._mutex:
            self._locks.pop(user, None)

    def _fence(self, user: str) -> None:
        token = self._held.get((user, threading.get_ident()))
        if token is None:
            return
        held = self._locks.get(user)
        if held is None or held[0] != token:
            raise LeaseLostError(
                f"the sync lock for {user!r} was lost; this sync commits nothing more",
                user=user)

    def links(
        self,
        user: str,
        *,
        saljstod_ids: Iterable[str] | None = None,
        outlook_ids: Iterable[str] | None = None,
    ) -> list[Link]:
        """Links touching the given ids, or every link when both are ``None``."""
        state = self._user(user)
        if saljstod_ids is None and outlook_ids is None:
            return list(state.by_saljstod.values())
        found: dict[tuple[str, str], Link] = {}
        for item_id in saljstod_ids or ():
            link = state.by_saljstod.get(item_id)
            if link is not None:
                found[(link.saljstod_id, link.outlook_id)] = link
        for item_id in outlook_ids or ():
            link = state.by_outlook.get(item_id)
            if link is not None:
                found[(link.saljstod_id, link.outlook_id)] = link
        return list(found.values())

    def occurrence_links(self, user: str, side: Side, series_ids: Iterable[str]) -> list[Link]:
        """Links whose ``side`` id is an occurrence of one of ``series_ids``."""
        prefixes = tuple(occurrence_prefix(series_id) for series_id in set(series_ids))
        if not prefixes:
            return []
        state = self._user(user)
        index = state.by_outlook if side is Side.OUTLOOK else state.by_saljstod
        return [link for item_id, link in index.items() if item_id.startswith(prefixes)]

    def link_count(self, user: str) -> int:
        return len(self._user(user).by_saljstod)

    def cursor(self, user: str, side: Side) -> Cursor:
        return self._user(user).cursors.get(side, Cursor())

    def last_sync(self, user: str) -> dt.datetime | None:
        return self._user(user).last_sync

    def last_error(self, user: str) -> tuple[dt.datetime, str] | None:
        return self._user(user).last_error

    def pending(self, user: str) -> list[tuple[Side, str]]:
        return list(self._user(user).pending)

    def intents(self, user: str) -> list[tuple[Side, str]]:
        return list(self._user(user).intents)

    def conflicts(self, user: str) -> list[Conflict]:
        return list(self._user(user).conflicts)

    def clear_conflicts(self, user: str) -> None:
        state = self._user(user)
        count = len(state.conflicts)
        state.conflicts.clear()
        state.audit.append((dt.datetime.now(dt.UTC), f"cleared {count} conflict(s)"))

    def audit(self, user: str) -> list[tuple[dt.datetime, str]]:
        return list(self._user(user).audit)

    def identity(self, user: str, side: Side) -> str | None:
        return self._user(user).identities.get(side)

    def generation(self, user: str) -> int:
        return self._user(user).generation

    # -- subscriptions (SubscriptionStore) --------------------------------------------

    def subscriptions(self, user: str) -> list[SubscriptionRecord]:
        return list(self._user(user).subscriptions.values())

    def save_subscription(self, user: str, record: SubscriptionRecord) -> None:
        with self._mutex:
            for other, state in self._users.items():
                if other != user:
                    state.subscriptions.pop(record.subscription_id, None)
            self._user(user).subscriptions[record.subscription_id] = record

    def drop_subscription(self, user: str, subscription_id: str) -> None:
        self._user(user).subscriptions.pop(subscription_id, None)

    def find_subscription(self, subscription_id: str) -> tuple[str, SubscriptionRecord] | None:
        with self._mutex:
            for user, state in self._users.items():
                record = state.subscriptions.get(subscription_id)
                if record is not None:
                    return user, record
        return None

    def quarantine(self, user: str) -> list[Quarantined]:
        return list(self._user(user).quarantine.values())

    def deleted_items(self, user: str) -> list[DeletedItem]:
        return list(self._user(user).deleted.values())

    def forget_deleted(self, user: str, side: Side, item_id: str) -> None:
        self._user(user).deleted.pop((side, item_id), None)

    def expire_deleted(self, user: str, before: dt.datetime) -> int:
        deleted = self._user(user).deleted
        old = [key for key, entry in deleted.items() if entry.deleted_at < before]
        for key in old:
            del deleted[key]
        return len(old)

    def commit(self, user: str, change: StateChange) -> None:
        """Apply ``change`` atomically.

        Raises:
            StateError: the change would give an item two links; nothing was changed.
        """
        with self._mutex:
            self._fence(user)
        state = self._user(user)
        by_s, by_o = state.by_saljstod, state.by_outlook
        if change.drop_all_links:
            by_s, by_o = {}, {}
        # Validate against an overlay of just the ids this change touches, then apply:
        # a commit costs what it changes, not the size of the link table.
        s_new: dict[str, Link | None] = {}
        o_new: dict[str, Link | None] = {}
        for s_id, o_id in change.drop_links:
            link = s_new[s_id] if s_id in s_new else by_s.get(s_id)
            if link is not None and link.outlook_id == o_id:
                s_new[s_id] = None
                o_new[o_id] = None
        generation = state.generation + 1 if change.put_links else state.generation
        # a link that carries the commit's generation already is the link to keep
        stamped = [link if link.generation == generation else _at(link, generation)
                   for link in change.put_links]
        if not s_new and len(stamped) > 1:
            # Nothing dropped: the common case of many new links is checked at once;
            # ids put twice, or already linked, take the one-by-one overlay below.
            s_put = {link.saljstod_id: link for link in stamped}
            o_put = {link.outlook_id: link for link in stamped}
            if (len(s_put) == len(o_put) == len(stamped)
                    and by_s.keys().isdisjoint(s_put) and by_o.keys().isdisjoint(o_put)):
                s_new, o_new = cast("dict[str, Link | None]", s_put), cast(
                    "dict[str, Link | None]", o_put)
                stamped = []  # checked: each id once, none linked yet
        for link in stamped:
            s_id, o_id = link.saljstod_id, link.outlook_id
            old = s_new[s_id] if s_id in s_new else by_s.get(s_id)
            if old is not None and old.outlook_id != o_id:
                raise StateError(f"Säljstöd item {s_id} is already linked")
            other = o_new[o_id] if o_id in o_new else by_o.get(o_id)
            if other is not None and other.saljstod_id != s_id:
                raise StateError(f"Outlook item {o_id} is already linked")
            s_new[s_id] = link
            o_new[o_id] = link
        if change.drop_all_links:
            state.by_saljstod, state.by_outlook = by_s, by_o
        state.generation = generation
        for table, overlay in ((by_s, s_new), (by_o, o_new)):
            if not change.drop_links:
                table.update(cast("dict[str, Link]", overlay))  # only puts: no None
                continue
            for item_id, value in overlay.items():
                if value is None:
                    table.pop(item_id, None)
                else:
                    table[item_id] = value
        for key in change.clear_pending:
            state.pending.pop(key, None)
        for key in change.add_pending:
            state.pending[key] = None
        for key in change.clear_intents:
            state.intents.pop(key, None)
        state.intents.update(dict.fromkeys(change.add_intents))
        for withdrawn in change.withdraw_conflicts:
            for index in range(len(state.conflicts) - 1, -1, -1):
                if state.conflicts[index] == withdrawn:
                    del state.conflicts[index]
                    break
        # a conflict written ahead of a write that failed is planned again, the same:
        # it is logged once
        state.conflicts.extend(c for c in dict.fromkeys(change.conflicts)
                               if c not in state.conflicts)
        for key in change.withdraw_deleted:
            state.deleted.pop(key, None)
        for deleted in change.deleted:
            state.deleted[(deleted.side, deleted.item_id)] = deleted
        for key in change.unquarantine:
            state.quarantine.pop(key, None)
        for entry in change.quarantine:
            state.quarantine[(entry.side, entry.item_id)] = entry
        for side, cursor in change.cursors:
            state.cursors[side] = cursor
        for side, identity in change.identities:
            state.identities[side] = identity
        if change.clear_last_sync:
            state.last_sync = None
        if change.last_sync is not None:
            state.last_sync = change.last_sync
        if change.clear_last_error:
            state.last_error = None
        if change.last_error is not None:
            state.last_error = change.last_error
