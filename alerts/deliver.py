"""The dispatcher: sends the outbox's due alerts, at least once, without flooding anyone.

Each message is marked sent in its own small transaction right after the channel took it, so a
crash in between sends it again next time (with the same `alert_id`, for receivers to drop). A
channel that fails gets its alerts back with exponential backoff (`retry:` per channel) until
they are given up as `failed`; it never blocks the checks or the other channels. More than
`digest_over` alerts for one channel in one round go out as one digest message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from alerts.channels import Channel, channel, channel_keys
from alerts.message import Message, alert_message, digest_message
from db import Store, audit, leases, utcnow
from db.models import AlertRow
from pipeline import archive
from pipeline.config import AlertChannel, Config, Retry
from pipeline.errors import AlertError, NotFound, UsageError
from pipeline.records import ArchiveRecord
from pipeline.vocab import AlertStatus

Sender = Callable[[Channel, Message], None]  # sends one message, or raises AlertError

CLAIM = dt.timedelta(minutes=10)  # how long a deliverer holds the alerts it sends


@dataclass(frozen=True)
class Due:
    """An alert to send this round (plain data, read in one short transaction)."""

    id: int
    alert_id: str
    channel: str
    payload: dict[str, Any]
    attempts: int


@dataclass
class DeliveryReport:
    sent: int = 0  # alerts delivered this round
    messages: int = 0  # messages they went out in (digests carry several)
    retrying: int = 0  # alerts whose channel failed this round; tried again later
    failed: int = 0  # alerts given up this round
    pending: int = 0  # alerts still waiting after the round (retrying ones included)
    errors: list[str] = field(default_factory=list)  # one line per failure: "CHANNEL: why"

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "pending": self.pending,
                "errors": self.errors}


def deliver(store: Store, config: Config, *, now: dt.datetime | None = None,
            sender: Sender | None = None) -> DeliveryReport:
    """Send every pending alert that is due at `now` (default: now); report what happened."""
    now = now or utcnow()
    send = sender or _send
    specs = dict(zip(channel_keys([spec.to for spec in config.alerts]), config.alerts,
                     strict=True))
    report = DeliveryReport()
    claimed = _due(store, now)
    try:
        for key, group in groupby(claimed, key=lambda alert: alert.channel):
            alerts = list(group)
            spec = specs.get(key)
            if spec is None:
                _failed(store, Retry(attempts=1), alerts,
                        "the channel is no longer in sources.yaml", now, report)
                continue
            try:
                target = channel(spec.to, key)
            except AlertError as exc:
                _failed(store, spec.retry, alerts, str(exc), now, report)
                continue
            _deliver_channel(store, spec, target, alerts, now, send, report)
    except BaseException:
        # a failure we live through gives the claims back at once (a dead process's claims
        # run out after CLAIM): what was sent but not marked goes again, same alert_id
        with store.session() as session:
            session.execute(update(AlertRow).where(
                AlertRow.id.in_([a.id for a in claimed]), AlertRow.status == AlertStatus.PENDING,
                AlertRow.next_attempt_at == now + CLAIM).values(next_attempt_at=now))
        raise
    with store.session() as session:
        report.pending = session.scalar(select(func.count()).select_from(AlertRow)
                                        .where(AlertRow.status == AlertStatus.PENDING)) or 0
    return report


def _deliver_channel(store: Store, spec: AlertChannel, target: Channel, alerts: list[Due],
                     now: dt.datetime, send: Sender, report: DeliveryReport) -> None:
    """One channel's round: one digest, or one message per alert until the channel fails."""
    batches = [alerts] if target.digests and len(alerts) > spec.digest_over \
        else [[alert] for alert in alerts]
    for i, batch in enumerate(batches):
        message = alert_message(batch[0].payload) if len(batch) == 1 \
            else digest_message(digest_id(batch), [alert.payload for alert in batch])
        try:
            send(target, message)
        except AlertError as exc:  # the channel is down: its other alerts wait with this one
            rest = [alert for later in batches[i:] for alert in later]
            _failed(store, spec.retry, rest, str(exc), now, report)
            return
        _mark_sent(store, batch, now, message.alert_id if len(batch) > 1 else None)
        report.sent += len(batch)
        report.messages += 1


def digest_id(alerts: list[Due]) -> str:
    """The same alerts digested again (after a crash) get the same id."""
    blob = "|".join(sorted(alert.alert_id for alert in alerts))
    return f"cw-digest-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def backoff(retry: Retry, attempts: int) -> int:
    """Seconds to wait after the `attempts`-th failed try: first, doubling, at most max."""
    return retry.delay(attempts)


