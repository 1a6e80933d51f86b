"""Quick start: sync a Säljstöd SQLite database with Outlook (a local Graph emulator).

This is the same code path a real installation uses, with two stand-ins: the Säljstöd
database is a SQLite file that the example creates and seeds on first run, and
"Outlook" is outlook_sync's Microsoft Graph emulator, served on 127.0.0.1. Run::

    python examples/quickstart.py            # a fresh folder under the temp dir
    python examples/quickstart.py --data DIR # keep the databases in DIR

It prints what each sync did: the first full sync, then an incremental sync after a
change on each side (an edit in Outlook, a new booking in Säljstöd).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs

from outlook_sync import Side, Synchronizer, SyncReport
from outlook_sync.adapters.graph import GraphCalendar, GraphClient, StaticToken
from outlook_sync.adapters.sql import SqlCalendar, upgrade
from outlook_sync.state.sqlite import SqliteStateStore
from outlook_sync.testing.graph import GraphEmulator

STOCKHOLM = ZoneInfo("Europe/Stockholm")
USER = "anna"

ACTIVITIES = [
    # subject, day offset, hour, minutes, location, booked by
    ("Kundmöte ACME AB", 1, 9, 60, "ACME, Kungsgatan 12", "anna"),
    ("Uppföljningssamtal Nordvik", 1, 13, 30, "", "anna"),
    ("Demo av offert, Bergström & Co", 2, 10, 90, "Teams", "erik"),  # booked by a colleague
    ("Besök Lindqvist Bygg", 3, 8, 120, "Lindqvist Bygg, Uppsala", "anna"),
    ("Säljmöte vecka 49", 4, 15, 45, "Stora rummet", "anna"),
]


def seed(connection: sqlite3.Connection, today: dt.date) -> None:
    """Create the reference schema and a week of activities for Anna (first run only)."""
    upgrade(connection)
    if connection.execute("SELECT COUNT(*) FROM activities").fetchone()[0]:
        return
    for subject, day, hour, minutes, location, booked_by in ACTIVITIES:
        start = dt.datetime.combine(today + dt.timedelta(days=day), dt.time(hour),
                                    tzinfo=STOCKHOLM)
        cursor = connection.execute(
            "INSERT INTO activities (subject, starts_at, ends_at, time_zone, location,"
            " created_by) VALUES (?, ?, ?, ?, ?, ?)",
            (subject, start.isoformat(), (start + dt.timedelta(minutes=minutes)).isoformat(),
             "Europe/Stockholm", location, booked_by),
        )
        connection.execute(
            "INSERT INTO activity_participants (activity_id, user_id) VALUES (?, ?)",
            (cursor.lastrowid, USER),
        )
    connection.commit()


def describe(report: SyncReport) -> str:
    """What a sync changed, in words (the host's own wording; ``str(report)`` has counts)."""
    lines = ["Synced: " + ("ok" if report.ok else "needs attention")]
    if report.linked:
        lines.append(f"  paired {report.linked} existing appointment(s) already on both sides")
    for operation, verb in (("create", "created"), ("update", "updated"), ("delete", "deleted")):
        for side, name in ((Side.SALJSTOD, "Säljstöd"), (Side.OUTLOOK, "Outlook")):
            if report.count(operation, side):
                lines.append(f"  {verb} {report.count(operation, side)} in {name}")
    if report.total_writes == 0 and not report.linked:
        lines.append("  nothing to do: the calendars were already in step")
    lines += [f"  conflict on {', '.join(c.fields) or c.kind}: {c.resolution}"
              for c in report.conflicts]
    lines += [f"  failed {f.operation} {f.item_id}: {f.error}" for f in report.failures]
    if report.last_sync is not None:
        lines.append(f"  last sync: {report.last_sync.astimezone():%Y-%m-%d %H:%M:%S}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder for the SQLite files")
    args = parser.parse_args(argv)
    data = args.data or Path(tempfile.mkdtemp(prefix="outlook-sync-quickstart-"))
    data.mkdir(parents=True, exist_ok=True)
    today = dt.datetime.now(STOCKHOLM).date()

    crm = sqlite3.connect(data / "saljstod.sqlite3")
    seed(crm, today)
    # The emulator starts empty each run, so a kept state file would describe an Outlook
    # that no longer exists: start the link state afresh. The activities keep the
    # Outlook ids of the last run, which now name nothing: they are synced as new.
    (data / "state.sqlite3").unlink(missing_ok=True)
    state = SqliteStateStore(data / "state.sqlite3")
    with GraphEmulator() as graph, GraphClient(graph.base_url, StaticToken("demo")) as client:
        saljstod = SqlCalendar(crm, user=USER)
        outlook = GraphCalendar(client)
        sync = Synchronizer(saljstod=saljstod, outlook=outlook, state=state, user=USER)
        print(f"Säljstöd database: {data / 'saljstod.sqlite3'}")
        print(f"Outlook (Graph emulator): {graph.base_url}\n")

        first = sync.sync()  # the first sync is a full one
        print(describe(first), "\n")

        # Anna moves a meeting in Outlook; Erik books a call on her Säljstöd calendar.
        listing = outlook.list_all()
        moved = next(i for i in listing.items if i.event.subject.startswith("Kundmöte"))
        later = moved.event.start + dt.timedelta(hours=1)
        outlook.update(
            moved.id,
            attrs.evolve(moved.event, start=later,
                         end=moved.event.end + dt.timedelta(hours=1),
                         location="Flyttat: ACME, Kungsgatan 12"),
            expected_version=moved.version,
        )
        seed_call = dt.datetime.combine(today + dt.timedelta(days=2), dt.time(16),
                                        tzinfo=STOCKHOLM)
        cursor = crm.execute(
            "INSERT INTO activities (subject, starts_at, ends_at, time_zone, created_by)"
            " VALUES (?, ?, ?, ?, ?)",
            ("Telefonsamtal Holmgren", seed_call.isoformat(),
             (seed_call + dt.timedelta(minutes=15)).isoformat(), "Europe/Stockholm", "erik"),
        )
        crm.execute("INSERT INTO activity_participants (activity_id, user_id) VALUES (?, ?)",
                    (cursor.lastrowid, USER))
        crm.commit()

        second = sync.sync()
        print(describe(second), "\n")
        third = sync.sync()
        print(f"A third sync finds nothing to do: {third.total_writes} writes.")
        assert sync.last_sync is not None
        print(f"Last sync: {sync.last_sync.astimezone():%Y-%m-%d %H:%M:%S} (local time)")
        ok = first.ok and second.ok and third.ok and third.total_writes == 0
    state.close()
    crm.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
