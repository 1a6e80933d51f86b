"""A codec on ``changed_at`` is refused when the mapping is built, with the reason.

The watermark is compared with ``changed_at`` in SQL (``changed_at >= ?``), where no
codec can run: a codec there would be accepted and silently ignored, and incremental
listings would compare the raw column. Naive timestamps have ``naive_time_zone``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from outlook_sync.adapters.sql import SqlMapping, upgrade
from outlook_sync.cli import ExitCode
from outlook_sync.cli.registry import forget_memory
from outlook_sync.errors import ConfigurationError
from tests.test_cli import Cli


class EpochSeconds:
    """changed_at stored as seconds since 1970 (what a host might want a codec for)."""

    def decode(self, raw: object) -> dt.datetime:
        return dt.datetime.fromtimestamp(float(str(raw)), dt.UTC)

    def encode(self, value: dt.datetime) -> int:
        return int(value.timestamp())


@pytest.fixture(autouse=True)
def _fresh_memory() -> Iterator[None]:
    forget_memory()
    yield
    forget_memory()


def _says_why_and_what_to_do(error: ConfigurationError) -> None:
    text = str(error)
    assert "changed_at takes no codec" in text
    assert "in SQL (changed_at >= ?)" in text  # why
    assert "timestamps the database can compare as they are" in text
    assert "for timestamps without a UTC offset, set naive_time_zone" in text  # what to do


def test_a_changed_at_codec_is_refused_in_python() -> None:
    with pytest.raises(ConfigurationError) as caught:
        SqlMapping(codecs={"changed_at": EpochSeconds()})
    assert caught.value.key == "codecs.changed_at"
    _says_why_and_what_to_do(caught.value)


def test_a_changed_at_codec_is_refused_in_the_mapping_table() -> None:
    spec = f"{__name__}:EpochSeconds"
    with pytest.raises(ConfigurationError) as caught:
        SqlMapping.from_config({"codecs": {"changed_at": spec}})
    assert caught.value.key == "mapping.codecs.changed_at"
    _says_why_and_what_to_do(caught.value)


def test_codecs_of_content_fields_are_still_taken() -> None:
    mapping = SqlMapping.from_config({"codecs": {"location": f"{__name__}:EpochSeconds"}})
    assert isinstance(mapping.codecs["location"], EpochSeconds)
    with pytest.raises(ConfigurationError) as caught:
        SqlMapping.from_config({"codecs": {"colour": f"{__name__}:EpochSeconds"}})
    assert "'colour' is not a mapped field" in str(caught.value)
    assert "changed_at" not in str(caught.value)  # not offered as a field a codec may take


def test_the_command_line_refuses_it_as_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crm = tmp_path / "crm.db"
    connection = sqlite3.connect(crm)
    upgrade(connection)
    connection.close()
    path = tmp_path / "outlook-sync.toml"
    path.write_text(
        'user = "anna"\n[saljstod]\nbackend = "sql"\n'
        f'path = "{crm}"\n'
        "[saljstod.mapping.codecs]\n"
        f'changed_at = "{__name__}:EpochSeconds"\n'
        '[outlook]\nbackend = "memory"\n'
        f'[state]\nbackend = "sqlite"\npath = "{tmp_path / "state.db"}"\n',
        encoding="utf-8",
    )
    cli = Cli(path, capsys)
    assert cli("plan") == ExitCode.CONFIG_ERROR
    assert "codecs.changed_at" in cli.err
    assert "changed_at takes no codec (for timestamps without a UTC offset, set " \
        "naive_time_zone): the watermark is compared with it in SQL" in cli.err
    assert "…" not in cli.err  # the whole reason fits on the line
    assert "Traceback" not in cli.err
