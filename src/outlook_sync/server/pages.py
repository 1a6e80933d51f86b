"""The operator pages (HTML, read-only) and the Prometheus text of ``/metrics``.

Plain server-rendered HTML with every value escaped; no script, no external asset
(the page works behind a strict Content-Security-Policy and offline).
"""

from __future__ import annotations

import datetime as dt
import html
import urllib.parse
from collections.abc import Mapping, Sequence

from outlook_sync.server.ledger import Account, AccountState, Run

__all__ = ["account_page", "login_page", "metrics_text", "overview_page"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;width:100%}th,td{padding:.3rem .5rem;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}th{background:#f4f4f4}
.state{font-weight:600;white-space:nowrap}.s-ok{color:#176b2c}.s-attention{color:#9a5b00}
.s-consent{color:#b00020}.s-paused{color:#666}.error{color:#b00020;max-width:40rem}
.summary{margin:.5rem 0 1rem}.summary span{margin-right:1.5rem}
"""

_CLASS = {
    AccountState.OK: "s-ok",
    AccountState.ATTENTION: "s-attention",
    AccountState.CONSENT_MISSING: "s-consent",
    AccountState.PAUSED: "s-paused",
}


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{_e(title)}</h1>{body}</body></html>"
    )


def login_page(failed: bool = False) -> str:
    note = "<p class='error' id='login-error'>Wrong token.</p>" if failed else ""
    return _page(
        "outlook_sync server: sign in",
        f"{note}<form method='post' action='login'>"
        "<label>Operator token <input type='password' name='token' id='token' "
        "autocomplete='current-password' required></label> "
        "<button type='submit' id='sign-in'>Sign in</button></form>",
    )


def overview_page(accounts: Sequence[Account], now: dt.datetime) -> str:
    counts: dict[AccountState, int] = dict.fromkeys(AccountState, 0)
    for account in accounts:
        counts[account.state] += 1
    summary = "".join(
        f"<span class='{_CLASS[s]}' id='count-{s.name.lower()}'>{_e(s.value)}: {n}</span>"
        for s, n in counts.items()
    )
    rows = []
    for a in accounts:
        link = "users/" + urllib.parse.quote(a.user, safe="")
        error = a.reason if a.state is AccountState.CONSENT_MISSING and a.reason else a.last_error
        rows.append(
            f"<tr data-user='{_e(a.user)}'><td><a href='{_e(link)}'>{_e(a.user)}</a></td>"
            f"<td>{_e(a.mailbox)}</td>"
            f"<td class='state {_CLASS[a.state]}'>{_e(a.state.value)}</td>"
            f"<td>{_when(a.last_sync)}</td><td>{_when(a.next_due)}</td>"
            f"<td class='error'>{_e(error or '')}</td>"
            f"<td>{a.conflicts}</td><td>{a.quarantined}</td></tr>"
        )
    table = (
        "<table id='accounts'><thead><tr><th>User</th><th>Mailbox</th><th>State</th>"
        "<th>Last sync</th><th>Next due</th><th>Last error</th><th>Conflicts</th>"
        "<th>Quarantined</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )
    return _page(
        "outlook_sync server",
        f"<p>As of {_when(now)}. Read-only.</p><div class='summary'>{summary}</div>{table}",
    )


def account_page(account: Account, runs: Sequence[Run]) -> str:
    facts = [
        ("Mailbox", account.mailbox),
        ("State", account.state.value),
        ("Why", account.reason or ""),
        ("Last sync", _when(account.last_sync)),
        ("Last attempt", _when(account.last_attempt)),
        ("Next due", _when(account.next_due)),
        ("Last error", account.last_error or ""),
        ("Pending conflicts", account.conflicts),
        ("Quarantined items", account.quarantined),
        ("Syncs / failed", f"{account.syncs} / {account.failures}"),
    ]
    dl = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    rows = "".join(
        f"<tr><td>{_when(r.started_at)}</td><td>{_when(r.finished_at)}</td>"
        f"<td>{_e(r.outcome)}</td><td>{_e(r.reason)}</td><td>{_e(r.summary)}</td>"
        f"<td>{r.graph_requests}</td><td>{r.graph_throttled}</td><td>{_e(r.worker)}</td></tr>"
        for r in runs
    )
    return _page(
        f"{account.user}",
        f"<p><a href='../'>All users</a></p><table id='account'>{dl}</table>"
        "<h2>Last syncs</h2><table id='runs'><thead><tr><th>Started</th><th>Finished</th>"
        "<th>Outcome</th><th>Why it ran</th><th>What it did</th><th>Graph requests</th>"
        f"<th>429s</th><th>Worker</th></tr></thead><tbody>{rows}</tbody></table>",
    )


def metrics_text(
    totals: Mapping[str, float],
    states: Mapping[str, int],
    queue: Mapping[str, int],
    notifications: Mapping[str, int],
) -> str:
    """Prometheus text exposition format 0.0.4."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str,
               samples: Sequence[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lines.append(f"{name}{labels} {value:g}")

    metric("outlook_sync_syncs_total", "counter", "Syncs run by the workers.",
           [("", totals.get("syncs", 0))])
    metric("outlook_sync_sync_failures_total", "counter",
           "Syncs that did not run to the end (an error, throttling, consent missing, a busy "
           "database or lease, a cancellation); syncs that left failed items are not counted.",
           [("", totals.get("failures", 0))])
    metric("outlook_sync_sync_duration_seconds", "summary", "Time spent in syncs.",
           [("_sum", totals.get("seconds", 0)), ("_count", totals.get("syncs", 0))])
    metric("outlook_sync_graph_requests_total", "counter", "HTTP requests sent to Graph.",
           [("", totals.get("graph_requests", 0))])
    metric("outlook_sync_graph_throttled_total", "counter",
           "Graph answers 429 Too Many Requests.", [("", totals.get("graph_throttled", 0))])
    metric("outlook_sync_queue_jobs", "gauge", "Sync jobs in the queue, by status.",
           [(f'{{status="{s}"}}', queue.get(s, 0)) for s in ("todo", "doing")])
    metric("outlook_sync_accounts", "gauge", "Accounts by state.",
           [(f'{{state="{s.value}"}}', states.get(s.value, 0)) for s in AccountState])
    metric("outlook_sync_notifications_total", "counter",
           "Change notifications received by this web process.",
           [(f'{{result="{k}"}}', notifications.get(k, 0)) for k in ("accepted", "rejected")])
    return "\n".join(lines) + "\n"
