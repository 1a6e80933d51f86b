"""The decision table: what a linked pair needs, from the state of its two items.

Theory of operation
-------------------
For every linked pair the planner classifies each side's item against the link's base
(the content both sides last agreed on):

``SAME``
    Not listed by an incremental listing (unchanged since the watermark), or listed with
    content equal to the base. A version bump without a content change is ``SAME``:
    change hints may over-report; the content comparison decides.
``CHANGED``
    Listed with content different from the base.
``GONE``
    Reported deleted, or absent from a *complete* listing. Absence from an incremental
    listing is never evidence of deletion.
``BROKEN``
    Present but unreadable (quarantined). It holds its partner: nothing is written for
    the pair and its partner is never deleted because of it.

The table below maps ``(saljstod state, outlook state)`` to a :class:`Decision` and the
side it concerns. It is symmetric: swapping the two states swaps the side. Each row
has a test in ``tests/test_decide.py``.

==========  ==========  =========================================================
Säljstöd    Outlook     decision
==========  ==========  =========================================================
SAME        SAME        NOTHING
SAME        CHANGED     PROPAGATE from Outlook
CHANGED     SAME        PROPAGATE from Säljstöd
CHANGED     CHANGED     RESOLVE (equal edits just refresh the base; else policy)
SAME        GONE        DELETE on Säljstöd (or keep it, per its deletion policy)
GONE        SAME        DELETE on Outlook (or keep it, per its deletion policy)
CHANGED     GONE        RECREATE on Outlook: the edit wins over the delete
GONE        CHANGED     RECREATE on Säljstöd: the edit wins over the delete
GONE        GONE        FORGET the link
BROKEN      any         HOLD: nothing, the item is reported in quarantine
any         BROKEN      HOLD
==========  ==========  =========================================================
"""

from __future__ import annotations

import enum

from outlook_sync.model import Side

__all__ = ["TABLE", "Decision", "State", "decide"]


class State(enum.Enum):
    """How one side's item of a linked pair compares with the link's base."""

    SAME = "same"
    CHANGED = "changed"
    GONE = "gone"
    BROKEN = "broken"


class Decision(enum.Enum):
    """What the pair needs; see the module docstring."""

    NOTHING = "nothing"
    PROPAGATE = "propagate"
    RESOLVE = "resolve"
    DELETE = "delete"
    RECREATE = "recreate"
    FORGET = "forget"
    HOLD = "hold"


_S, _O = Side.SALJSTOD, Side.OUTLOOK
SAME, CHANGED, GONE, BROKEN = State.SAME, State.CHANGED, State.GONE, State.BROKEN

#: ``(saljstod, outlook) -> (decision, side)``. The side is where the content comes
#: from (PROPAGATE), or where the write happens (DELETE, RECREATE).
TABLE: dict[tuple[State, State], tuple[Decision, Side | None]] = {
    (SAME, SAME): (Decision.NOTHING, None),
    (SAME, CHANGED): (Decision.PROPAGATE, _O),
    (CHANGED, SAME): (Decision.PROPAGATE, _S),
    (CHANGED, CHANGED): (Decision.RESOLVE, None),
    (SAME, GONE): (Decision.DELETE, _S),
    (GONE, SAME): (Decision.DELETE, _O),
    (CHANGED, GONE): (Decision.RECREATE, _O),
    (GONE, CHANGED): (Decision.RECREATE, _S),
    (GONE, GONE): (Decision.FORGET, None),
    **{(BROKEN, other): (Decision.HOLD, None) for other in State},
    **{(other, BROKEN): (Decision.HOLD, None) for other in State},
}


def decide(saljstod: State, outlook: State) -> tuple[Decision, Side | None]:
    """Look up the table (total: every combination has a row)."""
    return TABLE[(saljstod, outlook)]
