"""Four-eyes approval: who may give an operation its next approval, and how its card and replies say so.

An operation needs `approvals_required` Confirms (1 unless the service, database or action sets `approvals`),
each by a different person who may confirm its kind (the role, or an admin). The requester's own Confirm may
be the first approval (they have read the plan like anyone else) but never a later one, so with
`approvals: 2` the usual case is "the requester and one other person"; two other people will do as well.
One person counts once. The approval that completes the count runs the operation (bot.operations.actions
claims it in the same transaction); approvals expire with the request.
"""
from __future__ import annotations

from bot.errors import ConflictError, NotAllowedError
from bot.operations.actions import ActionRecord

ORDINAL = {2: "second", 3: "third", 4: "fourth"}


def check(a: ActionRecord, user: str) -> None:
    """Refuse `user` (who holds the role) as `a`'s next approver: ConflictError when they approved it
    already, NotAllowedError when they asked for it and someone approved it before them."""
    if user in a.approvers:
        raise ConflictError(f"You already approved this {a.kind} ({len(a.approvals)} of {a.approvals_required});"
                            " one person counts once. Nothing more was done.")
    if user == a.requested_by and a.approvals:
        nth = ORDINAL.get(len(a.approvals) + 1, "next")
        raise NotAllowedError(f"You asked for this {a.kind}, so you can't be its {nth} approver: a different "
                              "person must confirm it. Nothing was changed.")


def who_else(a: ActionRecord) -> tuple[str, ...]:
    """The people who can no longer give `a` an approval: those who gave one, and the requester once anyone has."""
    out = list(a.approvers)
    if a.approvals and a.requested_by not in out:
        out.append(a.requested_by)
    return tuple(out)


def still_needed(a: ActionRecord, *, confirmers: str) -> str:
    """`needs one more from admins or `sre` (not <@bob>, who asked)`."""
    missing = a.approvals_missing
    more = "one more" if missing == 1 else f"{missing} more"
    names = [f"<@{u}>" + (", who asked" if u == a.requested_by else "") for u in who_else(a)]
    return f"needs {more} from {confirmers}" + (f" (not {', '.join(names)})" if names else "")


def progress(a: ActionRecord, *, confirmers: str, requester_may: bool) -> str:
    """The card's line while more approvals are needed (`requester_may`: the requester holds the role)."""
    if not a.approvals:
        first = f"; <@{a.requested_by}>, who asked, counts only as the first" if requester_may else ""
        return f"Four-eyes: {a.approvals_required} different people must confirm ({confirmers}){first}"
    given = ", ".join(f"<@{u}>" for u in a.approvers)
    return f"Approved by {given} ({len(a.approvals)} of {a.approvals_required}) · " + still_needed(
        a, confirmers=confirmers)


def approved_by(a: ActionRecord) -> str:
    """`approved by <@carol>, <@alice>` for a card that needs more than one approval (else empty)."""
    if a.approvals_required < 2 or not a.approvals:
        return ""
    return "approved by " + ", ".join(f"<@{u}>" for u in a.approvers)
