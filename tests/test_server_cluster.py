"""Server mode with real components, started here: a throwaway PostgreSQL, the Graph
emulator serving 200 mailboxes and posting change notifications, the web process on
loopback and three worker processes (``python -m outlook_sync.server``).

The tests share one cluster and run in file order (each leaves it converged). What
happened at Graph is read from the emulator's request log (:class:`ObservedGraph`),
never from the workers' own bookkeeping, except to find which process to kill.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import shutil
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import missing, require_extra

require_extra("server", "procrastinate", "starlette", "uvicorn")

from outlook_sync.server.testbed import Testbed, overlapping_runs  # noqa: E402
from outlook_sync.testing.postgres import find_bin_dir  # noqa: E402
from tests.browser import headless_chromium  # noqa: E402

pytestmark = pytest.mark.postgres

USERS = 200




@pytest.fixture(scope="module")
def bed() -> Iterator[Testbed]:
    if find_bin_dir() is None:
        missing("no PostgreSQL server binaries")
    testbed = Testbed(users=USERS, saljstod_events=2, outlook_events=2, workers=3,
                      concurrency=2)
    testbed.start()
    try:
        yield testbed
    finally:
        testbed.stop()
        if os.environ.get("OUTLOOK_SYNC_KEEP_TESTBED") is None:
            shutil.rmtree(testbed.directory, ignore_errors=True)


def _runs(bed: Testbed, index: int, since: float = 0.0) -> set[str]:
    """Distinct syncs of a mailbox seen by Graph (requests carrying a run id)."""
    assert bed.graph is not None
    box = bed.mailbox(index)
    return {h.run_id for h in bed.graph.snapshot()
            if h.mailbox == box and h.run_id and h.started >= since}


def _saljstod_subjects(bed: Testbed, index: int) -> list[str]:
    with bed.sql() as conn:
        rows = conn.execute(
            "SELECT a.subject FROM activities a JOIN activity_participants p"
            " ON p.activity_id = a.id WHERE p.user_id = %s", (bed.user(index),)).fetchall()
    return sorted(r[0] for r in rows)


def _outlook_subjects(bed: Testbed, index: int) -> list[str]:
    assert bed.emulator is not None
    return sorted(e.data.get("subject", "") for e in bed.emulator.events(user=bed.mailbox(index)))


def _idle(bed: Testbed) -> bool:
    return bed.jobs("todo") == 0 and bed.jobs("doing") == 0


def test_200_users_sync_to_convergence_from_a_cold_start(bed: Testbed) -> None:
    bed.wait_until(lambda: len(bed.converged_users(range(USERS))) == USERS, 150,
                   "every user converged")
    for i in (0, 57, USERS - 1):
        assert _saljstod_subjects(bed, i) == _outlook_subjects(bed, i)
        assert len(_outlook_subjects(bed, i)) == 4
    with bed.sql() as conn:
        states = dict(conn.execute(
            "SELECT state, COUNT(*) FROM outlook_sync_server_accounts GROUP BY state").fetchall())
    assert states == {"ok": USERS}
    assert bed.jobs("failed") == 0
    # subscriptions were created after the first syncs, one per mailbox
    assert bed.emulator is not None
    # 200 subscriptions from the workers' after-sync hooks: generous on a loaded machine
    bed.wait_until(lambda: len(bed.emulator.subscriptions._subs) == USERS, 90,  # type: ignore[union-attr]
                   "a subscription per mailbox")


def test_a_notification_storm_gives_one_sync_and_at_most_one_follow_up(bed: Testbed) -> None:
    assert bed.emulator is not None
    victim = 5
    bed.wait_until(lambda: _idle(bed), 30, "an idle queue")
    before = time.monotonic()
    events = bed.emulator.events(user=bed.mailbox(victim))
    for n in range(30):  # thirty edits in Outlook within a fraction of a second
        event = events[n % len(events)]
        bed.emulator.user_edit(event.immutable_id, user=bed.mailbox(victim),
                               subject=f"Storm edit {n} of {event.immutable_id[-6:]}")
    bed.emulator.flush_notifications(timeout=20)
    last = {f"Storm edit {n} of {events[n % len(events)].immutable_id[-6:]}"
            for n in range(30 - len(events), 30)}
    bed.wait_until(lambda: last <= set(_saljstod_subjects(bed, victim)), 30,
                   "the last edits in Säljstöd")
    bed.wait_until(lambda: _idle(bed), 30, "an idle queue")
    assert bed.emulator.subscriptions.delivered >= 30
    assert bed.emulator.subscriptions.failed == 0  # every notification answered 2xx
    runs = _runs(bed, victim, since=before)
    assert 1 <= len(runs) <= 2, runs
    assert _saljstod_subjects(bed, victim) == _outlook_subjects(bed, victim)


def test_never_two_concurrent_syncs_of_one_user(bed: Testbed) -> None:
    assert bed.emulator is not None
    assert bed.graph is not None
    users = list(range(100, 106))
    bed.wait_until(lambda: _idle(bed), 30, "an idle queue")
    since = time.monotonic()
    # slow answers stretch every sync; four waiting jobs per user, six free worker slots
    bed.emulator.slow(0.2, times=10_000, path_contains="/users/user010")
    for i in users:
        event = bed.emulator.events(user=bed.mailbox(i))[0]
        bed.emulator.user_edit(event.immutable_id, user=bed.mailbox(i), subject="Pressure")
    bed.defer_unqueued(users, copies=4)
    bed.wait_until(lambda: _idle(bed), 90, "an idle queue")
    bed.emulator.faults.clear()
    assert sum(len(_runs(bed, i, since=since)) for i in users) >= 4 * len(users)
    for i in users:
        assert "Pressure" in _saljstod_subjects(bed, i)
    assert overlapping_runs(bed.graph.snapshot()) == []


def test_a_worker_killed_mid_sync_leaves_no_duplicate_and_the_user_converges(
        bed: Testbed) -> None:
    assert bed.emulator is not None
    victim = 40
    bed.wait_until(lambda: _idle(bed), 30, "an idle queue")
    with bed.sql() as conn:  # the host books three activities for the victim
        for k in range(3):
            start = dt.datetime(2026, 12, 14, 9 + k, 0, tzinfo=dt.UTC)
            (activity,) = conn.execute(
                "INSERT INTO activities (subject, starts_at, ends_at, time_zone)"
                " VALUES (%s, %s, %s, 'UTC') RETURNING id",
                (f"Booked before the crash {k}", start, start + dt.timedelta(hours=1)),
            ).fetchone()
            conn.execute("INSERT INTO activity_participants (activity_id, user_id)"
                         " VALUES (%s, %s)", (activity, bed.user(victim)))
    # Outlook carries out the creates, but answers only after the worker is dead (the
    # write lands 1.5 s after the kill; a stopped worker is noticed after 4 s)
    bed.emulator.slow(3, times=1, method="POST")
    bed.defer_sync(victim, "host booked activities")

    def running_worker() -> str | None:
        with bed.sql() as conn:
            row = conn.execute(
                "SELECT worker FROM outlook_sync_server_runs WHERE user_name = %s"
                " AND finished_at IS NULL ORDER BY id DESC LIMIT 1",
                (bed.user(victim),)).fetchone()
        return None if row is None else str(row[0])

    bed.wait_until(lambda: running_worker() is not None, 90, "the victim's sync to start")
    time.sleep(1.5)  # inside the slow create
    holder = running_worker()
    assert holder is not None
    pid = int(holder.rsplit(" ", 1)[1])
    killed = [p for p in bed.worker_processes if p.pid == pid]
    assert killed, (holder, [p.pid for p in bed.worker_processes])
    os.kill(pid, signal.SIGKILL)
    killed[0].wait(timeout=10)
    bed.start_worker()  # the cluster keeps three workers
    bed.wait_until(lambda: victim in bed.converged_users([victim]), 90,
                   "the victim converged after the crash")
    subjects = _outlook_subjects(bed, victim)
    assert len(subjects) == len(set(subjects)) == 7, subjects
    assert _saljstod_subjects(bed, victim) == subjects
    assert bed.jobs("failed") == 0


def test_a_429_storm_is_honoured_without_failed_jobs(bed: Testbed) -> None:
    assert bed.emulator is not None
    assert bed.graph is not None
    users = list(range(20, 30))
    bed.wait_until(lambda: _idle(bed), 30, "an idle queue")
    since = time.monotonic()
    bed.emulator.throttle(times=45, retry_after=1, path_contains="/users/user002")
    for i in users:
        event = bed.emulator.events(user=bed.mailbox(i))[0]
        bed.emulator.user_edit(event.immutable_id, user=bed.mailbox(i), subject="After the storm")
    bed.wait_until(lambda: all("After the storm" in _saljstod_subjects(bed, i) for i in users),
                   90, "every edit through the storm")
    bed.wait_until(lambda: _idle(bed), 30, "an idle queue")
    hits = [h for h in bed.graph.snapshot() if h.started >= since and h.mailbox]
    throttled = [h for h in hits if h.status == 429]
    assert len(throttled) == 45
    by_box: dict[str, list[float]] = collections.defaultdict(list)
    for h in hits:
        by_box[h.mailbox or ""].append(h.started)
    for h in throttled:  # nobody came back to that mailbox before Retry-After ran out
        later = [s for s in by_box[h.mailbox or ""] if s > h.ended]
        assert not later or min(later) >= h.ended + 1.0 - 0.05, (h, min(later) - h.ended)
    assert bed.jobs("failed") == 0
    for i in users:
        assert _saljstod_subjects(bed, i) == _outlook_subjects(bed, i)
        # the ledger too: throttled syncs were postponed and retried, none failed
        assert bed.account_state(i) == "ok", (i, bed.account_state(i))


def test_revoked_consent_becomes_consent_missing_and_is_not_retried(bed: Testbed) -> None:
    assert bed.emulator is not None
    assert bed.graph is not None
    denied, gone = 7, 8
    bed.graph.deny(bed.mailbox(denied))
    bed.graph.remove(bed.mailbox(gone))
    for i in (denied, gone):
        bed.defer_sync(i, "test")
    bed.wait_until(lambda: bed.account_state(denied) == bed.account_state(gone)
                   == "consent missing", 30, "consent missing")
    with bed.sql() as conn:
        reasons = dict(conn.execute(
            "SELECT user_name, reason FROM outlook_sync_server_accounts WHERE user_name"
            " IN (%s, %s)", (bed.user(denied), bed.user(gone))).fetchall())
    assert "admin consent" in reasons[bed.user(denied)]
    assert "does not exist" in reasons[bed.user(gone)]
    settled = time.monotonic()
    for i in (denied, gone):  # notifications and the sweep keep coming...
        bed.defer_sync(i, "test")
    time.sleep(8)  # ...four sweeps and two health checks later:
    assert _runs(bed, denied, since=settled) == set()
    assert _runs(bed, gone, since=settled) == set()
    assert bed.jobs("failed") == 0
    # the administrator grants consent again: the health check brings the user back
    bed.graph.allow(bed.mailbox(denied))
    bed.wait_until(lambda: bed.account_state(denied) == "ok", 30, "ok again")
    bed.wait_until(lambda: bool(_runs(bed, denied, since=settled)), 30, "a sync again")


def test_users_come_and_go_with_the_saljstod_directory(bed: Testbed) -> None:
    bed.add_users([USERS, USERS + 1])
    bed.wait_until(lambda: len(bed.converged_users([USERS, USERS + 1])) == 2, 30,
                   "the new users converged")
    with bed.sql() as conn:
        conn.execute("UPDATE saljstod_users SET outlook_enabled = false WHERE user_id = %s",
                     (bed.user(3),))
    bed.wait_until(lambda: bed.account_state(3) == "paused", 15, "paused")


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_and_health_endpoints(bed: Testbed) -> None:
    assert _get(f"{bed.base_url}/healthz") == (200, "ok")
    assert _get(f"{bed.base_url}/metrics")[0] == 401
    status, text = _get(f"{bed.base_url}/metrics", bed.token)
    assert status == 200
    counts = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if not line.startswith("#")}
    assert counts["outlook_sync_syncs_total"] >= USERS
    assert counts["outlook_sync_graph_throttled_total"] >= 45
    assert counts['outlook_sync_accounts{state="consent missing"}'] == 1
    assert counts['outlook_sync_notifications_total{result="accepted"}'] >= 30


def _wait_for(browser: Any, by: str, value: str) -> Any:
    """The element once the page showing it has loaded (at most 30 s)."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, 30).until(
        expected_conditions.presence_of_element_located((by, value)))


