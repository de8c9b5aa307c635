"""Who on the desk has looked at a flag, and what they said about it: "seen by J. Doe 10 min
ago" in the queue, so two editors don't do the same work, and comments that stay with the flag
(each also an audit event). Neither changes the flag's status: that is `pipeline.flags`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import audit
from db.models import AccountRow, CommentRow, FlagRow, FlagViewRow
from pipeline.errors import NotFound, UsageError
from pipeline.records import flag_record

MAX_COMMENT = 5000


@dataclass(frozen=True)
class Comment:
    by: str
    text: str
    at: dt.datetime


def mark_seen(session: Session, flag_id: int, account_id: int, *, now: dt.datetime) -> None:
    """Record that the account is looking at the flag now (one row per person and flag)."""
    row = session.get(FlagViewRow, (flag_id, account_id))
    if row is None:
        session.add(FlagViewRow(flag_id=flag_id, account_id=account_id, at=now))
    else:
        row.at = now


def comment(session: Session, flag_id: int, account_id: int, text: str, *,
            now: dt.datetime) -> Comment:
    text = text.strip()
    if not text:
        raise UsageError("the comment is empty", field="text")
    if len(text) > MAX_COMMENT:
        raise UsageError(f"a comment holds at most {MAX_COMMENT} characters", field="text")
    flag = session.get(FlagRow, flag_id)
    if flag is None:
        raise NotFound(f"there is no flag {flag_id}", field="flag")
    account = session.get(AccountRow, account_id)
    assert account is not None
    session.add(CommentRow(flag_id=flag_id, account_id=account_id, text=text, at=now))
    record = flag_record(session, flag)
    audit.record(session, "comment", {"flag": flag_id, "by": account.display_name,
                                      "text": text}, source=record.source, claim=record.claim)
    return Comment(account.display_name, text, now)


def comments(session: Session, flag_id: int) -> list[Comment]:
    return [Comment(name, text, at) for name, text, at in session.execute(
        select(AccountRow.display_name, CommentRow.text, CommentRow.at)
        .join(AccountRow, AccountRow.id == CommentRow.account_id)
        .where(CommentRow.flag_id == flag_id).order_by(CommentRow.id))]
