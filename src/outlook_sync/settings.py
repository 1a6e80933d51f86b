"""Per-user settings: what the host's "Personal settings – Outlook connection" dialog binds to.

The dialog shows the date and time of the last sync and lets the user enter another date
(the next sync processes every item from, and including, it), clear it with **Full sync
now**, switch the connection on or off, choose the conflict and deletion policies, what
syncs (filter, per-field directions) and which Outlook calendar to use. **F7 – Save**
stores the settings and runs a sync right away.

:class:`ConnectionSettings` is the saved value (JSON-able through ``to_dict`` /
``from_dict``); a :class:`SettingsStore` keeps it per user (:class:`JsonSettingsFiles`:
one small file per user; :class:`MemorySettingsStore`; or the host's own two-method
class). :class:`OutlookConnection` is the dialog's model for one user.

Switching the Outlook calendar
------------------------------
The links name items of the old calendar. A sync against the new calendar with those
links would find every linked item "gone" and delete its Säljstöd partner, so a switch
first *forgets the old calendar* -- under the user's sync lock, in one atomic state
commit: every link is dropped, both cursors and the last sync date are cleared, and the
Outlook-side retries, create intents and quarantine entries (which name old-calendar
items) are cleared. Nothing is written to either calendar by that step. The full sync
that follows then treats both calendars as never synced before, which is the path the
first sync takes, and which never duplicates:

- a Säljstöd activity whose partner key names an old-calendar item finds no such item
  in the new calendar; it is linked to a matching item of the new calendar (same start,
  end and subject, or an item that carries the activity's id as partner key -- the new
  calendar was used before), or copied into it, and its partner key is re-stamped;
- nothing in Säljstöd is deleted (no link, no deletion) and the old calendar is not
  touched at all: its items stay as they were;
- switching back later re-links the old calendar's items by the partner keys they carry.

The switch is crash-safe: the chosen calendar is saved first together with the calendar
the links belong to (``linked_calendar``); the latter is updated only once the links are
dropped. A host that restarts after a crash in between builds its synchronizer with the
chosen calendar, and :class:`OutlookConnection` finishes the switch when created.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import hashlib
import json
import logging
import os
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

from outlook_sync.errors import ConfigurationError, InvalidEventError, SyncInProgressError
from outlook_sync.model import Side, check_aware
from outlook_sync.occasions import Occasion, SyncOccasions
from outlook_sync.policy import DeletePolicy, SyncPolicy
from outlook_sync.protocols import Calendar, StateChange
from outlook_sync.records import ConflictPolicy
from outlook_sync.report import SyncReport
from outlook_sync.scope import Direction, SyncFilter, directions_from

if TYPE_CHECKING:
    from outlook_sync.engine import Synchronizer
    from outlook_sync.status import StatusBoard
    from outlook_sync.watch import Watcher

__all__ = [
    "KEEP",
    "ConnectionSettings",
    "JsonSettingsFiles",
    "MemorySettingsStore",
    "OutlookConnection",
    "SettingsStore",
    "load_settings",
]

log = logging.getLogger("outlook_sync.settings")

_S, _O = Side.SALJSTOD, Side.OUTLOOK

#: The version of the stored record's layout.
FORMAT = 1


class _Keep(enum.Enum):
    KEEP = "keep"


#: ``OutlookConnection.save(..., sync_from=KEEP)``: leave the last sync date as it is.
KEEP = _Keep.KEEP


def _enum_value(kind: type[enum.Enum], key: str, value: object) -> Any:
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in kind)
        raise ConfigurationError(f"{key}: {value!r} is not one of {allowed}", key=key) from None


def _conflict(value: object) -> ConflictPolicy:
    converted: ConflictPolicy = _enum_value(ConflictPolicy, "conflict", value)
    return converted


def _fallback(value: object) -> ConflictPolicy:
    converted: ConflictPolicy = _enum_value(ConflictPolicy, "merge_fallback", value)
    return converted


def _deletions(value: object) -> DeletePolicy:
    converted: DeletePolicy = _enum_value(DeletePolicy, "deletions", value)
    return converted


def _calendar_id(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(
            "outlook_calendar must be a non-empty str, or None for the default calendar",
            key="outlook_calendar",
        )


def _bool(_inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{attr.name} must be true or false", key=attr.name)


def _filter(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, SyncFilter):
        raise ConfigurationError("filter must be a SyncFilter", key="filter")


@attrs.frozen(kw_only=True)
class ConnectionSettings:
    """One user's saved *Outlook connection* settings.

    Attributes:
        enabled: the connection is on; off, no sync runs for the user.
        outlook_calendar: the Outlook calendar chosen (the host's identifier for it: a
            Graph calendar id, a folder's EntryID, ...); ``None`` is the default one.
        conflict, merge_fallback: the conflict policy (see
            :class:`~outlook_sync.policy.SyncPolicy`).
        saljstod_deletions, outlook_deletions: what happens on that side when the
            partner was deleted on the other.
        filter: which activities sync (:class:`~outlook_sync.scope.SyncFilter`).
        directions: per field unit, which way changes travel.

    Raises:
        ConfigurationError: a value of the wrong kind, or a policy the engine refuses.
    """

    enabled: bool = attrs.field(default=True, validator=_bool)
    outlook_calendar: str | None = attrs.field(default=None, validator=_calendar_id)
    conflict: ConflictPolicy = attrs.field(default=ConflictPolicy.MERGE, converter=_conflict)
    merge_fallback: ConflictPolicy = attrs.field(
        default=ConflictPolicy.NEWEST_WINS,
        converter=_fallback,
    )
    saljstod_deletions: DeletePolicy = attrs.field(
        default=DeletePolicy.DELETE, converter=_deletions
    )
    outlook_deletions: DeletePolicy = attrs.field(default=DeletePolicy.DELETE, converter=_deletions)
    filter: SyncFilter = attrs.field(factory=SyncFilter, validator=_filter)
    directions: tuple[tuple[str, Direction], ...] = attrs.field(
        default=(), converter=directions_from
    )

    def __attrs_post_init__(self) -> None:
        self.apply(SyncPolicy())  # the engine's own validation of the combination

    def apply(self, policy: SyncPolicy) -> SyncPolicy:
        """``policy`` with the user's choices; the host's guards and timings are kept.

        Raises:
            ConfigurationError: the combination is refused (e.g. a merge fallback
                that is not one side or the newest).
        """
        return attrs.evolve(
            policy,
            conflict=self.conflict,
            merge_fallback=self.merge_fallback,
            saljstod_deletions=self.saljstod_deletions,
            outlook_deletions=self.outlook_deletions,
            filter=self.filter,
            directions=self.directions,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the inverse of :meth:`from_dict`)."""
        flt = self.filter
        return {
            "enabled": self.enabled,
            "outlook_calendar": self.outlook_calendar,
            "conflict": self.conflict.value,
            "merge_fallback": self.merge_fallback.value,
            "saljstod_deletions": self.saljstod_deletions.value,
            "outlook_deletions": self.outlook_deletions.value,
            "filter": {
                "categories": sorted(flt.categories),
                "exclude_categories": sorted(flt.exclude_categories),
                "include_private": flt.include_private,
                "start_from": _iso(flt.start_from),
                "start_until": _iso(flt.start_until),
            },
            "directions": {unit: direction.value for unit, direction in self.directions},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConnectionSettings:
        """Settings from :meth:`to_dict`'s form; missing keys take their defaults.

        Raises:
            ConfigurationError: a value is missing its right kind or out of range.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError("settings must be a JSON object", key="settings")
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            log.info("ignoring unknown settings %s (written by a newer version?)", unknown)
        values = {key: data[key] for key in known if key in data and key != "filter"}
        if "filter" in data:
            values["filter"] = _filter_from(data["filter"])
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigurationError):
                raise
            raise ConfigurationError(f"settings: {exc}", key="settings") from exc


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _when(key: str, value: object) -> dt.datetime | dt.date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{key} must be an ISO date or datetime", key=key)
    try:
        if "T" in value:
            return check_aware(key, dt.datetime.fromisoformat(value))
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigurationError(f"{key}: {exc}", key=key) from exc


def _filter_from(data: object) -> SyncFilter:
    if not isinstance(data, Mapping):
        raise ConfigurationError("filter must be a JSON object", key="filter")
    values: dict[str, Any] = {}
    for key in ("categories", "exclude_categories"):
        if key in data:
            names = data[key]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ConfigurationError(
                    f"filter.{key} must be a list of names", key=f"filter.{key}"
                )
            values[key] = names
    if "include_private" in data:
        if not isinstance(data["include_private"], bool):
            raise ConfigurationError(
                "filter.include_private must be true or false", key="filter.include_private"
            )
        values["include_private"] = data["include_private"]
    for key in ("start_from", "start_until"):
        if key in data:
            values[key] = _when(f"filter.{key}", data[key])
    return SyncFilter(**values)


# -- where settings are kept ----------------------------------------------------------


class SettingsStore(Protocol):
    """Keeps one small JSON-able record per user (a host may store it anywhere)."""

    def load(self, user: str) -> Mapping[str, Any] | None:
        """The user's record, or ``None`` if none was saved.

        Raises:
            ConfigurationError: the stored record cannot be read.
        """
        ...

    def save(self, user: str, record: Mapping[str, Any]) -> None:
        """Replace the user's record (atomically: the old or the new one survives)."""
        ...


class MemorySettingsStore:
    """Settings in this process's memory (tests, hosts that keep their own)."""

    def __init__(self) -> None:
        self._records: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"MemorySettingsStore(users={len(self._records)})"

    def load(self, user: str) -> Mapping[str, Any] | None:
        text = self._records.get(user)
        loaded: Mapping[str, Any] | None = json.loads(text) if text is not None else None
        return loaded

    def save(self, user: str, record: Mapping[str, Any]) -> None:
        self._records[user] = json.dumps(record, sort_keys=True)  # proves it is JSON-able


class JsonSettingsFiles:
    """One JSON file per user in ``directory`` (created if missing).

    File names are the user name percent-encoded plus a short hash of it, so any user
    name is a safe name, and names that differ only in case do not share a file on a
    case-insensitive file system. Writes go to a temporary file that replaces the old
    one, so a crash leaves the old or the new settings, never half of them.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"JsonSettingsFiles({str(self.directory)!r})"

    def path(self, user: str) -> Path:
        """The file that holds ``user``'s settings."""
        digest = hashlib.sha256(user.encode("utf-8")).hexdigest()[:10]
        return self.directory / f"{urllib.parse.quote(user, safe='')[:80]}-{digest}.json"

    def load(self, user: str) -> Mapping[str, Any] | None:
        """The user's record, or ``None``.

        Raises:
            ConfigurationError: the file is not a JSON object.
        """
        path = self.path(user)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(
                f"{path.name} is not valid JSON: {exc}", key="settings"
            ) from exc
        if not isinstance(record, dict):
            raise ConfigurationError(f"{path.name} does not hold a JSON object", key="settings")
        return record

    def save(self, user: str, record: Mapping[str, Any]) -> None:
        """Write the user's record atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(user)
        text = json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".settings-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


@attrs.frozen(kw_only=True)
class _Record:
    settings: ConnectionSettings
    #: the calendar the links belong to; differs from the chosen one only while a
    #: switch is under way (or was interrupted).
    linked_calendar: str | None

    @classmethod
    def load(cls, store: SettingsStore, user: str) -> _Record:
        data = store.load(user)
        if data is None:
            return cls(settings=ConnectionSettings(), linked_calendar=None)
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ConfigurationError(
                f"the stored settings of {user!r} have an unknown format", key="settings"
            )
        settings = ConnectionSettings.from_dict(data.get("settings", {}))
        linked = data.get("linked_calendar", settings.outlook_calendar)
        if linked is not None and not isinstance(linked, str):
            raise ConfigurationError("linked_calendar must be a str or null", key="settings")
        return cls(settings=settings, linked_calendar=linked)

    def dump(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "settings": self.settings.to_dict(),
            "linked_calendar": self.linked_calendar,
        }


def load_settings(store: SettingsStore, user: str) -> ConnectionSettings:
    """The user's saved settings (defaults if none), e.g. to open the chosen calendar.

    Raises:
        ConfigurationError: the stored settings cannot be read.
    """
    return _Record.load(store, user).settings


# -- the dialog's model ------------------------------------------------------------------


class OutlookConnection:
    """One user's *Outlook connection* settings: read, change, save and sync.

    Creating it applies the saved settings to the synchronizer's policy, pauses the
    watcher if the connection is off, and finishes a calendar switch that a crash
    interrupted (the host must have built the synchronizer with the calendar that
    :func:`load_settings` names).

    Args:
        synchronizer: the user's synchronizer.
        store: where the settings are kept.
        open_outlook: opens the Outlook calendar with the given identifier (``None``:
            the default calendar); needed to switch calendars.
        watcher: the user's direct-sync watcher, if the host runs one; saving then
            pauses it while the state changes and asks it for the sync.
        status: a status board to record the syncs this object runs itself.
        occasions: whether saving syncs (``on_settings_saved``); by default the
            watcher's, else :class:`~outlook_sync.occasions.SyncOccasions` defaults.
        lock_wait: seconds to wait for a running sync to finish before saving gives up.

    Raises:
        ConfigurationError: the stored settings cannot be read.
        SyncInProgressError: an interrupted switch needs the lock and another sync
            holds it past ``lock_wait``.
    """

    def __init__(
        self,
        synchronizer: Synchronizer,
        *,
        store: SettingsStore,
        open_outlook: Callable[[str | None], Calendar] | None = None,
        watcher: Watcher | None = None,
        status: StatusBoard | None = None,
        occasions: SyncOccasions | None = None,
        lock_wait: float = 30.0,
    ) -> None:
        self.synchronizer = synchronizer
        self.store = store
        self.open_outlook = open_outlook
        self.watcher = watcher
        self.status = status
        self.occasions = occasions or (watcher.occasions if watcher else SyncOccasions())
        self.lock_wait = lock_wait
        record = _Record.load(store, synchronizer.user)
        self._settings = record.settings
        self._linked = record.linked_calendar
        synchronizer.policy = self._settings.apply(synchronizer.policy)
        if self._linked != self._settings.outlook_calendar:
            log.warning(
                "finishing the switch to another Outlook calendar for %s", synchronizer.user
            )
            with self._locked():
                self._forget_old_calendar()
            self._persist(linked=self._settings.outlook_calendar)
        if watcher is not None and not self._settings.enabled:
            watcher.pause()

    def __repr__(self) -> str:
        return f"OutlookConnection(user={self.synchronizer.user!r}, enabled={self.enabled})"

    # -- what the dialog shows ----------------------------------------------------------

    @property
    def settings(self) -> ConnectionSettings:
        """The saved settings."""
        return self._settings

    @property
    def enabled(self) -> bool:
        """Whether the connection is on."""
        return self._settings.enabled

    @property
    def last_sync(self) -> dt.datetime | None:
        """The date and time of the last sync; ``None``: the next sync is a full one."""
        return self.synchronizer.last_sync

    # -- what the dialog does ----------------------------------------------------------

    def save(
        self,
        settings: ConnectionSettings,
        *,
        sync_from: dt.datetime | dt.date | Literal[_Keep.KEEP] | None = KEEP,
        wait: bool = True,
    ) -> SyncReport | None:
        """Store ``settings`` and apply them; then sync right away (F7 – Save).

        Args:
            settings: the dialog's values.
            sync_from: the date the user entered (the next sync processes every item
                from, and including, it): an aware datetime, or a date (local midnight);
                ``None`` clears it (*Full sync now*); :data:`KEEP` leaves it alone. A
                switched calendar or a changed filter always makes the next sync a full one.
            wait: wait for the sync and return its report; else only start it (with a
                watcher) and return ``None``.

        Returns:
            The sync's report, or ``None`` when no sync ran (the connection is off, the
            host turned the occasion off, or ``wait`` is false).

        Raises:
            ConfigurationError: a calendar switch without ``open_outlook``, or bad input.
            ConfigurationError: ``sync_from`` is a naive datetime, in the future, or
                not a date (``key="sync_from"``; one error type for every bad form).
            BackendError: the new Outlook calendar could not be opened (nothing changed).
            SyncInProgressError: another sync held the lock past ``lock_wait``: the
                settings are stored and the policies apply, but the date and the
                calendar switch are not applied yet (save again).
        """
        if not isinstance(settings, ConnectionSettings):
            raise ConfigurationError("save() takes ConnectionSettings", key="settings")
        if isinstance(sync_from, dt.date) and not isinstance(sync_from, dt.datetime):
            sync_from = dt.datetime.combine(sync_from, dt.time()).astimezone()  # local midnight
        if isinstance(sync_from, dt.datetime):
            try:
                self.synchronizer.check_last_sync(sync_from, field="sync_from")
            except InvalidEventError as exc:
                raise ConfigurationError(f"sync_from: {exc}", key="sync_from") from exc
        elif sync_from is not None and sync_from is not KEEP:
            raise ConfigurationError(
                "sync_from must be a date, an aware datetime, None or KEEP", key="sync_from"
            )
        sync = self.synchronizer
        switching = settings.outlook_calendar != self._linked
        calendar: Calendar | None = None
        if switching:
            if self.open_outlook is None:
                raise ConfigurationError(
                    "switching the Outlook calendar needs open_outlook", key="outlook_calendar"
                )
            calendar = self.open_outlook(settings.outlook_calendar)
        full = sync_from is None or switching or settings.filter != self._settings.filter
        sync.policy = settings.apply(sync.policy)
        self._settings = settings
        self._persist(linked=self._linked)  # the choice survives a crash from here on
        if self.watcher is not None:
            self.watcher.pause(timeout=self.lock_wait)
        try:
            with self._locked():
                if calendar is not None:
                    self._forget_old_calendar()
                    sync.outlook = calendar
                elif full:
                    sync.state.commit(sync.user, StateChange.restart_from(None))
                elif isinstance(sync_from, dt.datetime):
                    # what Synchronizer.set_last_sync commits; the lock is held already
                    when = check_aware("sync_from", sync_from)
                    sync.state.commit(sync.user, StateChange.restart_from(when))
            if calendar is not None:
                self._persist(linked=settings.outlook_calendar)
        finally:
            if self.watcher is not None and settings.enabled:
                self.watcher.resume()
        if not settings.enabled or not self.occasions.on_settings_saved:
            return None
        return self._sync(wait)

    def full_sync_now(self, *, wait: bool = True) -> SyncReport | None:
        """*Full sync now*: clear the last sync date and sync (see :meth:`save`)."""
        return self.save(self._settings, sync_from=None, wait=wait)

    def set_enabled(self, enabled: bool, *, wait: bool = True) -> SyncReport | None:
        """Switch the connection on or off and save (see :meth:`save`)."""
        return self.save(attrs.evolve(self._settings, enabled=enabled), wait=wait)

    # -- internals ---------------------------------------------------------------------

    def _sync(self, wait: bool) -> SyncReport | None:
        watcher = self.watcher
        if watcher is not None and watcher.running:
            if wait:
                return watcher.sync_now(Occasion.SETTINGS_SAVED)
            watcher.request(Occasion.SETTINGS_SAVED)
            return None
        if self.status is not None:
            return self.status.sync()
        return self.synchronizer.sync()

    def _persist(self, *, linked: str | None) -> None:
        self._linked = linked
        record = _Record(settings=self._settings, linked_calendar=linked)
        self.store.save(self.synchronizer.user, record.dump())

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the user's sync lock, waiting up to ``lock_wait`` for a running sync."""
        sync = self.synchronizer
        deadline = time.monotonic() + self.lock_wait
        with contextlib.ExitStack() as stack:
            while True:
                try:
                    stack.enter_context(sync.state.lock(sync.user, ttl=sync.policy.lock_ttl))
                    break
                except SyncInProgressError:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.05)
            yield

    def _forget_old_calendar(self) -> None:
        """Drop what names the old Outlook calendar's items; see the module docstring."""
        sync = self.synchronizer
        state, user = sync.state, sync.user
        links = state.links(user)
        state.commit(
            user,
            attrs.evolve(
                StateChange.restart_from(None),  # the next sync is a full one
                drop_links=tuple((link.saljstod_id, link.outlook_id) for link in links),
                clear_pending=tuple(key for key in state.pending(user) if key[0] is _O),
                clear_intents=tuple(state.intents(user)),
                unquarantine=tuple(
                    (q.side, q.item_id) for q in state.quarantine(user) if q.side is _O
                ),
            ),
        )
        log.info("forgot %d links to the old Outlook calendar of %s", len(links), user)
