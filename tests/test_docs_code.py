"""Every code block in README.md and docs/ runs, the way a reader would use it.

Theory of operation
-------------------
The pages are read top to bottom, like a notebook: the Python blocks of one page run in
order in one namespace, in a temporary folder. Where a page leaves something to the
reader (``saljstod``, a PostgreSQL ``dsn``), :data:`GIVEN` supplies it before the page's
first block; nothing is hidden inside a block. The outside world is replaced by the
test doubles the package ships: ``https://graph.microsoft.com`` is served by the Graph
emulator and sign-in by a static token; desktop Outlook is the COM fake.

The other languages run as what they are: ``toml`` is parsed, and validated as an
``outlook-sync`` configuration when it is one (a section alone is validated inside a
minimal file); ``json`` and ``ini`` are parsed; ``sql`` runs on SQLite or on the suite's PostgreSQL;
a shell block's commands are checked — ``outlook-sync`` commands parse, and run in a
fresh folder where :data:`RUN_SHELL` says so; ``python FILE`` names a file that exists
(the examples run in ``test_examples.py``); ``python -m MODULE`` names a module;
``pip install`` names extras that exist. ``text`` blocks and blocks without a language
are output shown to the reader, not code.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import re
import shlex
import sqlite3
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from outlook_sync.cli import main
from outlook_sync.cli.app import build_parser
from outlook_sync.cli.registry import ENTRY_POINT_GROUP, forget_memory
from outlook_sync.config import parse_config
from tests.conftest import require

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```",
                   re.S | re.M)

#: What a page leaves to the reader, given before its first Python block.
GIVEN: dict[str, str] = {
    "README.md": """
import datetime as dt, sqlite3
from outlook_sync.adapters.graph import StaticToken
from outlook_sync.adapters.sql import upgrade
connection = sqlite3.connect("saljstod.db")
upgrade(connection)
token_provider = StaticToken("reader")
when = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
""",
    "graph.md": """
from outlook_sync import InMemoryCalendar, MemoryStateStore
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
saljstod, state = InMemoryCalendar(), MemoryStateStore()
""",
    "outlook-com.md": """
import datetime as dt
from outlook_sync import InMemoryCalendar, MemoryStateStore
saljstod, state = InMemoryCalendar(), MemoryStateStore()
start = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
end = start + dt.timedelta(hours=1)
""",
    "sql.md": """
import psycopg
from outlook_sync.adapters.sql import SqlCalendar, upgrade
from outlook_sync.state.sql import SqlStateStore
HOST_TABLES = '''
CREATE TABLE crm_aktivitet (akt_id TEXT PRIMARY KEY, rubrik TEXT, fran TEXT, till TEXT,
    status TEXT, rev INTEGER NOT NULL DEFAULT 1, andrad TEXT, radera INTEGER DEFAULT 0);
CREATE TABLE crm_deltagare (akt TEXT, anvandare TEXT, extern_nyckel TEXT)
'''
with psycopg.connect(PG_DSN, autocommit=True) as admin:   # a schema of its own
    admin.execute("DROP SCHEMA IF EXISTS docs_sql CASCADE")
    admin.execute("CREATE SCHEMA docs_sql")
    admin.execute("SET search_path TO docs_sql")
    for statement in HOST_TABLES.split(";"):
        admin.execute(statement)
