"""The SQL Säljstöd adapter runs the Calendar contract suite on SQLite and on PostgreSQL.

Each calendar of the factory is another user of one database (the reference schema);
an item "made by the user" is an activity the host application books with plain SQL.
"""

from __future__ import annotations

import itertools

import pytest

from outlook_sync.adapters.sql import SqlCalendar, upgrade
from outlook_sync.model import Event
from outlook_sync.testing.contract import Backend, BackendFactory, CalendarContract, Capabilities
from tests.conftest import Host, SqlDatabase


class TestSqlCalendar(CalendarContract):
    capabilities = Capabilities(series=False, bulk_writer=True, identified=True,
                                item_restorer=True)  # fmt: skip
    @pytest.fixture
    def make_backend(self, sql_db: SqlDatabase, request: pytest.FixtureRequest) -> BackendFactory:
        upgrade(sql_db.connect())
        host = Host(sql_db)
        secrets: tuple[str, ...] = ()
        if sql_db.name == "postgresql":
            from psycopg.conninfo import conninfo_to_dict

            password = conninfo_to_dict(request.getfixturevalue("pg_dsn")).get("password")
            secrets = (str(password),) if password else ()
        users = (f"user{n}" for n in itertools.count(1))

        def make() -> Backend:
            user = next(users)

            def add_unlinked(event: Event) -> str:
                assert not event.all_day
                return host.book(event.subject, event.start, event.end,  # type: ignore[arg-type]
                                 users=(user,))  # fmt: skip

            return Backend(
                calendar=SqlCalendar(sql_db.connect(), user=user),
                add_unlinked=add_unlinked,
                secrets=secrets,
                unknown_id="987654321",
            )

        return make
