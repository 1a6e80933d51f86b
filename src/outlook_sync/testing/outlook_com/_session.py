"""One connection to the fake Outlook process, and the ``TimeZone`` objects it hands out.

Every COM object of the fake holds a :class:`Session` and calls :meth:`Session.tick` on each
member access: that is where Outlook having quit (RPC_S_SERVER_UNAVAILABLE), restarted
(RPC_E_DISCONNECTED: objects from before a restart stay dead) and the planned faults come
from.

``Application.TimeZones`` holds the zones Windows knows by their Windows names
("W. Europe Standard Time"); ``CurrentTimeZone`` is the zone of Windows itself.
https://learn.microsoft.com/en-us/office/vba/api/outlook.timezones
"""

from __future__ import annotations

from outlook_sync.testing.outlook_com._errors import (
    disconnected,
    invalid_argument,
    server_unavailable,
)
from outlook_sync.testing.outlook_com._process import Process
from outlook_sync.timezones import UnknownTimeZoneError, windows_to_iana

__all__ = ["Session", "TimeZone", "TimeZones"]


class Session:
    """One connection to the fake Outlook process (dies when Outlook quits)."""

    def __init__(self, outlook: Process, generation: int) -> None:
        self.outlook = outlook
        self.generation = generation

    def tick(self, member: str, entry_id: str | None = None) -> None:
        """Account for one COM call; raise what Outlook would raise right now."""
        outlook = self.outlook
        if not outlook.running:
            raise server_unavailable()
        if self.generation != outlook.generation:
            raise disconnected()
        outlook.before_call(member, entry_id)


class TimeZone:
    """``TimeZone``: ``ID`` is the Windows zone name ("W. Europe Standard Time")."""

    def __init__(self, session: Session, zone_id: str) -> None:
        self._session = session
        self.ID = zone_id
        self.Name = zone_id


class TimeZones:
    """``Application.TimeZones``: ``CurrentTimeZone`` and ``Item(ID)``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def CurrentTimeZone(self) -> TimeZone:
        self._session.tick("TimeZones.CurrentTimeZone")
        return TimeZone(self._session, self._session.outlook.time_zone)

    def Item(self, Index: str) -> TimeZone:
        self._session.tick("TimeZones.Item")
        try:
            windows_to_iana(Index)
        except UnknownTimeZoneError:
            raise invalid_argument(f"Unknown time zone {Index!r}.") from None
        return TimeZone(self._session, Index)
