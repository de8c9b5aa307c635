"""People on the desk (issue 11): accounts with roles, Argon2 password hashes, failed logins
slowed down, API tokens stored only as hashes, and the key that signs the desk's session
cookies. The only writer of account, api_token and desk_setting rows; every change to an account
is an audit event (never a password or a token).

A session is valid while its account is active and its `session_epoch` is the one the cookie
carries: disabling an account or changing its password bumps the epoch, ending every session.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db import audit
from db.models import AccountRow, ApiTokenRow, DeskSettingRow
from pipeline.errors import Conflict, NotFound, Unauthorized, UsageError
from pipeline.vocab import Role, iso

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 10
FREE_FAILURES = 3  # failed logins before each next one waits
MAX_WAIT = 900  # seconds: the longest a run of failed logins locks an account
TOKEN_PREFIX = "cw_"
_HASHER = PasswordHasher()  # argon2id with the library's current defaults


@functools.cache
def _decoy() -> str:
    """A hash to verify against when the name is unknown, so a wrong name costs what a wrong
    password does (made on first use: hashing takes a quarter of a second)."""
    return _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    display_name: str
    role: Role
    active: bool
    session_epoch: int
    created_at: dt.datetime
    last_login_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: AccountRow) -> Account:
        return cls(row.id, row.name, row.display_name, Role(row.role), row.active,
                   row.session_epoch, row.created_at, row.last_login_at)

    def may(self, needed: Role) -> bool:
        return self.active and self.role.allows(needed)

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "display_name": self.display_name, "role": self.role,
                "active": self.active, "created_at": iso(self.created_at),
                "last_login_at": iso(self.last_login_at)}


@dataclass(frozen=True)
class Token:
    id: int
    account: str
    label: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


def add(session: Session, name: str, role: str, password: str, *,
        display_name: str | None = None, now: dt.datetime, by: str = "cli") -> Account:
    """A new account (raises UsageError naming the field at fault, Conflict if taken)."""
    if not NAME.match(name):
        raise UsageError(f"{name!r} is not a login name: use 1–64 lower-case letters, digits, "
                         "'.', '_' or '-'", field="name")
    _check_password(password)
    if session.scalar(select(AccountRow.id).where(AccountRow.name == name)) is not None:
        raise Conflict(f"there is already an account {name!r}", field="name")
    row = AccountRow(name=name, display_name=(display_name or name).strip() or name,
                     role=_role(role), password_hash=_HASHER.hash(password), active=True,
                     session_epoch=0, failed_logins=0, created_at=now)
    session.add(row)
    session.flush()
    _event(session, row, "added", by, role=row.role)
    return Account.from_row(row)


def accounts(session: Session) -> list[Account]:
    return [Account.from_row(row) for row in session.scalars(
        select(AccountRow).order_by(AccountRow.name))]


def set_active(session: Session, name: str, active: bool, *, now: dt.datetime,
               by: str = "cli") -> Account:
    """Disable an account (its sessions end, its tokens are revoked) or enable it again."""
    row = _get(session, name)
    if row.active != active:
        row.active = active
        row.session_epoch += 1
        if not active:
            session.execute(update(ApiTokenRow).where(
                ApiTokenRow.account_id == row.id, ApiTokenRow.revoked_at.is_(None)).values(
                revoked_at=now))
        _event(session, row, "enabled" if active else "disabled", by)
    return Account.from_row(row)


def set_role(session: Session, name: str, role: str, *, by: str = "cli") -> Account:
    row = _get(session, name)
    before, row.role = row.role, _role(role)
    if before != row.role:
        _event(session, row, "role", by, before=before, after=row.role)
    return Account.from_row(row)


def set_password(session: Session, name: str, password: str, *, by: str = "cli") -> Account:
    """A new password; every session of the account ends."""
    _check_password(password)
    row = _get(session, name)
    row.password_hash = _HASHER.hash(password)
    row.session_epoch += 1
    row.failed_logins, row.locked_until = 0, None
    _event(session, row, "password", by)
    return Account.from_row(row)


def login(session: Session, name: str, password: str, *, now: dt.datetime) -> Account:
    """The account whose name and password these are, or Unauthorized (one message for a wrong
    name and a wrong password). After FREE_FAILURES failures in a row each next attempt waits
    longer (1 s, 2 s, 4 s … up to MAX_WAIT), checked before the password is."""
    row = session.scalars(select(AccountRow).where(AccountRow.name == name.strip())).first()
    if row is not None and row.locked_until is not None and row.locked_until > now:
        wait = max(1, int((row.locked_until - now).total_seconds() + 0.999))
        raise Unauthorized(f"too many failed logins: try again in {wait} s", retry_after=wait)
    ok = _verify(row.password_hash if row is not None else _decoy(), password)
    if row is None or not ok or not row.active:
        if row is not None and not ok:
            row.failed_logins += 1
            over = row.failed_logins - FREE_FAILURES
            if over >= 0:
                row.locked_until = now + dt.timedelta(seconds=min(2 ** over, MAX_WAIT))
        raise Unauthorized("wrong name or password" if row is None or not ok
                           else "this account is disabled")
    row.failed_logins, row.locked_until, row.last_login_at = 0, None, now
    if _HASHER.check_needs_rehash(row.password_hash):
        row.password_hash = _HASHER.hash(password)
    return Account.from_row(row)


def session_account(session: Session, account_id: int, epoch: int) -> Account | None:
    """The account a session cookie names, while that session is still valid."""
    row = session.get(AccountRow, account_id)
    if row is None or not row.active or row.session_epoch != epoch:
        return None
    return Account.from_row(row)


def issue_token(session: Session, name: str, label: str, *, now: dt.datetime,
                by: str = "cli") -> tuple[str, Token]:
    """A new API token for the account: the token itself is returned once, never stored."""
    row = _get(session, name)
    if not row.active:
        raise UsageError(f"account {name!r} is disabled", field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_row = ApiTokenRow(account_id=row.id, label=label.strip() or "API token",
                            token_sha256=_digest(token), prefix=token[:10], created_at=now)
    session.add(token_row)
    session.flush()
    _event(session, row, "token-issued", by, token=token_row.id, label=token_row.label)
    return token, _token(token_row, row.name)


def tokens(session: Session, name: str | None = None) -> list[Token]:
    query = select(ApiTokenRow, AccountRow.name).join(
        AccountRow, AccountRow.id == ApiTokenRow.account_id).order_by(ApiTokenRow.id)
    if name is not None:
        query = query.where(AccountRow.name == name)
    return [_token(row, owner) for row, owner in session.execute(query)]


def revoke_token(session: Session, token_id: int, *, now: dt.datetime, by: str = "cli") -> Token:
    row = session.get(ApiTokenRow, token_id)
    if row is None:
        raise NotFound(f"there is no API token {token_id}", field="token")
    owner = session.get(AccountRow, row.account_id)
    assert owner is not None
    if row.revoked_at is None:
        row.revoked_at = now
        _event(session, owner, "token-revoked", by, token=row.id)
    return _token(row, owner.name)


def token_account(session: Session, token: str, *, now: dt.datetime) -> Account | None:
    """The active account an API token (as sent) belongs to, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalars(select(ApiTokenRow).where(
        ApiTokenRow.token_sha256 == _digest(token), ApiTokenRow.revoked_at.is_(None))).first()
    if row is None:
        return None
    account = session.get(AccountRow, row.account_id)
    if account is None or not account.active:
        return None
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        row.last_used_at = now  # at most a write a minute per token
    return Account.from_row(account)


