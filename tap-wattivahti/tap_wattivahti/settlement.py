"""The settlement window's rules as pure functions: day fingerprints, what a day re-emits, when
the window is re-read, which day marks a run keeps (docs/design.md, "The settlement window")."""

from __future__ import annotations

import hashlib
import json
import typing as t
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from tap_wattivahti.timeutil import local_midnight

if t.TYPE_CHECKING:
    from collections.abc import Iterable
    from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Value:
    """One period's value as the API gave it: start (UTC), quantity (``None`` = null), step."""

    instant: datetime
    quantity: Decimal | None
    resolution: str


@dataclass(frozen=True)
class DayMark:
    """What a run emitted for one local day: a fingerprint of its values, and its gaps."""

    fingerprint: str
    missing: int


def fingerprint(values: Iterable[Value]) -> str:
    """A short stable hash of ``values`` (instant, exact quantity, resolution), in the order given.

    Quantities are normalised, so ``0.100`` and ``0.1`` (or ``0`` and ``0.0``) are the same value.
    """
    digest = hashlib.blake2b(digest_size=8)
    for value in values:
        quantity = "null" if value.quantity is None else format(value.quantity.normalize(), "f")
        digest.update(f"{value.instant.isoformat()} {quantity} {value.resolution};".encode())
    return digest.hexdigest()


def record_fingerprint(record: dict[str, t.Any]) -> str:
    """A short stable hash of a JSON-able record."""
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def values_to_emit(
    real: list[Value], bookmark: datetime | None, mark: DayMark | None
) -> tuple[list[Value], bool]:
    """Which of a whole day's real (non-null) values to emit, and whether the day changed.

    Without a bookmark everything is new. With one, the values up to the bookmark were emitted
    before: if their fingerprint differs from the day's mark (or the day has values up to the
    bookmark but no mark), the day changed and all of it is emitted again; else only the values
    after the bookmark are.
    """
    if bookmark is None:
        return real, False
    emitted_before = [value for value in real if value.instant <= bookmark]
    if mark is None:
        changed = bool(emitted_before)
    else:
        changed = mark.fingerprint != fingerprint(emitted_before)
    if changed:
        return real, True
    return [value for value in real if value.instant > bookmark], False


def is_due(
    settled_at: datetime | None, now: datetime, interval: timedelta, correction_days: int
) -> bool:
    """Whether this run re-reads the settlement window (never when ``correction_days`` is 0)."""
    if correction_days <= 0:
        return False
    return settled_at is None or now - settled_at >= interval


def window_start(bookmark: datetime, zone: ZoneInfo, correction_days: int) -> datetime:
    """Local midnight ``correction_days`` days before the bookmark's local day."""
    day = bookmark.astimezone(zone).date() - timedelta(days=correction_days)
    return local_midnight(day, zone)


def first_kept_day(
    bookmark: datetime, zone: ZoneInfo, correction_days: int, lookback: timedelta
) -> date:
    """The first local day a later run may fetch again: marks before it can be dropped."""
    return min(
        (bookmark - lookback).astimezone(zone).date(),
        bookmark.astimezone(zone).date() - timedelta(days=correction_days),
    )


@dataclass(frozen=True)
class DaySummary:
    """One local day of one metering point and kind, as a run that covered it saw it."""

    day: date
    day_start: datetime
    resolution: str
    expected_periods: int
    periods: int
    missing_periods: int
    kwh: Decimal

    def record(self, metering_point: str, kind: str) -> dict[str, t.Any]:
        """The ``daily_totals`` record."""
        return {
            "metering_point": metering_point,
            "kind": kind,
            "date": self.day.isoformat(),
            "day_start": self.day_start.isoformat(),
            "resolution": self.resolution,
            "expected_periods": self.expected_periods,
            "periods": self.periods,
            "missing_periods": self.missing_periods,
            "kwh": float(self.kwh),
            "complete": self.missing_periods == 0,
        }
