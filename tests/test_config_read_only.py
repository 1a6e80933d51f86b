"""``[policy] read_only`` in the configuration file: the sides the sync only reads."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from outlook_sync.cli import ExitCode
from outlook_sync.cli.registry import forget_memory
from outlook_sync.config import load_config, parse_config
from outlook_sync.config_schema import json_schema
from outlook_sync.errors import ConfigurationError
from outlook_sync.model import Side
from tests.conftest import require
from tests.test_cli import BASE, Cli, meeting

MINIMAL = 'user = "anna"\n[saljstod]\nbackend = "memory"\n[outlook]\nbackend = "memory"\n'


@pytest.fixture(autouse=True)
def _fresh_memory() -> Iterator[None]:
    forget_memory()
    yield
    forget_memory()


def test_a_file_with_read_only_outlook_loads_into_a_read_only_policy(tmp_path: Path) -> None:
    path = tmp_path / "outlook-sync.toml"
    path.write_text(MINIMAL + '[policy]\nread_only = ["outlook"]\n', encoding="utf-8")
    assert load_config(path).policy.read_only == frozenset({Side.OUTLOOK})


@pytest.mark.parametrize(
    ("value", "sides"),
    [('["saljstod"]', {Side.SALJSTOD}), ('["outlook", "saljstod"]', set(Side)), ("[]", set())],
)
def test_read_only_takes_either_side(value: str, sides: set[Side]) -> None:
    config = parse_config(tomllib.loads(MINIMAL + f"[policy]\nread_only = {value}\n"))
    assert config.policy.read_only == frozenset(sides)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('["exchange"]', "'exchange' is not a side; use \"saljstod\" or \"outlook\""),
        ('["Säljstöd"]', "'Säljstöd' is not a side"),
        ('"outlook"', "must be a list of sides"),
        ("[1]", "must be a list of sides"),
        ("true", "must be a list of sides"),
    ],
)
def test_a_bad_read_only_value_is_an_error_naming_the_key(value: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_config(tomllib.loads(MINIMAL + f"[policy]\nread_only = {value}\n"))
    assert caught.value.key == "policy.read_only"
    assert str(caught.value).startswith("policy.read_only")
    assert words in str(caught.value)
    assert 'read_only = ["outlook"]' in str(caught.value)  # how to write it


def test_the_schema_knows_read_only() -> None:
    jsonschema = require("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    good = tomllib.loads(MINIMAL + '[policy]\nread_only = ["outlook"]\n')
    bad = tomllib.loads(MINIMAL + '[policy]\nread_only = ["exchange"]\n')
    assert not list(validator.iter_errors(good))
    assert list(validator.iter_errors(bad))


def test_a_sync_with_outlook_read_only_writes_nothing_to_outlook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "outlook-sync.toml"
    path.write_text(
        BASE + f'[state]\nbackend = "sqlite"\npath = "{tmp_path / "state.db"}"\n'
        '[policy]\nread_only = ["outlook"]\n',
        encoding="utf-8",
    )
    cli = Cli(path, capsys)
    cli.saljstod.add(meeting("Kundmöte"))
    cli.outlook.add(meeting("Tandläkare", day=2))
    assert cli("sync") == ExitCode.OK, cli.err
    assert [event.subject for event in cli.outlook.items().values()] == ["Tandläkare"]
    assert sorted(event.subject for event in cli.saljstod.items().values()) == [
        "Kundmöte", "Tandläkare"
    ]