def session_key(session: Session) -> str:
    """The key that signs session cookies, made on first use and shared by every web process
    on the database (so a desk behind a load balancer keeps its sessions)."""
    dialect = importlib.import_module(f"sqlalchemy.dialects.{session.get_bind().dialect.name}")
    session.execute(dialect.insert(DeskSettingRow).values(
        key="session_key", value=secrets.token_urlsafe(48)).on_conflict_do_nothing(
        index_elements=["key"]))
    return session.scalars(select(DeskSettingRow.value).where(
        DeskSettingRow.key == "session_key")).one()


def _get(session: Session, name: str) -> AccountRow:
    row = session.scalars(select(AccountRow).where(AccountRow.name == name)).first()
    if row is None:
        raise NotFound(f"there is no account {name!r}", field="name")
    return row


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UsageError(f"{role!r} is not a role: one of {', '.join(Role)}",
                         field="role") from None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"a password needs at least {MIN_PASSWORD} characters",
                         field="password")


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token(row: ApiTokenRow, owner: str) -> Token:
    return Token(row.id, owner, row.label, row.prefix, row.created_at, row.last_used_at,
                 row.revoked_at)


def _event(session: Session, row: AccountRow, change: str, by: str, **data: object) -> None:
    audit.record(session, "account", {"account": row.name, "change": change, "by": by, **data})
