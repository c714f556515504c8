"""The settlement window: what a metering point remembers between runs, and what a run re-emits.

Operators fill missing readings and correct values days after the fact. A run therefore works in
whole local days and keeps, in the partition's state next to the SDK's bookmark, a compact mark
per local day that it fetched from midnight: a fingerprint of the values it emitted for the day
and how many periods of the day's grid were missing. A later run that fetches the day again
compares the day's values up to the bookmark with the mark and re-emits the whole day only when
they differ (a fill, a correction, a resolution change); otherwise it emits only what is newer
than the bookmark. Marks are kept only for the days a run may fetch again (the settlement window
and the lookback), so the state stays small however long the history.

Extra keys of a partition's state (the SDK keeps and emits them with the bookmark):

* ``days``: local date → ``[fingerprint, missing periods]``;
* ``settled_at``: when a run last fetched the whole settlement window (UTC);
* ``quarters_from`` / ``hourly_until``: where 15-minute values are known to begin, or known not
  to exist before (the resolution switch), so an incremental run needs a single request;
  ``hours_until``: up to where hourly values were taken (quarter hours never replace them);
* ``totals_from``: set before a run's first record when ``daily_totals`` is selected, to the
  start of the run's range (or an older value still owed), and removed by ``daily_totals`` once
  it has taken the run's day summaries. A run that stopped in between (an SDK STATE in the middle
  of a long backfill, a failure or a signal between the streams) leaves it, and the next run
  fetches from there again, so no ended day goes without its total.

A state without these keys (the tap's earlier versions) simply has no marks: its first run
re-reads the window and emits its days once. Everything here is pure.
"""

from __future__ import annotations

import hashlib
import json
import typing as t
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from tap_wattivahti.timeutil import local_midnight

if t.TYPE_CHECKING:
    from collections.abc import Iterable, MutableMapping
    from zoneinfo import ZoneInfo

DAYS = "days"
SETTLED_AT = "settled_at"
QUARTERS_FROM = "quarters_from"
HOURLY_UNTIL = "hourly_until"
HOURS_UNTIL = "hours_until"
TOTALS_FROM = "totals_from"


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


class Memory:
    """A partition's settlement keys, read from and written straight into its state dict."""

    def __init__(self, state: MutableMapping[str, t.Any]) -> None:
        self._state = state

    # ---------------------------------------------------------------- day marks
    def marks(self) -> dict[date, DayMark]:
        """The day marks; entries that do not parse (a hand-edited state) are ignored."""
        marks: dict[date, DayMark] = {}
        stored = self._state.get(DAYS)
        if not isinstance(stored, dict):
            return marks
        for text, entry in stored.items():
            try:
                day = date.fromisoformat(text)
                hashed, missing = entry
                marks[day] = DayMark(str(hashed), int(missing))
            except (TypeError, ValueError):
                continue
        return marks

    def mark(self, day: date, mark: DayMark) -> None:
        """Remember what was emitted for ``day``."""
        stored = self._state.get(DAYS)
        if not isinstance(stored, dict):
            stored = self._state[DAYS] = {}
        stored[day.isoformat()] = [mark.fingerprint, mark.missing]

    def forget_before(self, first: date) -> dict[date, DayMark]:
        """Drop the marks of days before ``first``; return the dropped ones."""
        dropped = {day: mark for day, mark in self.marks().items() if day < first}
        stored = self._state.get(DAYS)
        if isinstance(stored, dict):
            for day in dropped:
                stored.pop(day.isoformat(), None)
        return dropped

    # ---------------------------------------------------------------- instants
    @property
    def settled_at(self) -> datetime | None:
        return self._instant(SETTLED_AT)

    @settled_at.setter
    def settled_at(self, value: datetime) -> None:
        self._state[SETTLED_AT] = value.isoformat()

    @property
    def quarters_from(self) -> datetime | None:
        return self._instant(QUARTERS_FROM)

    @property
    def hourly_until(self) -> datetime | None:
        return self._instant(HOURLY_UNTIL)

    @property
    def hours_until(self) -> datetime | None:
        return self._instant(HOURS_UNTIL)

    @property
    def totals_from(self) -> datetime | None:
        return self._instant(TOTALS_FROM)

    def owe_totals_from(self, start: datetime) -> None:
        """Daily totals are owed from ``start`` (or from an older instant still owed)."""
        owed = self.totals_from
        self._state[TOTALS_FROM] = min(start, owed or start).isoformat()

    def totals_paid(self) -> None:
        """``daily_totals`` took the run's day summaries: nothing is owed."""
        self._state.pop(TOTALS_FROM, None)

    def remember_switch(
        self,
        quarters_from: datetime | None,
        hourly_until: datetime | None,
        hours_until: datetime | None,
    ) -> None:
        """Keep what is known about the resolution switch for the next run."""
        for key, value in (
            (QUARTERS_FROM, quarters_from),
            (HOURLY_UNTIL, hourly_until),
            (HOURS_UNTIL, hours_until),
        ):
            if value is not None:
                self._state[key] = value.isoformat()

    def _instant(self, key: str) -> datetime | None:
        text = self._state.get(key)
        if not isinstance(text, str):
            return None
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return value if value.tzinfo is not None else None


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
