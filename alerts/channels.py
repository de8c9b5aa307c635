"""Where alerts go (SPEC §1 `alerts:`): the built-in `file:PATH` and any Apprise URL, behind one
`send(message)` that either takes the message or raises `AlertError` with one line naming no secret.

Secrets reach a channel's `to` only through `${NAME}`, expanded when sources.yaml is loaded. So
what must never be shown is the URL's password and any environment value found in the URL; a
channel is known everywhere else (database, listings, errors) by its key: `to` with those masked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import ClassVar, Protocol
from urllib.parse import quote, unquote, urlsplit

from alerts.message import Message
from pipeline import appendfile
from pipeline.errors import AlertError

MASK = "****"
MIN_SECRET = 6  # shorter environment values (/tmp, a user name) are not secrets
MAX_ERROR = 300
APPRISE_LOGGER = "apprise"
# Apprise's notify type per severity: how chat and push services colour or rank the message
NOTIFY_TYPES = {"high": "failure", "medium": "warning", "low": "info"}  # apprise.NotifyType
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"'()\]\[\n]+)")
_LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) - (.*)$")


class Channel(Protocol):
    """One configured destination. `key` is safe to store and show."""

    @property
    def key(self) -> str: ...

    @property
    def digests(self) -> bool:
        """Whether many alerts in one round go out as one digest message."""
        ...

    def send(self, message: Message) -> None: ...


def secrets(to: str) -> list[str]:
    """What in `to` must never be shown, longest first (so no fragment of one stays visible).
    A `file:` path holds none."""
    if to.startswith("file:"):
        return []
    found = {value for value in os.environ.values() if len(value) >= MIN_SECRET and value in to}
    with contextlib.suppress(ValueError):
        password = urlsplit(to).password
        if password:
            found |= {password, unquote(password)}
    return sorted(found, key=len, reverse=True)


def redact(text: str, hidden: Sequence[str]) -> str:
    """`text` with every secret masked: as written, URL-quoted, and as Apprise abbreviates it."""
    for secret in hidden:
        for form in (secret, quote(secret, safe=""), f"{secret[0]}...{secret[-1]}"):
            text = text.replace(form, MASK)
    return text


def channel_keys(targets: Sequence[str]) -> list[str]:
    """Each channel's key: its `to`, secrets masked; a repeated key gets ` #2`, ` #3`, …"""
    keys: list[str] = []
    for to in targets:
        key = redact(to, secrets(to))
        n = sum(1 for k in keys if k == key or k.startswith(f"{key} #"))
        keys.append(key if n == 0 else f"{key} #{n + 1}")
    return keys


def alert_id(flag_id: int, opened_at: str | None, key: str) -> str:
    """The stable id of one flag's alert on one channel (the same flag and channel → the same id;
    a flag of another database that reuses the number gets another one)."""
    digest = hashlib.sha256(f"{flag_id}|{opened_at}|{key}".encode()).hexdigest()[:12]
    return f"cw-{flag_id}-{digest}"


def channel(to: str, key: str) -> Channel:
    """The channel `to` names: `file:PATH`, or an Apprise URL (raises AlertError if unusable)."""
    if to.startswith("file:"):
        path = urlsplit(to).path if to.startswith("file://") else to.removeprefix("file:")
        if not path:
            raise AlertError("a file: channel needs a path, e.g. file:alerts.jsonl")
        return FileChannel(key, Path(path))
    return AppriseChannel(to, key)


@dataclass(frozen=True)
class FileChannel:
    """Appends each alert's payload as one JSON line. One locked O_APPEND write per message, so
    concurrent writers (two `claimwatch check` runs) never interleave; fsync before it counts."""

    key: str
    path: Path
    digests: ClassVar[bool] = False  # a file floods nobody; one line per alert is easier to read

    def send(self, message: Message) -> None:
        data = b"".join(json.dumps(payload, ensure_ascii=False).encode() + b"\n"
                        for payload in message.payloads)
        try:
            appendfile.append(self.path, data)
        except OSError as exc:
            raise AlertError(f"cannot append to {self.path}: {exc.strerror}") from None


class AppriseChannel:
    """Any Apprise URL (mailto://, json://, slack://, …). HTML goes to services that prefer it;
    the others get the plain text. Apprise's log is captured so a failure says why."""

    digests: ClassVar[bool] = True

    def __init__(self, to: str, key: str) -> None:
        self.key = key
        self._hidden = secrets(to)
        import apprise  # only when alerting: it loads ~100 plugins (0.1 s or more)

        self._apprise = apprise.Apprise()
        with _apprise_log() as log:
            accepted = self._apprise.add(to)
        if not accepted:
            raise AlertError(self._error("Apprise does not accept this URL", log.getvalue()))
        service = next(iter(self._apprise))
        formats = service.notify_format
        preferred = formats[0] if isinstance(formats, tuple | list) else formats
        self._html = preferred == apprise.NotifyFormat.HTML
        self._name = str(service.service_name)

    def send(self, message: Message) -> None:
        import apprise

        body_format = apprise.NotifyFormat.HTML if self._html else apprise.NotifyFormat.TEXT
        with _apprise_log() as log:
            try:
                ok = self._apprise.notify(body=message.html if self._html else message.text,
                                          title=message.title, body_format=body_format,
                                          notify_type=apprise.NotifyType(
                                              NOTIFY_TYPES[message.severity]))
            except Exception as exc:  # a plugin bug is this channel's failure, not the run's
                raise AlertError(self._error(f"{type(exc).__name__}: {exc}", "")) from None
        if not ok:
            raise AlertError(self._error(f"{self._name} did not take the message",
                                         log.getvalue()))

    def _error(self, fallback: str, log: str) -> str:
        """One line: what Apprise warned about, with the OS's reason (e.g. connection refused)."""
        said = [m.group(2).strip() for m in map(_LOG_LINE.match, log.splitlines())
                if m and m.group(1) in ("WARNING", "ERROR", "CRITICAL")]
        said = [line for line in dict.fromkeys(said) if not line.startswith("Could not load")]
        reasons = list(dict.fromkeys(m.group(1).strip().lower() for m in _ERRNO.finditer(log)))
        line = "; ".join(said) or fallback
        if reasons:
            line = f"{line.rstrip('.')}: {', '.join(reasons)}"
        line = redact(" ".join(line.split()), self._hidden)
        return line if len(line) <= MAX_ERROR else line[:MAX_ERROR - 1] + "…"


@contextlib.contextmanager
def _apprise_log() -> Iterator[StringIO]:
    """Apprise's log, down to DEBUG (where the OS's reason is), kept here and not passed on to
    the application's handlers: its debug lines carry URLs and payloads."""
    logger = logging.getLogger(APPRISE_LOGGER)
    propagate, logger.propagate = logger.propagate, False
    try:
        import apprise

        with apprise.LogCapture(name=APPRISE_LOGGER, level=logging.DEBUG,  # type: ignore[no-untyped-call]
                                fmt="%(levelname)s - %(message)s") as log:
            yield log
    finally:
        logger.propagate = propagate
