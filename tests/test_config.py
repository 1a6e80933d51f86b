"""The configuration file: what an operator writes, and the errors that point at the line."""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outlook_sync.cli.template import DEMO, EXAMPLE
from outlook_sync.config import Secret, load_config, parse_config
from outlook_sync.errors import ConfigurationError
from outlook_sync.logging_setup import RedactingFilter, component_logger, fields
from outlook_sync.policy import ConflictPolicy, DeletePolicy

MINIMAL = """
user = "anna"
[saljstod]
backend = "memory"
[outlook]
backend = "memory"
"""


def config_error(text: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        parse_config(tomllib.loads(text))
    return caught.value


def test_the_example_that_init_writes_is_valid_and_names_real_backends(tmp_path: Path) -> None:
    path = tmp_path / "outlook-sync.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    config = load_config(path)
    assert (config.saljstod.name, config.outlook.name, config.state.name) == (
        "sql",
        "graph",
        "sqlite",
    )
    assert config.saljstod.get("path") == tmp_path / "saljstod.db"
    assert config.outlook.get("client_secret_env") == "OUTLOOK_SYNC_GRAPH_SECRET"
    assert config.policy.keep_deleted == dt.timedelta(days=30)
    assert "#" in EXAMPLE  # commented


def test_the_demo_configuration_is_valid_and_keeps_everything_on_disk() -> None:
    config = parse_config(tomllib.loads(DEMO), path=Path("/demo/outlook-sync.toml"))
    assert {config.saljstod.name, config.outlook.name, config.state.name} == {"sql", "sqlite"}
    assert config.state.get("path") == Path("/demo/outlook-sync-state.db")


def test_a_missing_user_is_named() -> None:
    assert config_error(MINIMAL.replace('user = "anna"', "")).key == "user"


def test_a_misspelt_section_gets_a_suggestion() -> None:
    error = config_error(MINIMAL + "[polcy]\nconflict = 'merge'\n")
    assert error.key == "polcy"
    assert "did you mean 'policy'" in str(error)


def test_an_unknown_backend_lists_the_choices() -> None:
    error = config_error(
        MINIMAL.replace('backend = "memory"\n[outlook]', 'backend = "oracle"\n[outlook]')
    )
    assert error.key == "saljstod.backend"
    assert "com, graph, memory, sql" in str(error)


def test_a_state_backend_is_not_a_calendar() -> None:
    error = config_error(
        MINIMAL.replace('[outlook]\nbackend = "memory"', '[outlook]\nbackend = "sqlite"')
    )
    assert error.key == "outlook.backend"


def test_a_value_of_the_wrong_kind_is_named() -> None:
    text = MINIMAL.replace(
        '[outlook]\nbackend = "memory"', '[outlook]\nbackend = "graph"\ntenant_id = 42'
    )
    error = config_error(text)
    assert error.key == "outlook.tenant_id"
    assert "must be a string" in str(error)


def test_an_unknown_option_of_a_backend_is_named() -> None:
    error = config_error(
        MINIMAL.replace(
            '[outlook]\nbackend = "memory"', '[outlook]\nbackend = "graph"\nmailbx = "a"'
        )
    )
    assert error.key == "outlook.mailbx"
    assert "did you mean 'mailbox'" in str(error)


def test_a_secret_written_into_the_file_is_refused_without_repeating_it() -> None:
    text = MINIMAL.replace(
        '[outlook]\nbackend = "memory"',
        '[outlook]\nbackend = "graph"\nclient_secret = "hunter2-very-secret"',
    )
    error = config_error(text)
    assert error.key == "outlook.client_secret"
    assert "client_secret_env" in str(error)
    assert "hunter2" not in str(error)


def test_a_connection_string_in_place_of_a_variable_name_is_refused_unrepeated() -> None:
    text = MINIMAL + '[state]\nbackend = "postgresql"\ndsn_env = "postgresql://sync:pw0rd@db/crm"\n'
    error = config_error(text)
    assert error.key == "state.dsn_env"
    assert "pw0rd" not in str(error)


def test_a_required_option_is_named() -> None:
    error = config_error(MINIMAL + '[state]\nbackend = "sqlite"\n')
    assert error.key == "state.path"


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('conflict = "whoever"', "policy.conflict"),
        ('merge_fallback = "merge"', "policy.merge_fallback"),
        ('outlook_deletions = "shred"', "policy.outlook_deletions"),
        ("mass_delete_share = 1.5", "policy.mass_delete_share"),
        ("mass_delete_min = -1", "policy.mass_delete_min"),
        ('mass_delete_min = "ten"', "policy.mass_delete_min"),
        ("keep_deleted_days = -3", "policy.keep_deleted_days"),
        ("keep_deleted = 3", "policy.keep_deleted"),
    ],
)
def test_policy_errors_name_the_policy_key(line: str, key: str) -> None:
    assert config_error(MINIMAL + f"[policy]\n{line}\n").key == key


