"""Anchors: the audit chain's head kept outside the database, so that a truncated or rewritten
chain shows (docs/deploy.md). An anchor is one line: `{"seq", "hash", "at"}` as `audit head`
prints it, or a checkpoint, the same signed with an Ed25519 key kept off the database. Each
checkpoint is also an event of the chain, so the chain carries signatures of its own past.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import audit
from db.models import AuditEventRow
from pipeline import appendfile
from pipeline.errors import UsageError

CHECKPOINT = "checkpoint"  # the kind of a signed checkpoint's audit event
KEY_PREFIX = "ed25519:"
# what a signature covers: this prefix, then the anchor's canonical JSON; the prefix keeps a
# signature made for anything else from passing as a checkpoint
SIGNED = b"claimwatch audit checkpoint v1\n"
_HASH = re.compile(r"[0-9a-f]{64}")
_TOKENS = re.compile(r"\b(seq|hash|at)=(\S+)")
_CHUNK = 500  # anchored seqs looked up per query


@dataclass(frozen=True)
class Anchor:
    """The chain's event `seq` had `hash` (at `at`); `key`/`sig` when it is a checkpoint."""

    seq: int
    hash: str
    at: str | None
    key: str | None = None  # the signer's public key, "ed25519:BASE64"
    sig: str | None = None  # base64 Ed25519 signature of `signed_bytes()`
    where: str = field(default="", compare=False)  # FILE:LINE or the checkpoint's event

    @property
    def signed(self) -> bool:
        return self.sig is not None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"seq": self.seq, "hash": self.hash, "at": self.at}
        if self.signed:
            data |= {"key": self.key, "sig": self.sig}
        return data

    def line(self) -> str:
        """The anchor as one JSON line (what anchor files hold)."""
        return json.dumps(self.to_json(), separators=(",", ":"))

    def text(self) -> str:
        """The anchor for a person (a ticket, a notebook); `read` accepts it back."""
        return f"seq={self.seq} hash={self.hash} at={self.at or '-'}"

    def signed_bytes(self) -> bytes:
        body = {"seq": self.seq, "hash": self.hash, "at": self.at}
        return SIGNED + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def of_head(head: audit.Head) -> Anchor:
    return Anchor(head.seq, head.hash, head.to_json()["at"])


def current(session: Session) -> Anchor:
    """The chain's head as an anchor."""
    return of_head(audit.head(session))


# --- keys ---------------------------------------------------------------------------------


def key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode()


