"""Fast construction of frozen, slotted attrs values whose fields are already checked.

``attrs``' generated ``__init__`` parses keywords, runs every validator and sets each
field through ``object.__setattr__``; a sync building one value per item for 100 000
items pays for that in seconds. The functions here are generated once per class:
straight-line code that sets each slot through its own descriptor. They skip the
validators, so they are only for values the caller has already checked (a validated
value's fields, a backend's own ids); ``tests/test_model.py`` checks that they build
exactly what the class's ``__init__`` builds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["builder", "copier"]

_FACTORY: type = type(attrs.Factory(list))  # a field default computed per instance


def _slot_setters(cls: Any) -> dict[str, Any]:
    """``_set_<field>``: each field's slot setter (cheaper than ``object.__setattr__``,
    which looks the slot up again on every call)."""
    return {f"_set_{field.name}": cls.__dict__[field.name].__set__
            for field in attrs.fields(cls)}


def _compiled(name: str, lines: list[str], cls: Any,
              defaults: dict[str, Any] | None = None) -> Callable[..., Any]:
    namespace: dict[str, Any] = {"_new": object.__new__, "cls": cls, **_slot_setters(cls),
                                 **(defaults or {})}
    exec("\n".join(lines), namespace)  # noqa: S102 - the code is built from field names
    built: Callable[..., Any] = namespace[name]
    return built


def copier(cls: Any, name: str) -> Callable[[Any, object], Any]:
    """A function copying a ``cls`` value with field ``name`` set to a new value.

    Only for a field that no validator or post-init check of the class depends on:
    the caller checks the new value itself.
    """
    lines = ["def copy(instance, value):", "    new = _new(cls)"]
    for field in attrs.fields(cls):
        source = "value" if field.name == name else f"instance.{field.name}"
        lines.append(f"    _set_{field.name}(new, {source})")
    lines.append("    return new")
    return _compiled("copy", lines, cls)


def builder(cls: Any, name: str = "build", doc: str | None = None) -> Callable[..., Any]:
    """A function building a ``cls`` value from every field's value, positionally in
    field order, without running validators or ``__attrs_post_init__``.

    Trailing fields with a plain default (not a factory) may be left out, as with the
    class's ``__init__``. ``name`` and ``doc`` become the function's name and docstring.
    """
    fields = attrs.fields(cls)
    optional = 0  # how many trailing fields have a plain default
    for field in reversed(fields):
        if field.default is attrs.NOTHING or isinstance(field.default, _FACTORY):
            break
        optional += 1
    required = len(fields) - optional
    params = [field.name if index < required else f"{field.name}=_default_{field.name}"
              for index, field in enumerate(fields)]
    lines = [f"def {name}({', '.join(params)}):", "    new = _new(cls)"]
    lines += [f"    _set_{field.name}(new, {field.name})" for field in fields]
    lines.append("    return new")
    built = _compiled(name, lines, cls, {f"_default_{field.name}": field.default
                                         for field in fields[required:]})
    built.__doc__ = doc
    built.__qualname__ = name
    built.__module__ = cls.__module__
    return built