def test_policy_values_reach_the_sync_policy() -> None:
    config = parse_config(
        tomllib.loads(
            MINIMAL
            + '[policy]\nconflict = "outlook_wins"\nsaljstod_deletions = "unlink"\n'
            + "mass_delete_min = 3\nkeep_deleted_days = 7\nlock_ttl_minutes = 2.5\n"
        )
    )
    assert config.policy.conflict is ConflictPolicy.OUTLOOK_WINS
    assert config.policy.saljstod_deletions is DeletePolicy.UNLINK
    assert config.policy.mass_delete_min == 3
    assert config.policy.keep_deleted == dt.timedelta(days=7)
    assert config.policy.lock_ttl == dt.timedelta(minutes=2.5)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ('[logging]\nlevel = "loud"\n', "logging.level"),
        ('[logging]\nformat = "xml"\n', "logging.format"),
        ("[watch]\ninterval_seconds = 0\n", "watch.interval_seconds"),
        ("[watch]\nevery = 5\n", "watch.every"),
    ],
)
def test_logging_and_watch_errors_are_named(section: str, key: str) -> None:
    assert config_error(MINIMAL + section).key == key


def test_relative_paths_are_relative_to_the_configuration_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "sync.toml"
    path.write_text(MINIMAL + '[state]\nbackend = "sqlite"\npath = "data/state.db"\n', "utf-8")
    config = load_config(path)
    assert config.state.get("path") == tmp_path / "conf" / "data" / "state.db"


def test_without_a_state_section_the_state_is_a_file_beside_the_configuration(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outlook-sync.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    config = load_config(path)
    assert config.state.name == "sqlite"
    assert config.state.get("path") == tmp_path / "outlook-sync-state.db"


def test_invalid_toml_says_where(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('user = "anna"\n[saljstod\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="line 2"):
        load_config(path)


def test_a_missing_file_suggests_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="outlook-sync init"):
        load_config(tmp_path / "nope.toml")


def test_secrets_come_from_the_environment_and_never_show() -> None:
    config = parse_config(
        tomllib.loads(
            MINIMAL.replace(
                '[outlook]\nbackend = "memory"',
                '[outlook]\nbackend = "graph"\ntoken_env = "GRAPH_TOKEN"',
            )
        )
    )
    secret = config.outlook.secret("token_env", {"GRAPH_TOKEN": "eyJ-top-secret"})
    assert secret is not None
    assert secret.reveal() == "eyJ-top-secret"
    assert "eyJ" not in repr(secret) + str(secret) + repr(config)
    with pytest.raises(ConfigurationError, match="GRAPH_TOKEN") as caught:
        config.outlook.secret("token_env", {})
    assert caught.value.key == "outlook.token_env"


@given(st.text(min_size=1))
def test_a_secret_never_appears_in_its_repr_or_str(value: str) -> None:
    secret = Secret(value, source="X")
    shown = repr(secret) + str(secret)
    assert value not in shown or value in "Secret(source='X')***"


def test_the_redacting_filter_masks_secrets_in_messages_arguments_and_fields() -> None:
    record = logging.LogRecord(
        "outlook_sync.adapters.graph",
        logging.INFO,
        __file__,
        1,
        "token %s refused for %s",
        ("abc123", "anna"),
        None,
    )
    record.__dict__["item_id"] = "id-abc123"
    RedactingFilter(["abc123"]).filter(record)
    assert record.getMessage() == "token *** refused for anna"
    assert record.__dict__["item_id"] == "id-***"


def test_log_fields_reject_typos() -> None:
    assert fields(user="anna", side=None) == {"user": "anna"}
    with pytest.raises(ValueError, match="usr"):
        fields(usr="anna")
    assert component_logger("engine").name == "outlook_sync.engine"


def test_short_secrets_are_masked_where_they_stand_alone_not_inside_words() -> None:
    from outlook_sync.logging_setup import mask_secrets

    # a one-letter password must not garble the message around it
    assert mask_secrets("Säljstöd database p does not exist (password=p)", ["p"]) == (
        "Säljstöd database *** does not exist (password=***)")
    assert mask_secrets("OperationalError: port 9 x", ["x"]) == "OperationalError: port 9 ***"
    # a long secret is masked wherever it occurs, even inside a longer string
    assert mask_secrets("dsn=user:Hunter2Hunter2@db", ["Hunter2Hunter2"]) == "dsn=user:***@db"