def _send(target: Channel, message: Message) -> None:
    target.send(message)


def _due(store: Store, now: dt.datetime) -> list[Due]:
    """Claim the pending alerts that are due: their next attempt moves `CLAIM` ahead, in one
    statement, so a cron `check` and a daemon delivering at once never both send one. A
    deliverer that dies leaves them due again when the claim runs out."""
    with store.session() as session:
        due = select(AlertRow.id).where(AlertRow.status == AlertStatus.PENDING,
                                        AlertRow.next_attempt_at <= now)
        claimed = leases.claim_alerts(session, due, now=now, hold=CLAIM)
        rows = session.scalars(select(AlertRow).where(AlertRow.id.in_(claimed))
                               .order_by(AlertRow.channel, AlertRow.id)).all()
        found = archive.links(session, [(r.payload.get(key) or {}).get("id") for r in rows
                                        for key in ("baseline", "snapshot")])
        return [Due(r.id, r.alert_id, r.channel, with_archive(r.payload, found), r.attempts)
                for r in rows]


def with_archive(payload: dict[str, Any], found: dict[int, ArchiveRecord]) -> dict[str, Any]:
    """The payload as sent: its snapshots carry their public archive links as known now (the
    new version's capture may still be under way; the baseline's is usually done)."""
    out = dict(payload)
    for key in ("baseline", "snapshot"):
        snap = payload.get(key)
        if snap and snap.get("id") in found:
            out[key] = {**snap, "archive": found[snap["id"]].link_json()}
    return out


def _mark_sent(store: Store, alerts: list[Due], now: dt.datetime, digest: str | None) -> None:
    with store.session() as session:
        session.execute(update(AlertRow).where(AlertRow.id.in_([a.id for a in alerts]))
                        .values(status=AlertStatus.SENT, sent_at=now,
                                attempts=AlertRow.attempts + 1, digest_id=digest,
                                last_error=None))
        for alert in alerts:
            _event(session, alert.alert_id, alert.channel, alert.payload, "sent", digest=digest)


def _failed(store: Store, retry: Retry, alerts: list[Due], error: str, now: dt.datetime,
            report: DeliveryReport) -> None:
    """Record a failed try: back off, or give up after `retry.attempts` tries."""
    with store.session() as session:
        for alert in alerts:
            row = session.get(AlertRow, alert.id)
            assert row is not None
            row.attempts = alert.attempts + 1
            row.last_error = error
            if row.attempts >= retry.attempts:
                row.status = AlertStatus.FAILED
                report.failed += 1
            else:
                row.next_attempt_at = now + dt.timedelta(seconds=backoff(retry, row.attempts))
                report.retrying += 1
            _event(session, row.alert_id, row.channel, row.payload,
                   "failed" if row.status == AlertStatus.FAILED else "retrying", error=error)
    report.errors.append(f"{alerts[0].channel}: {error}")


def requeue(store: Store, alert_ids: list[str] | None = None) -> list[str]:
    """Make undelivered alerts (all, or these) due now: failed ones go back in the outbox with
    all their tries, pending ones stop waiting out their backoff (a channel was just fixed)."""
    with store.session() as session:
        query = select(AlertRow).where(AlertRow.status.in_([AlertStatus.FAILED,
                                                            AlertStatus.PENDING]))
        if alert_ids:
            found = {row.alert_id: row.status for row in session.scalars(
                select(AlertRow).where(AlertRow.alert_id.in_(alert_ids)))}
            for wanted in alert_ids:
                if wanted not in found:
                    raise NotFound(f"no alert {wanted!r}", field="alert_id")
                if found[wanted] == AlertStatus.SENT:
                    raise UsageError(f"alert {wanted!r} was sent already", field="alert_id")
            query = query.where(AlertRow.alert_id.in_(alert_ids))
        rows = session.scalars(query.order_by(AlertRow.id)).all()
        for row in rows:
            if row.status == AlertStatus.FAILED:
                row.status, row.attempts = AlertStatus.PENDING, 0
                _event(session, row.alert_id, row.channel, row.payload, "requeued")
            row.next_attempt_at = utcnow()
        return [row.alert_id for row in rows]


def _event(session: Session, alert_id: str, channel: str, payload: dict[str, Any], status: str,
           **extra: Any) -> None:
    """An alert's move in the audit log (`claimwatch history`), in the same transaction."""
    flag = payload["flag"]
    audit.record(session, "alert", {"alert_id": alert_id, "flag": flag["id"], "channel": channel,
                                    "status": status, **extra},
                 source=flag["source"], claim=flag["claim"])
