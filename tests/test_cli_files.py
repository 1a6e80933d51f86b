"""The files ``outlook-sync`` reads and writes: a configuration error names the file it
is about, and ``init`` writes only into a folder that exists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from outlook_sync.cli import ExitCode, main
from outlook_sync.cli.registry import forget_memory
from tests.test_cli import BASE

UNKNOWN_KEY = BASE + "[logging]\nbogus = 1\n"


@pytest.fixture(autouse=True)
def _fresh_memory() -> Iterator[None]:
    forget_memory()
    yield
    forget_memory()


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# -- a configuration error names the file ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (UNKNOWN_KEY, "unknown key logging.bogus"),
        (BASE + "[policy]\nmass_delete_share = 2\n", "policy.mass_delete_share"),
        ('user = "anna"\n', "[saljstod]"),
    ],
)
def test_an_invalid_file_named_by_config_is_named_in_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["--config", str(path), "status"], environ={}) == ExitCode.CONFIG_ERROR
    err = _error(capsys)
    assert f"outlook-sync: configuration error ({path.resolve()}): " in err
    assert key in err


def test_a_relative_config_path_is_named_in_full(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.toml").write_text(UNKNOWN_KEY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["--config", "mine.toml", "sync"], environ={}) == ExitCode.CONFIG_ERROR
    assert f"configuration error ({tmp_path.resolve() / 'mine.toml'}): unknown key" in (
        _error(capsys)
    )


def test_the_file_named_by_the_environment_is_named_in_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "from-env.toml"
    path.write_text(UNKNOWN_KEY, encoding="utf-8")
    code = main(["plan"], environ={"OUTLOOK_SYNC_CONFIG": str(path)})
    assert code == ExitCode.CONFIG_ERROR
    assert f"configuration error ({path.resolve()}): unknown key logging.bogus" in (
        _error(capsys)
    )


def test_the_default_file_is_named_in_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "outlook-sync.toml").write_text(UNKNOWN_KEY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["status"], environ={}) == ExitCode.CONFIG_ERROR
    wanted = f"configuration error ({tmp_path.resolve() / 'outlook-sync.toml'}): unknown key"
    assert wanted in _error(capsys)


def test_the_json_error_names_the_file_and_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(UNKNOWN_KEY, encoding="utf-8")
    assert main(["--config", str(path), "status", "--json"], environ={}) == (
        ExitCode.CONFIG_ERROR
    )
    data = json.loads(capsys.readouterr().out)
    assert data["key"] == "logging.bogus"
    assert data["exit_code"] == ExitCode.CONFIG_ERROR
    assert data["error"].startswith(f"configuration error ({path.resolve()}): unknown key")


def test_a_message_that_names_the_file_already_does_not_repeat_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.toml"
    assert main(["--config", str(missing), "status"], environ={}) == ExitCode.CONFIG_ERROR
    err = _error(capsys)
    assert f"configuration error: no configuration file at {missing}" in err
    assert err.count(str(missing)) == 1


def test_a_file_that_cannot_be_resolved_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loop = tmp_path / "loop.toml"
    loop.symlink_to(tmp_path / "other.toml")
    (tmp_path / "other.toml").symlink_to(loop)
    assert main(["--config", str(loop), "status"], environ={}) == ExitCode.CONFIG_ERROR
    err = _error(capsys)
    assert f"configuration error: cannot read the configuration file {loop}" in err


def test_a_swedish_user_reads_the_file_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(UNKNOWN_KEY, encoding="utf-8")
    assert main(["--config", str(path), "--lang", "sv", "status"], environ={}) == (
        ExitCode.CONFIG_ERROR
    )
    assert f"fel i konfigurationen ({path.resolve()}): unknown key" in _error(capsys)


# -- init writes only into a folder that exists ----------------------------------------


@pytest.mark.parametrize("demo", [False, True])
def test_init_refuses_a_folder_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], demo: bool
) -> None:
    folder = tmp_path / "no" / "such"
    args = ["init", str(folder / "outlook-sync.toml"), *(["--demo"] if demo else [])]
    assert main(args, environ={}) == ExitCode.USAGE
    err = _error(capsys)
    assert f"usage error: the folder {folder} does not exist (check the path" in err
    assert not (tmp_path / "no").exists()  # no folder was created, nothing written
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_a_missing_folder_named_by_config_or_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "missing" / "outlook-sync.toml"
    assert main(["--config", str(path), "init"], environ={}) == ExitCode.USAGE
    assert f"the folder {path.parent} does not exist" in _error(capsys)
    assert main(["init"], environ={"OUTLOOK_SYNC_CONFIG": str(path)}) == ExitCode.USAGE
    assert f"the folder {path.parent} does not exist" in _error(capsys)
    assert not path.parent.exists()


def test_init_refuses_in_swedish_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "saknas"
    assert main(["--lang", "sv", "init", str(folder / "x.toml")], environ={}) == ExitCode.USAGE
    assert f"mappen {folder} finns inte (kontrollera sökvägen" in _error(capsys)


def test_init_writes_into_an_existing_folder_and_the_current_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    assert main(["init", str(tmp_path / "sub" / "a.toml")], environ={}) == ExitCode.OK
    assert (tmp_path / "sub" / "a.toml").is_file()
    monkeypatch.chdir(tmp_path)
    assert main(["init"], environ={}) == ExitCode.OK  # ./outlook-sync.toml
    assert (tmp_path / "outlook-sync.toml").is_file()
    assert "Wrote outlook-sync.toml" in capsys.readouterr().out