def parse_key(text: str) -> Ed25519PublicKey | None:
    """A public key written as "ed25519:BASE64", or None when `text` is not one."""
    if not text.startswith(KEY_PREFIX):
        return None
    try:
        raw = base64.b64decode(text[len(KEY_PREFIX):], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        return None


def keygen(path: Path) -> str:
    """Write a new private key to `path` (mode 0600) and its public key to `path`.pub; return
    the public key. Never overwrites a key."""
    public_path = path.with_name(path.name + ".pub")
    key = Ed25519PrivateKey.generate()
    public = key_text(key.public_key())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    for target, data, mode in ((public_path, public + "\n", 0o644), (path, pem.decode(), 0o600)):
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            raise UsageError(f"{target} exists: a key is never overwritten") from None
        except OSError as exc:
            raise UsageError(f"cannot write {target}: {exc.strerror}") from None
        with os.fdopen(fd, "w") as out:
            out.write(data)
    return public


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = _load_pem(path, _read_key(path))
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path} is not an Ed25519 private key (see 'claimwatch audit keygen')")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key from a file: "ed25519:BASE64" (as keygen writes it), a PEM public key, or
    the private key itself (its public half)."""
    data = _read_key(path)
    key = parse_key(data.decode(errors="replace").strip()) or _load_pem(path, data)
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{path} is not an Ed25519 key")
    return key


def _read_key(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read key {path}: {exc.strerror}") from None


def _load_pem(path: Path, data: bytes) -> object:
    try:
        if b"PUBLIC KEY-----" in data:
            return serialization.load_pem_public_key(data)
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, serialization.UnsupportedAlgorithm):
        raise UsageError(f"{path} is not an unencrypted Ed25519 key in PEM") from None


# --- checkpoints ---------------------------------------------------------------------------


def sign(anchor: Anchor, key: Ed25519PrivateKey) -> Anchor:
    return replace(anchor, key=key_text(key.public_key()),
                   sig=base64.b64encode(key.sign(anchor.signed_bytes())).decode())


def signature_ok(anchor: Anchor, key: Ed25519PublicKey) -> bool:
    try:
        key.verify(base64.b64decode(anchor.sig or "", validate=True), anchor.signed_bytes())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def checkpoint(session: Session, key: Ed25519PrivateKey) -> Anchor | None:
    """Sign the chain's head and record the signature as an event of the chain, in the caller's
    transaction; None when there is nothing new to sign (an empty chain, or nothing happened
    since the last checkpoint: an idle daemon does not grow the chain)."""
    audit.flush(session)
    head = audit.head(session)
    if head.seq == 0 or head.kind == CHECKPOINT:
        return None
    signed = sign(of_head(head), key)
    audit.record(session, CHECKPOINT, signed.to_json())
    return signed


# --- anchor files ---------------------------------------------------------------------------


def append(path: Path, anchor: Anchor) -> None:
    try:
        appendfile.append(path, (anchor.line() + "\n").encode(), mode=0o644)
    except OSError as exc:
        raise UsageError(f"cannot append to {path}: {exc.strerror}") from None


def read(path: Path) -> tuple[list[Anchor], list[str]]:
    """The anchors of a file, and a problem per line that is not one. Blank lines and lines
    starting with # are skipped; a line may be JSON (as appended) or `seq=N hash=HEX at=T`
    (as `audit head` prints it, pasted back from a ticket)."""
    try:
        text = path.read_bytes().decode(errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read anchor file {path}: {exc.strerror}") from None
    anchors, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        anchor = parse(line, f"{path}:{number}")
        if anchor is None:
            problems.append(f"{path}:{number}: not an anchor (a JSON line with seq and hash, or "
                            "seq=N hash=HEX)")
        else:
            anchors.append(anchor)
    return anchors, problems


def parse(line: str, where: str) -> Anchor | None:
    if line.startswith("{"):
        try:
            data = json.loads(line)
        except ValueError:
            return None
    else:
        data = dict(_TOKENS.findall(line))
        if "seq" in data and data["seq"].isdigit():
            data["seq"] = int(data["seq"])
        if data.get("at") == "-":
            data["at"] = None
    return from_json(data, where)


def from_json(data: Any, where: str) -> Anchor | None:
    """An anchor from its JSON (`Anchor.to_json`), or None when `data` is not one."""
    if not isinstance(data, dict):
        return None
    seq, digest, at = data.get("seq"), data.get("hash"), data.get("at")
    key, sig = data.get("key"), data.get("sig")
    if not (isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0
            and isinstance(digest, str) and _HASH.fullmatch(digest)
            and (at is None or isinstance(at, str))
            and (key is None) == (sig is None)
            and (key is None or isinstance(key, str) and isinstance(sig, str))):
        return None
    return Anchor(seq, digest, at, key, sig, where)


def chain_checkpoints(session: Session, problems: list[str]) -> list[Anchor]:
    """The checkpoints recorded in the chain (their signatures unchecked); one whose data is
    not a signed checkpoint is a problem."""
    found = []
    for seq, data in session.execute(select(AuditEventRow.seq, AuditEventRow.data)
                                     .where(AuditEventRow.kind == CHECKPOINT)
                                     .order_by(AuditEventRow.seq)):
        anchor = from_json(data, f"checkpoint event seq {seq}")
        if anchor is None or not anchor.signed:
            problems.append(f"checkpoint event seq {seq} holds no signed checkpoint: its data "
                            "was replaced")
        else:
            found.append(anchor)
    return found


# --- checking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorCheck:
    """The chain compared with its anchors: the file's lines and the verified checkpoints."""

    anchors: int  # anchors compared with the chain
    latest: Anchor | None  # the highest anchored event that matches
    signatures: int  # checkpoint signatures verified
    unverified: int  # checkpoints not checked: no public key to check them with
    keys: list[str]  # the public keys signatures were checked with
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check(session: Session, anchors: list[Anchor], public_keys: list[Ed25519PublicKey],
          problems: list[str] | None = None) -> AnchorCheck:
    """Compare the chain with `anchors` (from a file the desk keeps elsewhere) and with the
    checkpoints it carries. Signatures are checked with `public_keys` (several: a key was
    rotated), or else with the keys the file's checkpoints name (the file is what the desk
    trusts); without a key, the chain's own checkpoints prove nothing and are only counted."""
    problems = list(problems or [])
    named = (parse_key(text) for text in sorted({a.key for a in anchors if a.key}))
    trusted = {key_text(k): k for k in (public_keys or [k for k in named if k])}
    inside = chain_checkpoints(session, problems)
    kept, signatures = [], 0
    for anchor in anchors + (inside if trusted else []):
        if anchor.signed:
            forged = _forged(anchor, trusted)
            if forged:
                problems.append(forged)
                continue
            signatures += 1
        kept.append(anchor)
    latest = _compare(session, kept, problems)
    return AnchorCheck(len(kept), latest, signatures, 0 if trusted else len(inside),
                       list(trusted), problems)


