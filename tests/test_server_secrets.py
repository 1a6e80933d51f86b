"""Server mode never shows a DSN's password: not in an error, not in a log line.

libpq quotes the part of a DSN it cannot parse (``invalid percent-encoded token:
"Pct%zzSecret55"``, ``failed to resolve host "ssSecretAt77@…"``), and Procrastinate and
psycopg's pool pass such messages on. ``server web`` and ``server worker`` must report one
redacted line and exit 1 (``ExitCode.ERROR``: the state store / a database failed), with
no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.conftest import require_extra

require_extra("server", "procrastinate", "psycopg", "starlette", "uvicorn")

from outlook_sync.cli.exit_codes import ExitCode  # noqa: E402
from outlook_sync.errors import StateError  # noqa: E402
from outlook_sync.server.config import ServerConfig, parse_server_config  # noqa: E402

SECRET = "Secret55"
#: DSNs libpq cannot parse and quotes from: a bad percent escape in the password (user
#: info, ``?password=``), and an unencoded "@" in it.
BAD_DSNS = {
    "percent token": f"postgresql://u:Pct%zz{SECRET}@127.0.0.1:1/db",
    "query password": f"postgresql://u@127.0.0.1:1/db?password=Pct%zz{SECRET}",
    "unencoded at": f"postgresql://u:ss{SECRET}@x@127.0.0.1:1/db",
}

CONFIG = """\
[saljstod]
backend = "sql"
database = "postgresql"
dsn_env = "STATE_DSN"

[outlook]
backend = "graph"
base_url = "http://127.0.0.1:9/v1.0"
token_env = "TEST_TOKEN"

[state]
backend = "postgresql"
dsn_env = "STATE_DSN"

[server]
"""


def _run(tmp_path: Path, command: str, dsn: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "outlook-sync.toml"
    path.write_text(CONFIG, encoding="utf-8")
    env = {**os.environ, "STATE_DSN": dsn, "TEST_TOKEN": "test-token-not-a-word"}
    return subprocess.run(
        [sys.executable, "-m", "outlook_sync.cli", "--config", str(path), "server", command],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )


@pytest.mark.parametrize(("command", "form"), [
    ("web", "percent token"), ("web", "query password"), ("web", "unencoded at"),
    ("worker", "percent token"),
])
def test_a_dsn_libpq_cannot_parse_is_one_redacted_line(
    tmp_path: Path, command: str, form: str
) -> None:
    done = _run(tmp_path, command, BAD_DSNS[form])
    output = done.stdout + done.stderr
    assert done.returncode == ExitCode.ERROR, output
    assert SECRET not in output
    assert "Traceback" not in output
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("outlook-sync: state store error: cannot prepare the job queue's "
                           "database (STATE_DSN): "), line
    assert "***" in line


# -- in-process: a good queue database, a state database that cannot be parsed -------------

def _config(tmp_path: Path) -> ServerConfig:
    text = CONFIG + 'queue_dsn_env = "QUEUE_DSN"\n'
    return parse_server_config(tomllib.loads(text), path=tmp_path / "outlook-sync.toml")


@pytest.mark.postgres
def test_the_state_database_failing_after_the_queue_opened_is_redacted(
    tmp_path: Path, schema_dsn: str
) -> None:
    from outlook_sync.server.web import serve
    from outlook_sync.server.worker import prepare_database

    environ = {"QUEUE_DSN": schema_dsn, "STATE_DSN": BAD_DSNS["percent token"],
               "TEST_TOKEN": "test-token-not-a-word"}
    config = _config(tmp_path)
    with pytest.raises(StateError) as caught:
        asyncio.run(prepare_database(config, environ))
    assert SECRET not in str(caught.value)
    assert "***" in str(caught.value)
    with pytest.raises(StateError) as caught:  # the web process: before uvicorn starts
        serve(config, environ)
    assert SECRET not in str(caught.value)


def test_a_database_error_from_the_queue_is_a_redacted_state_error() -> None:
    import psycopg
    from procrastinate import exceptions as pexc

    from outlook_sync.server.queue import DATABASE_ERRORS, database_error
    from outlook_sync.sql.connect import dsn_secrets, register_secret

    dsn = BAD_DSNS["percent token"]
    register_secret(*dsn_secrets(dsn))
    with pytest.raises(DATABASE_ERRORS) as raw:
        psycopg.connect(dsn)
    assert SECRET in str(raw.value)  # what libpq says
    error = database_error(raw.value, "the job queue's database failed")
    assert isinstance(error, StateError)
    assert str(error) == ("the job queue's database failed: ProgrammingError: invalid "
                          'percent-encoded token: "***"')

    wrapped = pexc.ConnectorException()  # Procrastinate's wrapper: the cause says why
    wrapped.__cause__ = raw.value
    assert str(database_error(wrapped, "x")) == (
        'x: ProgrammingError: invalid percent-encoded token: "***"')


# -- log lines ----------------------------------------------------------------------------

class _Ctx:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.args = argparse.Namespace(verbose=0, quiet=False)
        self.environ = environ

    def say(self, text: str = "") -> None:
        print(text)

    def warn(self, text: str) -> None:
        print(text, file=sys.stderr)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_library_log_lines_and_tracebacks_are_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    from outlook_sync.cli.server_commands import _logging

    dsn = f'postgresql://u:Pct%zz{SECRET}"q@127.0.0.1:1/db'
    path = tmp_path / "outlook-sync.toml"
    path.write_text(f'[logging]\nformat = "{fmt}"\n\n' + CONFIG, encoding="utf-8")
    config = parse_server_config(tomllib.loads(path.read_text()), path=path)
    with _logging(config, _Ctx({"STATE_DSN": dsn, "TEST_TOKEN": "test-token-not-a-word"})):
        try:
            raise RuntimeError(f'invalid percent-encoded token: "Pct%zz{SECRET}"q"')
        except RuntimeError:
            logging.getLogger("procrastinate.worker").exception("job failed")
        logging.getLogger("psycopg.pool").warning("error connecting: %s", dsn)
        logging.getLogger("uvicorn.error").error("startup: %s", dsn)
    err = capsys.readouterr().err
    assert "job failed" in err
    assert "Traceback" in err  # the traceback is kept, its secrets masked
    assert "error connecting" in err
    assert "startup" in err
    assert SECRET not in err
    assert not logging.getLogger("procrastinate").handlers  # put back afterwards