dsn = in_schema(PG_DSN, "docs_sql")
""",
}

#: Shell blocks whose ``outlook-sync`` commands run (page, first command); the others parse.
RUN_SHELL = {
    ("getting-started.md", "outlook-sync init --demo"),
}

@attrs.frozen
class Block:
    page: str
    index: int
    lang: str
    body: str
    line: int

    @property
    def first(self) -> str:
        return next((ln.strip() for ln in self.body.splitlines() if ln.strip()), "")

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for index, match in enumerate(FENCE.finditer(text)):
        body = "\n".join(
            line[len(match["indent"]):] for line in match["body"].splitlines()
        )
        found.append(
            Block(path.name, index, match["lang"].lower(), body,
                  text.count("\n", 0, match.start()) + 1)
        )
    return found


def in_schema(dsn: str, schema: str) -> str:
    """The DSN with ``schema`` first on the search path."""
    if "://" in dsn:
        joiner = "&" if "?" in dsn else "?"
        return f"{dsn}{joiner}options=-csearch_path%3D{schema}"
    return f"{dsn} options='-c search_path={schema}'"


# -- the outside world, replaced by the package's own test doubles ----------------------


@contextlib.contextmanager
def _graph_is_the_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    pytest.importorskip("httpx")
    from outlook_sync.adapters import graph
    from outlook_sync.testing.graph import run_emulator

    clients: list[Any] = []
    with run_emulator() as emulator:
        real_init = graph.GraphClient.__init__

        def routed(self: Any, base_url: str, *args: Any, **kwargs: Any) -> None:
            if base_url.startswith("https://graph.microsoft.com"):
                base_url = emulator.base_url
            real_init(self, base_url, *args, **kwargs)
            clients.append(self)  # a page's snippet need not close its client

        def signed_in(*_args: Any, **_kwargs: Any) -> Any:
            return graph.StaticToken("signed-in")

        monkeypatch.setattr(graph.GraphClient, "__init__", routed)
        monkeypatch.setattr(graph, "device_code_provider", signed_in)
        monkeypatch.setattr(graph, "client_credentials_provider", signed_in)
        try:
            yield
        finally:
            for client in clients:
                client.close()


def _outlook_is_the_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    from outlook_sync.adapters.outlook_com import SWEDISH, OutlookComCalendar
    from outlook_sync.testing.outlook_com import FakeOutlook, ManualClock, with_events

    def connect(cls: Any, /, **_options: Any) -> Any:
        clock = ManualClock()
        fake = FakeOutlook(clock=clock)
        return cls(fake.dispatch, locale=SWEDISH, clock=clock, sleep=lambda _s: None,
                   with_events=with_events)

    monkeypatch.setattr(OutlookComCalendar, "connect", classmethod(connect))


# -- per language -------------------------------------------------------------------------


def _resolve_snippet(block: Block) -> str | None:
    """``--8<-- "examples/x.py"`` (pymdownx.snippets): the file it includes."""
    found = re.fullmatch(r'--8<--\s+"([^"]+)"', block.body.strip())
    return found[1] if found else None


def run_python(block: Block, namespace: dict[str, Any]) -> None:
    included = _resolve_snippet(block)
    if included is not None:
        path = ROOT / included
        assert path.is_file(), f"{block}: includes {included}, which does not exist"
        assert path.parent.name == "examples", f"{block}: include an example (it is run)"
        return
    exec(compile(block.body, str(block), "exec"), namespace)  # the docs


BASE_CONFIG = {
    "user": "anna",
    "saljstod": {"backend": "memory"},
    "outlook": {"backend": "memory"},
}


def run_toml(block: Block) -> None:
    data = tomllib.loads(block.body)
    if "project" in data:  # a plug-in package's pyproject.toml
        assert ENTRY_POINT_GROUP in data["project"]["entry-points"], block
        return
    merged = {**BASE_CONFIG}
    for section, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(section), dict):
            backend = value.get("backend", "sql" if section == "saljstod" else "memory")
            merged[section] = {"backend": backend, **value}
        else:
            merged[section] = value
    parse_config(merged, path=Path("/docs/outlook-sync.toml"))


def run_sql(block: Block, namespace: dict[str, Any]) -> None:
    if "postgresql" in block.first.lower():
        psycopg = require("psycopg")
        with psycopg.connect(namespace["PG_DSN"]) as connection:
            connection.execute(f"CREATE SCHEMA docs_{block.index}")
            connection.execute(f"SET search_path TO docs_{block.index}")
            connection.execute(block.body)
            connection.rollback()
        return
    with contextlib.closing(sqlite3.connect(":memory:")) as connection:
        connection.executescript(block.body)


def _commands(body: str) -> Iterator[str]:
    for raw in body.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        line = re.sub(r"^(\S+\s+){5}(?=outlook-sync)", "", line)  # a crontab line
        line = re.split(r"\s(?:>>?|\|)\s", line)[0]  # output redirected or piped
        yield from (part.strip() for part in line.split("&&"))


def run_shell(block: Block, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = (block.page, block.first.split("  #")[0].strip()) in RUN_SHELL
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras = set(pyproject["project"]["optional-dependencies"])
    for command in _commands(block.body):
        words = shlex.split(command)
        environ = {}
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            environ[name] = value
        if not words or words[0] in ("export", "$EDITOR"):
            continue
        if words[0] == "outlook-sync":
            args = build_parser().parse_args(words[1:])
            assert args.handler is not None
            if runs:
                code = main(words[1:], environ={**environ, "PATH": os.environ.get("PATH", "")})
                captured = capsys.readouterr()
                assert code == 0, f"{block}: {command} -> {code}\n{captured.err}"
        elif words[:2] == ["pip", "install"]:
            for spec in words[2:]:
                wanted = re.findall(r"\[([\w,]+)\]", spec)
                for extra in ",".join(wanted).split(","):
                    assert not extra or extra in extras, f"{block}: no extra {extra!r}"
        elif words[0] == "python" and words[1:3] == ["-m", "pytest"]:
            continue
        elif words[0] == "python" and words[1] == "-m":
            import importlib.util

            assert importlib.util.find_spec(words[2]) is not None, f"{block}: {words[2]}"
        elif words[0] == "python":
            assert (ROOT / words[1]).is_file(), f"{block}: no file {words[1]}"
        else:
            pytest.fail(f"{block}: a command the docs test does not know: {command}")


# -- the tests ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_memory() -> Iterator[None]:
    forget_memory()
    yield
    forget_memory()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_code_block_of_the_page_runs(
    page: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    found = blocks(page)
    if not found:
        pytest.skip("no code blocks")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    needs_pg = any(b.lang == "sql" and "postgresql" in b.first.lower() for b in found) or (
        "PG_DSN" in GIVEN.get(page.name, "")
    )
    if needs_pg:
        namespace["PG_DSN"] = request.getfixturevalue("pg_dsn")
        namespace["in_schema"] = in_schema
    with contextlib.ExitStack() as stack:
        if any(b.lang == "python" and ("graph" in b.body.lower()) for b in found):
            stack.enter_context(_graph_is_the_emulator(monkeypatch))
        if page.name == "outlook-com.md":
            _outlook_is_the_fake(monkeypatch)
        opened = _record_connections(monkeypatch)
        stack.callback(_close_all, opened)
        if page.name in GIVEN:
            exec(GIVEN[page.name], namespace)  # the reader's own setup
        for block in found:
            try:
                if block.lang == "python":
                    run_python(block, namespace)
                elif block.lang == "toml":
                    run_toml(block)
                elif block.lang == "json":
                    json.loads(block.body)
                elif block.lang == "sql":
                    run_sql(block, namespace)
                elif block.lang in ("sh", "bash", "shell", "console"):
                    run_shell(block, tmp_path, capsys)
                elif block.lang == "ini":  # e.g. a systemd unit
                    configparser.ConfigParser(strict=False, interpolation=None).read_string(
                        block.body
                    )
                elif block.lang == "mermaid":
                    assert block.first.split()[0] in DIAGRAMS, f"{block}: {block.first}"
                else:
                    assert block.lang in ("", "text"), f"{block}: unknown language"
            except Exception as exc:
                raise AssertionError(f"{block} failed: {type(exc).__name__}: {exc}") from exc
        _close_what_the_page_opened(namespace)


def _record_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every database connection a page opens, so the test can close what it left open."""
    opened: list[Any] = []
    for module_name in ("sqlite3", "psycopg"):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        real = module.connect

        def recording(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            connection = _real(*args, **kwargs)
            opened.append(connection)
            return connection

        monkeypatch.setattr(module, "connect", recording)
    return opened


def _close_all(opened: list[Any]) -> None:
    for connection in opened:
        with contextlib.suppress(Exception):
            connection.close()


def _close_what_the_page_opened(namespace: dict[str, Any]) -> None:
    """A snippet shows how to open a connection; the reader closes it when done."""
    for value in namespace.values():
        module = type(value).__module__.split(".", 1)[0]
        if module in ("sqlite3", "psycopg", "outlook_sync") and callable(
            getattr(value, "close", None)
        ) and not isinstance(value, type):
            with contextlib.suppress(Exception):
                value.close()


#: The Mermaid diagram types the docs use.
DIAGRAMS = ("flowchart", "sequenceDiagram", "stateDiagram-v2", "graph")


def test_the_readme_quick_start_is_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    first = next(FENCE.finditer(section))
    lines = [line for line in first["body"].splitlines() if line.strip()]
    assert len(lines) == 2


# -- the API reference lists every public name with its fields ---------------------------


@pytest.fixture(scope="module")
def api_anchors(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The anchors of the built API reference page (``mkdocs build --strict``)."""
    pytest.importorskip("mkdocs")
    import subprocess
    import sys

    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    page = (site / "api" / "index.html").read_text(encoding="utf-8")
    return set(re.findall(r'id="(outlook_sync[^"]+)"', page))


def test_the_api_reference_lists_every_public_name_with_its_fields(api_anchors: set[str]) -> None:
    import inspect

    import outlook_sync
    from outlook_sync.model import Event
    from outlook_sync.protocols import StateStore

    missing = [
        name
        for name in outlook_sync.__all__
        if f"outlook_sync.{name}" not in api_anchors
        and f"{getattr(outlook_sync, name).__module__}.{name}" not in api_anchors
    ]
    assert missing == []
    fields = [f.name for f in attrs.fields(Event)]
    assert [f for f in fields if f"outlook_sync.Event.{f}" not in api_anchors] == []
    methods = [name for name, _ in inspect.getmembers(StateStore) if not name.startswith("_")]
    assert len(methods) >= 15
    assert [m for m in methods if f"outlook_sync.StateStore.{m}" not in api_anchors] == []


def test_the_diagrams_are_drawn_by_the_docs_build() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "pymdownx.superfences" in config
    assert "fence_div_format" in config
    diagrams = [
        (page.name, b.first.split()[0])
        for page in PAGES
        for b in blocks(page)
        if b.lang == "mermaid"
    ]
    pages = {name for name, _ in diagrams}
    assert {"architecture.md", "direct-sync.md"} <= pages
    assert len(diagrams) >= 4


def test_the_readme_names_every_page_of_the_docs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md", "changelog.md"}
    assert sorted(p for p in pages if f"(docs/{p})" not in readme) == []
