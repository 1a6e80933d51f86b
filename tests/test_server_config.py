"""Server mode without servers: the [server] configuration, `init --server`, the
notification endpoint's decisions, the operator page's escaping and /metrics text."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_extra

require_extra("server", "procrastinate")

from outlook_sync.errors import ConfigurationError  # noqa: E402
from outlook_sync.records import SubscriptionRecord  # noqa: E402
from outlook_sync.server.config import parse_server_config  # noqa: E402
from outlook_sync.server.ledger import Account, AccountState  # noqa: E402
from outlook_sync.server.notify import decide  # noqa: E402
from outlook_sync.server.pages import metrics_text, overview_page  # noqa: E402
from outlook_sync.server.template import SERVER_EXAMPLE  # noqa: E402
from outlook_sync.state.memory import MemoryStateStore  # noqa: E402


def _doc(**server: Any) -> dict[str, Any]:
    return {
        "saljstod": {"backend": "sql", "database": "postgresql", "dsn_env": "CRM_DSN"},
        "outlook": {"backend": "graph", "tenant_id": "t", "client_id": "c",
                    "client_secret_env": "GRAPH_SECRET"},
        "state": {"backend": "postgresql", "dsn_env": "STATE_DSN"},
        "server": server,
    }


def _error(doc: dict[str, Any]) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        parse_server_config(doc, path=Path("/etc/outlook-sync/outlook-sync.toml"))
    return caught.value


def test_the_example_written_by_init_server_is_valid_and_commented() -> None:
    config = parse_server_config(tomllib.loads(SERVER_EXAMPLE), path=Path("/x/o.toml"))
    assert config.concurrency == 4
    assert config.polling_interval == 1.0
    assert config.sync_interval == 15 * 60
    assert config.users.query() == (
        'SELECT "user_id", "mailbox" FROM "saljstod_users" WHERE "outlook_enabled" ORDER BY 1'
    )
    assert "Calendars.ReadWrite" in SERVER_EXAMPLE
    assert "application access policy" in SERVER_EXAMPLE


def test_defaults_take_the_queue_from_the_state_database() -> None:
    config = parse_server_config(_doc())
    assert config.queue_dsn_env == "STATE_DSN"
    assert config.operator_token_env is None  # operator page closed unless configured
    assert config.queue_dsn({"STATE_DSN": "host=db"}).reveal() == "host=db"
    assert "host=db" not in repr(config.queue_dsn({"STATE_DSN": "host=db"}))


@pytest.mark.parametrize(
    ("doc_change", "key", "words"),
    [
        ({"server": {"concurrencyy": 2}}, "server.concurrencyy", "did you mean 'concurrency'"),
        ({"server": {"concurrency": 0}}, "server.concurrency", "must be > 0"),
        ({"server": {"concurrency": "4"}}, "server.concurrency", "must be an integer"),
        ({"server": {"listen": "8080"}}, "server.listen", "host:port"),
        ({"server": {"public_url": "http://sync.example.com/n"}}, "server.public_url", "https"),
        ({"server": {"subscription_minutes": 20_000}}, "server.subscription_minutes",
         "at most 10080"),
        ({"server": {"operator_token": "hunter2"}}, "server.operator_token",
         "secrets are not read from the configuration file"),
        ({"server": {"users": {"table": "users; DROP TABLE x"}}}, "server.users.table",
         "plain SQL identifier"),
        ({"server": {"users": {"tabel": "u"}}}, "server.users.tabel", "did you mean 'table'"),
        ({"state": {"backend": "sqlite", "path": "s.db"}}, "state.backend", "postgresql"),
        ({"outlook": {"backend": "memory"}}, "outlook.backend", "graph"),
        ({"outlook": {"backend": "graph", "mailbox": "anna@x"}}, "outlook.mailbox",
         "[server.users]"),
        ({"server": {"certificate_path": "app.pem"}}, "server.certificate_thumbprint",
         "go together"),
    ],
)
def test_bad_server_settings_name_their_key(doc_change: dict[str, Any], key: str,
                                            words: str) -> None:
    doc = _doc()
    doc.update(doc_change)
    err = _error(doc)
    assert err.key == key
    assert words in str(err)


def test_a_file_without_server_section_says_how_to_make_one() -> None:
    doc = _doc()
    del doc["server"]
    err = _error(doc)
    assert err.key == "server"
    assert "init --server" in str(err)


def test_unset_secret_variables_are_named_not_shown() -> None:
    config = parse_server_config(_doc(operator_token_env="OPS_TOKEN"))
    with pytest.raises(ConfigurationError, match="OPS_TOKEN, which is not set"):
        config.operator_token({})
    assert config.operator_token({"OPS_TOKEN": "s3cret"}).reveal() == "s3cret"  # type: ignore[union-attr]


def test_init_server_writes_the_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from outlook_sync.cli import main

    target = tmp_path / "srv.toml"
    assert main(["init", "--server", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == SERVER_EXAMPLE
    assert main(["init", "--server", str(target)]) != 0  # never overwrites without --force
    assert "exists" in capsys.readouterr().err
    missing = tmp_path / "no" / "such" / "srv.toml"
    assert main(["init", "--server", str(missing)]) == 2  # a usage error, like `init`
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()  # no folder created


# -- the notification endpoint's decisions ---------------------------------------------

def _store() -> MemoryStateStore:
    store = MemoryStateStore()
    expires = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    for user, sub_id, secret in (("anna", "sub-a", "state-a"), ("bertil", "sub-b", "state-b")):
        store.save_subscription(user, SubscriptionRecord(
            subscription_id=sub_id, resource=f"users/{user}@x/events", client_state=secret,
            expires=expires))
    return store


def _post(*notes: dict[str, Any]) -> bytes:
    return json.dumps({"value": list(notes)}).encode()


def test_validation_token_is_echoed_as_plain_text() -> None:
    decision = decide({"validationToken": "Validation: Testing client application"}, b"",
                      _store())
    reply = decision.reply
    assert (reply.status, reply.body) == (200, b"Validation: Testing client application")
    assert reply.content_type.startswith("text/plain")
    assert decision.sync == frozenset()


def test_notifications_with_a_wrong_client_state_are_ignored() -> None:
    decision = decide({}, _post(
        {"subscriptionId": "sub-a", "clientState": "state-a", "changeType": "updated",
         "resourceData": {"id": "e1"}},
        {"subscriptionId": "sub-b", "clientState": "forged", "changeType": "updated",
         "resourceData": {"id": "e2"}},
        {"subscriptionId": "unknown", "clientState": "state-a", "changeType": "created",
         "resourceData": {"id": "e3"}},
        {"subscriptionId": "sub-a", "changeType": "deleted"},
    ), _store())
    assert decision.sync == {"anna"}
    assert decision.rejected == 3
    assert decision.reply.status == 202


def test_lifecycle_notifications_renew_and_resync() -> None:
    decision = decide({}, _post(
        {"subscriptionId": "sub-a", "clientState": "state-a",
         "lifecycleEvent": "reauthorizationRequired"},
        {"subscriptionId": "sub-b", "clientState": "state-b", "lifecycleEvent": "missed"},
    ), _store())
    assert decision.resubscribe == {"anna", "bertil"}
    assert decision.sync == {"bertil"}  # missed notifications: changes may be unseen


def test_lifecycle_events_go_to_the_subscription_job_with_their_subscription() -> None:
    decision = decide({}, _post(
        {"subscriptionId": "sub-a", "clientState": "state-a",
         "lifecycleEvent": "subscriptionRemoved"},
        {"subscriptionId": "sub-a", "clientState": "state-a",
         "lifecycleEvent": "subscriptionRemoved"},  # Graph may send one twice
        {"subscriptionId": "sub-b", "clientState": "state-b",
         "lifecycleEvent": "reauthorizationRequired"},
        {"subscriptionId": "sub-b", "clientState": "forged",
         "lifecycleEvent": "subscriptionRemoved"},
    ), _store())
    assert [(e.user, e.event, e.subscription_id) for e in decision.lifecycle] == [
        ("anna", "subscriptionRemoved", "sub-a"),
        ("bertil", "reauthorizationRequired", "sub-b"),
    ]
    assert decision.sync == {"anna"}
    assert decision.rejected == 1


def test_a_malformed_body_is_a_400_not_a_crash() -> None:
    assert decide({}, b"{not json", _store()).reply.status == 400
    assert decide({}, b'{"value": 3}', _store()).reply.status == 400


# -- the page and the metrics -------------------------------------------------------------

def test_the_operator_page_escapes_what_it_shows() -> None:
    now = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)
    account = Account(
        user="<script>alert(1)</script>", mailbox="a@b", state=AccountState.ATTENTION,
        reason=None, last_sync=None, last_attempt=now, next_due=now,
        last_error="listing failed: <b>503</b>", conflicts=2, quarantined=1, syncs=3,
        failures=1,
    )
    page = overview_page([account], now)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert "listing failed: &lt;b&gt;503&lt;/b&gt;" in page
    assert "needs attention: 1" in page


def test_metrics_are_prometheus_text() -> None:
    text = metrics_text({"syncs": 10, "failures": 1, "seconds": 2.5, "graph_requests": 40,
                         "graph_throttled": 3}, {"ok": 9, "needs attention": 1},
                        {"todo": 4}, {"accepted": 7})
    lines = text.splitlines()
    assert "outlook_sync_syncs_total 10" in lines
    assert "outlook_sync_sync_duration_seconds_sum 2.5" in lines
    assert "outlook_sync_sync_duration_seconds_count 10" in lines
    assert 'outlook_sync_queue_jobs{status="todo"} 4' in lines
    assert 'outlook_sync_accounts{state="consent missing"} 0' in lines
    assert "outlook_sync_graph_throttled_total 3" in lines
    assert all(line.startswith(("#", "outlook_sync_")) for line in lines)
    # the failures counter counts syncs that did not run to the end (ledger.run_finished:
    # failures + 1 unless synced), not accounts that need attention
    [failures_help] = [line for line in lines
                       if line.startswith("# HELP outlook_sync_sync_failures_total")]
    assert "did not run to the end" in failures_help
    assert "attention" not in failures_help


def test_the_overlap_check_reads_runs_from_the_request_log() -> None:
    from outlook_sync.server.testbed import Hit, overlapping_runs

    def hit(run: str, start: float, end: float, box: str = "a@x") -> Hit:
        return Hit(box, run, "GET", "/users/a@x/calendarView/delta", 200, start, end)

    apart = [hit("r1", 0, 1), hit("r1", 1, 2), hit("r2", 2.5, 3), hit("r3", 1, 2, box="b@x")]
    assert overlapping_runs(apart) == []
    interleaved = [hit("r1", 0, 1), hit("r2", 1.5, 2), hit("r1", 2.5, 3)]
    assert overlapping_runs(interleaved) == [("a@x", "r1", "r2")]
