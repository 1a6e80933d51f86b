"""The in-memory calendars' record of the writes they made, for tests to count."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

__all__ = ["WriteLog"]


class WriteLog(Sequence[tuple[str, str]]):
    """Every backend write a calendar made, oldest first, as ``(operation, item_id)``
    pairs (``"create"``, ``"update"``, ``"delete"``, ``"restore"``).

    Reads as a list of pairs: ``len``, indexing and slicing (a slice is a ``list``),
    iteration, ``==`` with a list or tuple of pairs; :meth:`clear` empties it. The
    operations and ids are kept in two lists of strings, so a bulk write of many items
    adds no object per item.
    """

    __slots__ = ("_ids", "_operations")
    __hash__ = None  # type: ignore[assignment]  # equal to lists, mutable

    def __init__(self, entries: Iterable[tuple[str, str]] = ()) -> None:
        self._operations: list[str] = []
        self._ids: list[str] = []
        for operation, item_id in entries:
            self.append(operation, item_id)

    def append(self, operation: str, item_id: str) -> None:
        """Record one write."""
        self._operations.append(operation)
        self._ids.append(item_id)

    def extend(self, operation: str, item_ids: Sequence[str]) -> None:
        """Record writes of one kind, in order."""
        self._operations.extend(itertools.repeat(operation, len(item_ids)))
        self._ids.extend(item_ids)

    def clear(self) -> None:
        """Forget every write recorded so far."""
        self._operations.clear()
        self._ids.clear()

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> tuple[str, str]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, str]]: ...

    def __getitem__(self, index: int | slice) -> tuple[str, str] | list[tuple[str, str]]:
        if isinstance(index, slice):
            return list(zip(self._operations[index], self._ids[index], strict=True))
        return self._operations[index], self._ids[index]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return zip(self._operations, self._ids, strict=True)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, WriteLog | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"WriteLog({list(self)!r})"
