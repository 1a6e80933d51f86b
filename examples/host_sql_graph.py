"""A host application wiring SQL Säljstöd ⇄ Microsoft Graph for several users.

How the Säljstöd server would set up the sync for its salespeople:

- the CRM database (SQLite here, with outlook_sync's reference schema) holds the
  activities, and **the sync state in the same database**: ``SqlStateStore`` shares the
  CRM connection and ``SqlCalendar(..., commit=False)`` never commits on its own, so an
  activity and its link are committed in one transaction;
- one ``GraphCalendar`` per user (``/users/{mailbox}``), each with its own ``GraphClient``
  (the per-mailbox request limits), and a ``SyncPolicy`` per user;
- an activity Anna books for herself and Bertil reaches both Outlooks, and Bertil moving
  it in his Outlook reaches Anna's;
- "Open in Outlook" on an activity: the link state gives the Outlook id, and the
  calendar's ``open_item`` gives the ``webLink``.

By default "Outlook" is outlook_sync's Graph emulator on 127.0.0.1, so the example runs
anywhere: ``python examples/host_sql_graph.py``. With ``OUTLOOK_SYNC_GRAPH=production``
it signs in with app-only tokens (msal, the ``[graph]`` extra) and syncs the real
mailboxes ``anna@<domain>`` and ``bertil@<domain>`` -- it *creates demo appointments in
them*; see :func:`graph_endpoint` for the variables it reads. It exits with 1 if the sync
did not do what it prints. docs/examples.md walks through it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs

from outlook_sync import (
    ConflictPolicy,
    DeletePolicy,
    Item,
    ItemOpener,
    Synchronizer,
    SyncPolicy,
)
from outlook_sync.adapters.graph import (
    GraphCalendar,
    GraphClient,
    StaticToken,
    TokenProvider,
    client_credentials_provider,
)
from outlook_sync.adapters.sql import SqlCalendar, upgrade
from outlook_sync.state.sql import SqlStateStore
from outlook_sync.testing.graph import GraphEmulator

STOCKHOLM = ZoneInfo("Europe/Stockholm")

#: Each salesperson's sync settings, as the host keeps them per user.
POLICIES = {
    # Anna: the defaults -- field-level merge, deletions travel both ways.
    "anna": SyncPolicy(),
    # Bertil: the CRM wins a conflict, and deleting an appointment in his Outlook only
    # unlinks the activity (it stays in Säljstöd).
    "bertil": SyncPolicy(
        conflict=ConflictPolicy.SALJSTOD_WINS, saljstod_deletions=DeletePolicy.UNLINK
    ),
}


def graph_endpoint(
    stack: contextlib.ExitStack,
) -> tuple[str, TokenProvider, str, GraphEmulator | None]:
    """The Graph root, a token provider, the mailbox domain and the emulator if used.

    Production (``OUTLOOK_SYNC_GRAPH=production``): app-only tokens for a server that syncs
    many mailboxes -- an app registration with the ``Calendars.ReadWrite`` *application*
    permission, admin-consented. Reads ``OUTLOOK_SYNC_TENANT``, ``OUTLOOK_SYNC_CLIENT_ID``,
    ``OUTLOOK_SYNC_CLIENT_SECRET`` and ``OUTLOOK_SYNC_DOMAIN``; the secret is never printed.
    (A desktop host syncing only its own user would rather use delegated sign-in,
    ``device_code_provider(client_id)`` or ``interactive_provider(client_id)``, and
    ``GraphCalendar(client)`` for ``/me``.)

    Otherwise: the Graph emulator, started on a free local port for as long as ``stack``.

    Raises:
        KeyError: a production variable is missing.
    """
    if os.environ.get("OUTLOOK_SYNC_GRAPH") == "production":
        tokens = client_credentials_provider(
            os.environ["OUTLOOK_SYNC_CLIENT_ID"],
            os.environ["OUTLOOK_SYNC_CLIENT_SECRET"],
            tenant=os.environ["OUTLOOK_SYNC_TENANT"],
        )
        domain = os.environ["OUTLOOK_SYNC_DOMAIN"]
        return "https://graph.microsoft.com/v1.0", tokens, domain, None
    emulator = stack.enter_context(GraphEmulator())
    return emulator.base_url, StaticToken("emulator"), "saljstod.example", emulator


def book(
    crm: sqlite3.Connection, subject: str, start: dt.datetime, minutes: int, booked_by: str,
    participants: tuple[str, ...],
) -> str:  # fmt: skip
    """What the CRM does when someone books an activity: the row and whose calendars."""
    row = crm.execute(
        "INSERT INTO activities (subject, starts_at, ends_at, time_zone, created_by)"
        " VALUES (?, ?, ?, 'Europe/Stockholm', ?)",
        (subject, start.isoformat(), (start + dt.timedelta(minutes=minutes)).isoformat(),
         booked_by),
    )  # fmt: skip
    crm.executemany(
        "INSERT INTO activity_participants (activity_id, user_id) VALUES (?, ?)",
        [(row.lastrowid, user) for user in participants],
    )
    crm.commit()
    return str(row.lastrowid)


def main() -> int:
    failures: list[str] = []

    def check(condition: bool, what: str) -> None:
        print(f"  {'ok ' if condition else 'FAILED'} {what}")
        if not condition:
            failures.append(what)

    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory(ignore_cleanup_errors=True))
        crm = sqlite3.connect(Path(folder) / "saljstod.sqlite3", timeout=30)
        stack.callback(crm.close)
        crm.execute("PRAGMA journal_mode=WAL")  # the CRM keeps reading while a sync writes
        upgrade(crm)  # reference schema + the state tables, idempotent
        state = SqlStateStore(crm)  # the sync state lives in the CRM database
        base_url, tokens, domain, emulator = graph_endpoint(stack)
        outlooks: dict[str, GraphCalendar] = {}
        syncs: dict[str, Synchronizer] = {}
        for user, policy in POLICIES.items():
            mailbox = f"{user}@{domain}"
            client = stack.enter_context(GraphClient(base_url, tokens, mailbox=mailbox))
            outlooks[user] = GraphCalendar(client, user=mailbox)
            saljstod = SqlCalendar(crm, user=user, commit=False)  # one transaction per item
            syncs[user] = Synchronizer(
                saljstod=saljstod, outlook=outlooks[user], state=state, user=user, policy=policy
            )
        print(f"CRM database: SQLite, {len(syncs)} users\nGraph: {base_url}\n")

        tomorrow = dt.datetime.now(STOCKHOLM).date() + dt.timedelta(days=1)
        nine = dt.datetime.combine(tomorrow, dt.time(9), tzinfo=STOCKHOLM)
        shared = book(crm, "Kundmöte ACME AB", nine, 60, "anna", ("anna", "bertil"))
        book(crm, "Uppföljning Nordvik", nine.replace(hour=13), 30, "anna", ("anna",))
        book(crm, "Besök Lindqvist Bygg", nine.replace(hour=14), 90, "bertil", ("bertil",))
        print("Booked in Säljstöd: 'Kundmöte ACME AB' for Anna and Bertil, one more each")

        print("\nFirst sync, user by user")
        for user, sync in syncs.items():
            report = sync.sync()
            links = state.link_count(user)
            print(f"  {user}: {report.total_writes} writes, {links} activities linked")
            check(report.ok, f"{user}'s first sync had no problem")
        expected_subjects = {
            "anna": {"Kundmöte ACME AB", "Uppföljning Nordvik"},
            "bertil": {"Kundmöte ACME AB", "Besök Lindqvist Bygg"},
        }
        for user, expected in expected_subjects.items():
            found = {item.event.subject for item in outlooks[user].list_all().items}
            check(found == expected, f"{user}'s Outlook holds {sorted(expected)}")

        [link] = state.links("anna", saljstod_ids=[shared])
        [(stamped,)] = crm.execute(
            "SELECT outlook_id FROM activity_participants WHERE activity_id = ? AND user_id = ?",
            (shared, "anna"),
        ).fetchall()
        check(stamped == link.outlook_id and not crm.in_transaction,
              "activity, partner key and link committed together")  # fmt: skip
        if failures:
            return 1  # what follows builds on the first sync

        print("\nBertil moves the shared meeting an hour later in his Outlook")
        [bertils] = [i for i in outlooks["bertil"].list_all().items
                     if i.event.subject == "Kundmöte ACME AB"]  # fmt: skip
        hour = dt.timedelta(hours=1)
        moved = attrs.evolve(bertils.event, start=bertils.event.start + hour,
                             end=bertils.event.end + hour)  # fmt: skip
        outlooks["bertil"].update(bertils.id, moved, expected_version=bertils.version)
        for user in ("bertil", "anna"):  # Bertil's sync updates the CRM, Anna's her Outlook
            report = syncs[user].sync()
            print(f"  {user}: {report.total_writes} writes")
        [(starts_at,)] = crm.execute(
            "SELECT starts_at FROM activities WHERE id = ?", (shared,)
        ).fetchall()
        local = dt.datetime.fromisoformat(starts_at).astimezone(STOCKHOLM)
        print(f"  the activity in Säljstöd now starts at {local:%H:%M} (Stockholm)")
        annas = outlooks["anna"].get(link.outlook_id)
        at_ten = isinstance(annas, Item) and annas.event.start == nine + hour
        check(at_ten, "Anna's Outlook shows the meeting at 10:00")

        print("\nSync again: nothing to do")
        for user, sync in syncs.items():
            writes = sync.sync().total_writes
            check(writes == 0, f"{user}: {writes} writes")

        print("\nOpen in Outlook (activity 'Kundmöte ACME AB', as Anna)")
        outlook = outlooks["anna"]
        [link] = state.links("anna", saljstod_ids=[shared])  # activity id -> Outlook id
        web_link = outlook.open_item(link.outlook_id) if isinstance(outlook, ItemOpener) else None
        print(f"  {web_link}")
        check(web_link is not None and web_link.startswith("http"), "a webLink to open")
        if emulator is not None:  # the emulator records what Graph would have e-mailed
            check(emulator.sent_mail == [], "nobody was e-mailed")
        state.close()
    print("\nOK" if not failures else f"\n{len(failures)} check(s) failed")
    return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