def _forged(anchor: Anchor, trusted: dict[str, Ed25519PublicKey]) -> str | None:
    key = trusted.get(anchor.key or "")
    if key is None:
        return (f"{anchor.where}: the checkpoint of seq {anchor.seq} is signed by {anchor.key}, "
                "not by a key of the desk: forged")
    if not signature_ok(anchor, key):
        return (f"{anchor.where}: the signature of the checkpoint of seq {anchor.seq} does not "
                "verify: forged or altered")
    return None


def _compare(session: Session, anchors: list[Anchor], problems: list[str]) -> Anchor | None:
    """Each anchor against the event it names; one line for a rewrite and one for a cut tail
    (every later anchor differs too, so they are counted, not listed)."""
    anchors = sorted((a for a in anchors if a.seq > 0), key=lambda a: a.seq)
    seqs = sorted({a.seq for a in anchors})
    stored: dict[int, str] = {}
    for start in range(0, len(seqs), _CHUNK):
        for seq, digest in session.execute(select(AuditEventRow.seq, AuditEventRow.hash).where(
                AuditEventRow.seq.in_(seqs[start:start + _CHUNK]))):
            stored[seq] = digest
    last = audit.head(session).seq
    latest: Anchor | None = None
    cut = [a for a in anchors if a.seq > last]
    differ = [a for a in anchors if a.seq <= last and stored.get(a.seq) != a.hash]
    for anchor in anchors:  # the first of equals: the file's before the chain's own
        if stored.get(anchor.seq) == anchor.hash and (latest is None or anchor.seq > latest.seq):
            latest = anchor
    if differ:
        first = differ[0]
        found = stored.get(first.seq)
        what = f"has hash {found[:16]}…" if found else "is missing"
        good = max((a.seq for a in anchors if a.seq < first.seq
                    and stored.get(a.seq) == a.hash), default=None)
        since = f" (after seq {good}, which matches its anchor)" if good else ""
        more = f"; {len(differ) - 1} later anchor(s) differ too" if len(differ) > 1 else ""
        problems.append(f"event seq {first.seq} {what} but {first.where} anchors "
                        f"{first.hash[:16]}…: the chain was rewritten at or before seq "
                        f"{first.seq}{since}{more}")
    if cut:
        far = cut[-1]
        problems.append(f"the chain ends at seq {last} but {far.where} anchors seq {far.seq}"
                        f"{f' (at {far.at})' if far.at else ''}: events were deleted from its "
                        f"end ({len(cut)} anchor(s) beyond it)")
    return latest
