"""The fake ``UserProperties`` / ``UserProperty`` and ``Recipients`` of an appointment.

- ``UserProperties.Add(Name, Type, AddToFolderFields=True, DisplayFormat)``: the name is at
  most 64 characters without ``[ ] _ #``; with ``AddToFolderFields=False`` the field exists on
  the item only (not shown in the folder's view, and not usable in ``Restrict``).
  https://learn.microsoft.com/en-us/office/vba/api/outlook.userproperties.add
- A custom property of type olDateTime keeps only whole minutes in the fake (the product
  team's observation, matching the minute precision of Outlook's date comparisons), which is
  why the adapter stores its keys as text.
- ``Recipients`` of a meeting: https://learn.microsoft.com/en-us/office/vba/api/outlook.recipients
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from outlook_sync.testing.outlook_com._errors import invalid_argument
from outlook_sync.testing.outlook_com._store import Record, UserProp

__all__ = ["PropertyOwner", "Recipient", "Recipients", "UserProperties", "UserProperty"]

OL_TEXT = 1
OL_DATETIME = 5


class PropertyOwner(Protocol):
    """What the collections need of their item (``AppointmentItem`` is one; it lives above)."""

    _state: Record

    def _enter(self, member: str) -> None: ...

    def _touch(self) -> None: ...


class UserProperty:
    """One custom property (``Name``, ``Type``, ``Value``)."""

    def __init__(self, item: PropertyOwner, name: str) -> None:
        self._item = item
        self._name = name

    def _prop(self) -> UserProp:
        self._item._enter("UserProperty")
        prop: UserProp = self._item._state.user_props[self._name]
        return prop

    @property
    def Name(self) -> str:
        return self._name

    @property
    def Type(self) -> int:
        return self._prop().type

    @property
    def Value(self) -> Any:
        return self._prop().value

    @Value.setter
    def Value(self, value: Any) -> None:
        prop = self._prop()
        if prop.type == OL_DATETIME:
            if not isinstance(value, dt.datetime):
                raise invalid_argument("Value: a date is required")
            value = value.replace(second=0, microsecond=0)
        elif prop.type == OL_TEXT:
            value = "" if value is None else str(value)
        prop.value = value
        self._item._touch()


class UserProperties:
    """The custom properties of one item object (``Add``, ``Find``, ``Item``, ``Remove``)."""

    def __init__(self, item: PropertyOwner) -> None:
        self._item = item

    @property
    def Count(self) -> int:
        self._item._enter("UserProperties.Count")
        return len(self._item._state.user_props)

    def Add(
        self,
        Name: str,
        Type: int,
        AddToFolderFields: bool = True,
        DisplayFormat: int | None = None,
    ) -> UserProperty:
        self._item._enter("UserProperties.Add")
        if not Name or len(Name) > 64 or any(ch in Name for ch in "[]_#"):
            raise invalid_argument("The property name is not valid.")
        props = self._item._state.user_props
        if Name in props:
            raise invalid_argument(f"A property named {Name!r} already exists.")
        props[Name] = UserProp(
            type=Type, value="" if Type == OL_TEXT else None, add_to_folder=bool(AddToFolderFields)
        )
        self._item._touch()
        return UserProperty(self._item, Name)

    def Find(self, Name: str, Custom: bool = True) -> UserProperty | None:
        self._item._enter("UserProperties.Find")
        if Name in self._item._state.user_props:
            return UserProperty(self._item, Name)
        return None

    def Item(self, Index: int | str) -> UserProperty:
        self._item._enter("UserProperties.Item")
        names = list(self._item._state.user_props)
        if isinstance(Index, str):
            if Index not in names:
                raise invalid_argument(f"No property named {Index!r}.")
            return UserProperty(self._item, Index)
        if not 1 <= Index <= len(names):
            raise invalid_argument("Array index out of bounds.")
        return UserProperty(self._item, names[Index - 1])

    def Remove(self, Index: int) -> None:
        self._item._enter("UserProperties.Remove")
        names = list(self._item._state.user_props)
        if not 1 <= Index <= len(names):
            raise invalid_argument("Array index out of bounds.")
        del self._item._state.user_props[names[Index - 1]]
        self._item._touch()


class Recipient:
    """An attendee (only ``Name`` is modelled)."""

    def __init__(self, name: str) -> None:
        self.Name = name


class Recipients:
    """The attendees of a meeting (``Add``, ``Count``, ``Item``)."""

    def __init__(self, item: PropertyOwner) -> None:
        self._item = item

    @property
    def Count(self) -> int:
        self._item._enter("Recipients.Count")
        return len(self._item._state.recipients)

    def Add(self, Name: str) -> Recipient:
        self._item._enter("Recipients.Add")
        self._item._state.recipients.append(Name)
        self._item._touch()
        return Recipient(Name)

    def Item(self, Index: int) -> Recipient:
        self._item._enter("Recipients.Item")
        return Recipient(self._item._state.recipients[Index - 1])
