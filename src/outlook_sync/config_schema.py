"""A JSON Schema of the ``outlook-sync`` TOML configuration, made from its definitions.

The schema is generated from the same data :mod:`outlook_sync.config` validates with
(the backend specs and their options, the ``[policy]``, ``[filter]`` and
``[directions]`` keys, the enums), so an editor's completion and validation can never
drift from what ``outlook-sync`` accepts. ``outlook-sync schema`` prints it; point an
editor at the file, for example with a first line ``#:schema ./outlook-sync.schema.json``
(Taplo / Even Better TOML).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from outlook_sync.config import (
    BACKENDS,
    DIRECTION_DEFAULT_KEY,
    FILTER_KEYS,
    POLICY_KEYS,
    SQL_MAPPING_KEY,
    TOP_LEVEL,
    BackendSpec,
)
from outlook_sync.model import Side
from outlook_sync.policy import DeletePolicy
from outlook_sync.records import ConflictPolicy
from outlook_sync.scope import FIELD_UNITS, Direction

__all__ = ["SCHEMA_ID", "json_schema"]

#: The schema's ``$id``.
SCHEMA_ID = "https://outlook-sync.invalid/schema/outlook-sync.schema.json"

_KINDS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "path": {"type": "string", "description": "a file path, relative to this file"},
    "env": {"type": "string", "pattern": "^[A-Za-z0-9_]+$"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
}
# TOML dates reach JSON-based validators as strings (Taplo maps them to "date"/"date-time").
_WHEN = {
    "anyOf": [
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
    ]
}


def _backend_variant(spec: BackendSpec) -> dict[str, Any]:
    properties: dict[str, Any] = {"backend": {"const": spec.name, "description": spec.summary}}
    for option in spec.options:
        entry = dict(_KINDS[option.kind])
        description = option.help
        if option.kind == "env":
            description = f"{description} (the variable's name, never the secret)".strip()
        if description:
            entry["description"] = description
        if option.default is not None:
            entry["default"] = option.default
        properties[option.name] = entry
    if spec.name == "sql":
        properties[SQL_MAPPING_KEY] = {
            "type": "object",
            "description": "the host's own tables and columns (docs/sql.md, SqlMapping)",
        }
    required = ["backend", *(o.name for o in spec.options if o.required)]
    variant: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if spec.extra:
        variant["description"] = f"needs pip install 'outlook_sync[{spec.extra}]'"
    return variant


def _section(role: str, backends: Sequence[BackendSpec], title: str) -> dict[str, Any]:
    return {
        "description": title,
        "oneOf": [_backend_variant(spec) for spec in backends if role in spec.roles],
    }


def _policy() -> dict[str, Any]:
    conflict = [p.value for p in ConflictPolicy]
    fallback = [p.value for p in ConflictPolicy if p.value.endswith("_wins")]
    deletes = [p.value for p in DeletePolicy]
    properties: dict[str, Any] = {}
    for key, (_attr, kind) in POLICY_KEYS.items():
        if key == "conflict":
            properties[key] = {"enum": conflict}
        elif key == "merge_fallback":
            properties[key] = {"enum": fallback}
        elif key.endswith("_deletions"):
            properties[key] = {"enum": deletes}
        elif key == "mass_delete_share":
            properties[key] = {"type": "number", "minimum": 0, "maximum": 1}
        elif kind == "sides":
            properties[key] = {
                "type": "array",
                "items": {"enum": [side.value for side in Side]},
                "uniqueItems": True,
                "description": "sides never written to "
                "(their changes still travel to the other side)",
            }
        elif kind == "int":
            properties[key] = {"type": "integer", "minimum": 1}
        else:
            properties[key] = {"type": "number", "minimum": 0}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def _filter() -> dict[str, Any]:
    kinds = {
        "names": {"type": "array", "items": {"type": "string"}},
        "bool": {"type": "boolean"},
        "when": _WHEN,
    }
    return {
        "type": "object",
        "description": "which items sync (only these categories, a date range, ...)",
        "properties": {key: kinds[kind] for key, kind in FILTER_KEYS.items()},
        "additionalProperties": False,
    }


def _directions() -> dict[str, Any]:
    choice = {"enum": [d.value for d in Direction]}
    properties = {DIRECTION_DEFAULT_KEY: {**choice, "description": "every field unit"}}
    properties.update({unit: dict(choice) for unit in FIELD_UNITS})
    return {
        "type": "object",
        "description": "which way changes of linked items travel, per field unit",
        "properties": properties,
        "additionalProperties": False,
    }


def json_schema(backends: Sequence[BackendSpec] = BACKENDS) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the configuration file.

    Args:
        backends: the backends it may name (the command line passes the installed
            third-party ones too).
    """
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "outlook-sync configuration",
        "type": "object",
        "required": ["user", "saljstod", "outlook"],
        "additionalProperties": False,
        "properties": {
            "user": {"type": "string", "minLength": 1, "description": "whose calendars"},
            "saljstod": _section("calendar", backends, "the Säljstöd side"),
            "outlook": _section("calendar", backends, "the Outlook side"),
            "state": _section("state", backends, "where links, cursors and logs are kept"),
            "policy": _policy(),
            "filter": _filter(),
            "directions": _directions(),
            "watch": {
                "type": "object",
                "properties": {"interval_seconds": {"type": "number", "exclusiveMinimum": 0}},
                "additionalProperties": False,
            },
            "logging": {
                "type": "object",
                "properties": {
                    "level": {"enum": ["debug", "info", "warning", "error"]},
                    "format": {"enum": ["text", "json"]},
                    "file": {"type": "string"},
                },
                "additionalProperties": False,
            },
        },
    }
    properties: dict[str, Any] = schema["properties"]
    for key in TOP_LEVEL:  # a section read elsewhere (server mode's [server])
        properties.setdefault(key, {"type": "object", "description": f"the [{key}] section"})
    return schema