def test_the_operator_page_in_headless_chromium_shows_a_failing_user(bed: Testbed) -> None:
    from selenium.webdriver.common.by import By

    assert bed.emulator is not None
    failing = 9
    bed.emulator.unavailable(times=10_000, status=503, path_contains="user0009")
    bed.defer_sync(failing, "test")
    bed.wait_until(lambda: bed.account_state(failing) == "needs attention", 60,
                   "needs attention")
    browser = headless_chromium()
    try:
        browser.get(f"{bed.base_url}/")
        assert "sign in" in browser.title  # never open
        browser.find_element(By.ID, "token").send_keys(bed.token)
        browser.find_element(By.ID, "sign-in").click()
        # A click that submits a form returns before the next page has loaded: wait for it.
        table = _wait_for(browser, By.ID, "accounts")
        row = table.find_element(By.CSS_SELECTOR, f"tr[data-user='{bed.user(failing)}']")
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        assert cells[2] == "needs attention"
        assert "503" in cells[5]
        consent = table.find_element(By.CSS_SELECTOR, "tr[data-user='u0008']")
        assert "consent missing" in consent.text
        assert "does not exist" in consent.text
        assert "paused" in table.find_element(By.CSS_SELECTOR, "tr[data-user='u0003']").text
        row.find_element(By.TAG_NAME, "a").click()
        runs = _wait_for(browser, By.ID, "runs")
        assert "failed" in runs.text
        assert "503" in runs.text
    finally:
        browser.quit()
        bed.emulator.faults.clear()
