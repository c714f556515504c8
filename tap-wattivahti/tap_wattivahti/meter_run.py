"""One metering point's run of a meter stream: its range, its requests, its days, its records.

:class:`MeterRun` is everything a ``consumption`` or ``production`` partition does in one sync,
in the order docs/design.md ("The path of a window of meter data") lists: the range, the request
windows and what the planner asks for each (:meth:`MeterRun.fetched`, the only I/O), then, day by
day, what is new or changed (:meth:`MeterRun.records`), the day marks and summaries, and what it
hands to the derived streams (:attr:`MeterRun.result`). The stream class only feeds it the SDK's
bookmark and state and passes its records on.
"""

from __future__ import annotations

import logging
import typing as t
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from tap_wattivahti.resolution import AUTO, HOURLY, QUARTER_HOURLY, Ask, Part, Planner, Switch
from tap_wattivahti.settlement import (
    DayMark,
    DaySummary,
    Value,
    fingerprint,
    first_kept_day,
    is_due,
    values_to_emit,
    window_start,
)
from tap_wattivahti.timeutil import (
    HOUR,
    QUARTER,
    UTC,
    Period,
    collapse,
    day_grid,
    describe_span,
    local_days,
    local_midnight,
    local_text,
    plan_windows,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from tap_wattivahti.client import Answer
    from tap_wattivahti.settings import Settings
    from tap_wattivahti.state import MeterState

PERIOD = {QUARTER_HOURLY: QUARTER, HOURLY: HOUR}
#: ``resolution`` of a daily total whose day has hourly and then 15-minute periods.
MIXED = f"{HOURLY}+{QUARTER_HOURLY}"
_MAX_EXAMPLES = 5
_MAX_SPANS = 12

#: Sends one ``meterdata2`` request: resolution, start, stop → the placed answer.
Fetch = t.Callable[[str, datetime, datetime], "Answer"]


@dataclass(frozen=True)
class Range:
    """A partition's run: ``[start, stop)``, the bookmark, and whether it re-reads the window."""

    start: datetime
    stop: datetime
    bookmark: datetime | None
    settles: bool
    now: datetime


@dataclass(frozen=True)
class FetchedWindow:
    """One request window's values in UTC order, and where its grid turns quarter-hourly."""

    start: datetime
    stop: datetime
    values: list[Value]
    quarters_from: datetime | None


@dataclass(frozen=True)
class MeterResult:
    """What a meter stream's run learned about one metering point, for the derived streams."""

    kind: str
    metering_point: str
    #: Where the run's range began.
    start: datetime
    #: Every ended local day the run fetched whole, up to the day of the newest value.
    summaries: list[DaySummary]
    #: The first local day a later run may fetch again (older marks may go); None: no bookmark.
    keep_from: date | None


@dataclass
class _Held:
    """Values of one answer that were not kept, by reason (for the sum check)."""

    counts: dict[str, int] = field(default_factory=dict)
    sums: dict[str, Decimal] = field(default_factory=dict)
    unexplained: bool = False

    def add(self, reason: str, quantity: Decimal | None) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.sums[reason] = self.sums.get(reason, Decimal(0)) + (quantity or Decimal(0))

    def total(self) -> Decimal:
        return sum(self.sums.values(), Decimal(0))

    def describe(self) -> str:
        return "; ".join(
            f"{count} value(s) ({self.sums[reason]} kWh) {reason}"
            for reason, count in self.counts.items()
        )


class MeterRun:
    """One metering point's run of one meter stream (``kind``: consumption or production)."""

    def __init__(
        self,
        *,
        settings: Settings,
        kind: str,
        metering_point: str,
        state: MeterState,
        bookmark: datetime | None,
        owed: bool,
        fetch: Fetch,
        logger: logging.Logger,
    ) -> None:
        """Plan the run: ``bookmark`` is the SDK's, ``state`` the partition's, ``owed`` whether
        derived streams take this run's result (then the state notes where the run began until
        they did); ``fetch`` sends one request."""
        self.settings = settings
        self.kind = kind
        self.code = metering_point
        self.state = state
        self.logger = logger
        self._fetch = fetch
        self.range = self._plan(bookmark, state.totals_from if owed else None)
        zone = settings.zone
        self.windows = plan_windows(self.range.start, self.range.stop, zone, settings.window_days)
        known = state.switch
        self.switch = Switch.recalled(
            known.quarters_from, known.hourly_until, known.hours_until, self.range.stop, zone
        )
        self.planner = Planner(settings.resolution, self.windows, self.switch)
        if owed:
            state.owe_from(self.range.start)  # in every STATE until the derived streams took it
        else:
            state.paid()
        self._marks = state.marks()
        self._last_emitted: datetime | None = None
        self._newest: Value | None = None
        self._missing: list[Period] = []
        self._changed: list[date] = []
        self._summaries: list[DaySummary] = []
        self.result: MeterResult | None = None

    # ------------------------------------------------------------------ the range
    def _plan(self, bookmark: datetime | None, owed: datetime | None) -> Range:
        settings = self.settings
        zone = settings.zone
        now = datetime.now(UTC)
        floor = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        stop = min(settings.end_date or floor, floor)
        settles = True
        if bookmark is not None:
            start = local_midnight((bookmark - settings.lookback).astimezone(zone).date(), zone)
            origin = f"the day of the bookmark {bookmark.isoformat()} minus the lookback"
            window = window_start(bookmark, zone, settings.correction_days)
            if settings.start_date is not None:  # never before the first instant to sync
                window = max(window, settings.start_date)
            due = is_due(
                self.state.settled_at, now, settings.correction_interval, settings.correction_days
            )
            if due and window < start:
                start = window
                origin = f"settlement re-read, {settings.correction_days} days before the bookmark"
            if owed is not None and owed < start:
                start = owed
                origin = "daily totals owed since an interrupted run"
            settles = settings.correction_days > 0 and start <= window
        elif settings.start_date is not None:
            start = settings.start_date
            origin = "start_date (no bookmark)"
        else:
            today = now.astimezone(zone).date()
            start = local_midnight(today - timedelta(days=settings.initial_sync_days), zone)
            origin = f"{settings.initial_sync_days} days ago (no bookmark, no start_date)"
        self.logger.info(
            "Metering point %s: %s from %s (%s) to %s.",
            self.code,
            self.kind,
            local_text(start, zone),
            origin,
            local_text(stop, zone),
        )
        return Range(start, stop, bookmark, settles, now)

    # ------------------------------------------------------------------ requests (the only I/O)
    def fetched(self) -> Iterator[FetchedWindow]:
        """Each request window's values, in order, asking what the planner says."""
        for index, (start, stop) in enumerate(self.windows):
            yield self._fetch_window(index, start, stop)

    def _fetch_window(self, index: int, start: datetime, stop: datetime) -> FetchedWindow:
        plan = self.planner.window(index)
        answers: dict[Ask, Answer] = {}
        ask = plan.ask
        while ask is not None:
            answer = answers[ask] = self._fetch(ask.resolution, ask.start, ask.stop)
            readings = answer.placement.readings
            ask = plan.answer(readings[0].instant if readings else None)
        cover = plan.cover
        if cover.probed:
            switch = self.switch
            self.logger.info(
                "Metering point %s: probed for 15-minute values; none before %s%s.",
                self.code,
                switch.hourly_until.isoformat() if switch.hourly_until else "?",
                f", some from {switch.quarters_from.isoformat()}" if switch.quarters_from else "",
            )
        if cover.switch_at is not None:
            self.logger.info(
                "Metering point %s: 15-minute values begin at %s; hourly values before.",
                self.code,
                cover.switch_at.isoformat(),
            )
        values: list[Value] = []
        for part in cover.parts:
            self._keep(answers[part.ask], part, values)
        hours = [v.instant for v in values if v.resolution == HOURLY and v.quantity is not None]
        if hours:  # stored hourly: quarter hours must not take these hours over later
            self.switch.took_hours_until(hours[-1] + HOUR)
        return FetchedWindow(start, stop, values, cover.quarters_from)

    def _keep(self, answer: Answer, part: Part, values: list[Value]) -> None:
        """Add the answer's values that come after ``values`` and lie within the part's limits
        to ``values``, and check the sum of those kept against the API's."""
        held = _Held()
        self._report_rejected(answer, held)
        kept = Decimal(0)
        period = PERIOD[answer.resolution]
        for reading in answer.placement.readings:
            if part.keep_before is not None and reading.instant + period > part.keep_before:
                held.add("overlapping the first 15-minute value", reading.quantity)
                continue
            if part.keep_from is not None and reading.instant < part.keep_from:
                held.add("in an hour taken hourly by an earlier run", reading.quantity)
                continue
            if values and reading.instant <= values[-1].instant:
                held.add("already taken from an earlier answer", reading.quantity)
                continue
            values.append(Value(reading.instant, reading.quantity, answer.resolution))
            kept += reading.quantity or Decimal(0)
        self._check_sum(answer, kept, held)

    def _report_rejected(self, answer: Answer, held: _Held) -> None:
        """One WARNING for the values of an answer that could not be placed (a few named)."""
        rejected = answer.placement.rejected
        if not rejected:
            return
        for value in rejected:
            held.add(f"not placed ({value.reason})", value.quantity)
        held.unexplained = True
        examples = "; ".join(
            f"{value.time} ({value.quantity} kWh) {value.reason}"
            for value in rejected[:_MAX_EXAMPLES]
        )
        more = len(rejected) - _MAX_EXAMPLES
        self.logger.warning(
            "Metering point %s: %d value(s) of the %s %s answer for %s to %s could not be "
            "placed at an instant of their own and were not emitted: %s%s.",
            self.code,
            len(rejected),
            self.kind,
            answer.resolution,
            answer.start.isoformat(),
            answer.stop.isoformat(),
            examples,
            f"; and {more} more" if more > 0 else "",
        )

    def _check_sum(self, answer: Answer, kept: Decimal, held: _Held) -> None:
        if answer.api_sum is None or answer.api_sum == kept:
            return
        explained = not held.unexplained and kept + held.total() == answer.api_sum
        self.logger.log(
            logging.INFO if explained else logging.WARNING,
            "Sum check, metering point %s, %s %s %s to %s: the API's sum is %s kWh, the values "
            "kept sum to %s kWh. Not kept: %s.",
            self.code,
            self.kind,
            answer.resolution,
            answer.start.isoformat(),
            answer.stop.isoformat(),
            answer.api_sum,
            kept,
            held.describe() or "nothing (the difference is unexplained)",
        )

    # ------------------------------------------------------------------ days and records
    def records(
        self,
        fetched: Iterable[FetchedWindow] | None = None,
        record: Callable[[Value], dict[str, t.Any]] | None = None,
    ) -> Iterator[dict[str, t.Any]]:
        """The partition's records in UTC order, day by day, from ``fetched`` (default: fetch
        now); ``record`` makes a record of a value. Sets :attr:`result` at the end."""
        make = record or self._record
        for window in self.fetched() if fetched is None else fetched:
            by_day: dict[date, list[Value]] = {}
            for value in window.values:
                local = value.instant.astimezone(self.settings.zone).date()
                by_day.setdefault(local, []).append(value)
            for day in local_days(window.start, window.stop, self.settings.zone):
                emit, mark = self._settle_day(day, window, by_day.get(day, []))
                for value in emit:
                    yield make(value)
                    self._last_emitted = value.instant
                if mark is not None:  # after its records: no STATE claims a day not emitted
                    self.state.mark(day, mark)
        newest = self._newest
        if self._last_emitted is not None and newest and self._last_emitted < newest.instant:
            yield make(newest)  # the bookmark stays at the newest value
            self._last_emitted = newest.instant
        if self.settings.resolution == AUTO:
            self.state.remember_switch(self.switch)
        if self.range.settles:
            self.state.settled_at = self.range.now
        self._finish()

    def _settle_day(
        self, day: date, window: FetchedWindow, values: list[Value]
    ) -> tuple[list[Value], DayMark | None]:
        """What to emit of one local day (new or changed), and its mark (None: a day cut by
        the range); summarises the day."""
        zone = self.settings.zone
        bookmark = self.range.bookmark
        day_start = local_midnight(day, zone)
        day_stop = local_midnight(day + timedelta(days=1), zone)
        begin, end = max(day_start, window.start), min(day_stop, window.stop)
        grid = [p for p in day_grid(day, zone, window.quarters_from) if begin <= p.start < end]
        real = [value for value in values if value.quantity is not None]
        present = {value.instant for value in real}
        missing = [period for period in grid if period.start not in present]
        self._missing.extend(missing)
        whole = begin == day_start
        if whole:
            emit, changed = values_to_emit(real, bookmark, self._marks.get(day))
        else:  # a day cut by start_date: no mark, only what is new
            emit = [v for v in real if bookmark is None or v.instant > bookmark]
            changed = False
        if changed and day in self._marks:
            self._changed.append(day)
        if real and (self._newest is None or real[-1].instant > self._newest.instant):
            self._newest = real[-1]
        if not whole:
            return emit, None
        if end == day_stop:
            self._summaries.append(
                DaySummary(
                    day=day,
                    day_start=day_start,
                    resolution=_resolution_of(grid),
                    expected_periods=len(grid),
                    periods=len(real),
                    missing_periods=len(missing),
                    kwh=sum((value.quantity or Decimal(0) for value in real), Decimal(0)),
                )
            )
        return emit, DayMark(fingerprint(real), len(missing))

    def _record(self, value: Value) -> dict[str, t.Any]:
        quantity = value.quantity or Decimal(0)
        return {
            "metering_point": self.code,
            "timestamp": value.instant.isoformat(),
            "resolution": value.resolution,
            f"{self.kind}_kwh": float(quantity),
            f"{self.kind}_wh": float(quantity * 1000),
        }

    # ------------------------------------------------------------------ the end of the run
    def _finish(self) -> None:
        """Report what is missing and changed, and make the result for the derived streams."""
        settings = self.settings
        zone = settings.zone
        newest = self._newest
        if self._changed:
            self.logger.info(
                "Metering point %s: %d day(s) of %s changed in WattiVahti since they were "
                "emitted (filled or corrected) and were emitted again: %s.",
                self.code,
                len(self._changed),
                self.kind,
                ", ".join(day.isoformat() for day in self._changed),
            )
        holes = [p for p in self._missing if newest is not None and p.start < newest.instant]
        if holes and newest is not None:
            self._report_holes(holes, newest)
        if newest is not None and len(holes) < len(self._missing):
            self.logger.info(
                "Metering point %s: %s values are available up to %s.",
                self.code,
                self.kind,
                local_text(newest.instant, zone),
            )
        bookmark = self._last_emitted or self.range.bookmark
        keep_from = None
        if bookmark is not None:
            keep_from = first_kept_day(
                max(bookmark, self.range.bookmark or bookmark),
                zone,
                settings.correction_days,
                settings.lookback,
            )
            self._report_leaving(keep_from)
        # Days after the newest value's day are not measured yet (or never: a meter that
        # produces nothing): they get a total once a value on or after them arrives.
        last_day = newest.instant.astimezone(zone).date() if newest else None
        summaries = [s for s in self._summaries if last_day and s.day <= last_day]
        self.result = MeterResult(self.kind, self.code, self.range.start, summaries, keep_from)

    def settle(self) -> None:
        """The derived streams took :attr:`result`: drop the marks that left the window (until
        then a stopped run is redone from ``totals_from``, and the marks keep it from emitting
        the days again) and the note of what was owed."""
        if self.result is not None and self.result.keep_from is not None:
            self.state.forget_before(self.result.keep_from)
        self.state.paid()

    def _report_leaving(self, keep_from: date) -> None:
        left = {day: m for day, m in self.state.marks().items() if day < keep_from and m.missing}
        if left:
            self.logger.warning(
                "Metering point %s: %s of %s left the settlement window (correction_days "
                "= %d) with periods still missing and will not be asked again. If "
                "WattiVahti fills them later, load those days with a bounded backfill "
                "(README: Missing data).",
                self.code,
                self.kind,
                ", ".join(f"{day} ({m.missing} missing)" for day, m in sorted(left.items())),
                self.settings.correction_days,
            )

    def _report_holes(self, holes: list[Period], newest: Value) -> None:
        zone = self.settings.zone
        spans = collapse(holes)
        named = [describe_span(span, zone) for span in spans[:_MAX_SPANS]]
        if len(spans) > _MAX_SPANS:
            rest = spans[_MAX_SPANS:]
            named.append(f"and {len(rest)} more span(s) of {sum(len(s) for s in rest)} period(s)")
        self.logger.warning(
            "Metering point %s: %d %s period(s) before the newest value (%s) are missing in "
            "WattiVahti (null or left out of its answers): %s. The values after them were "
            "emitted; the missing ones are asked again by every settlement re-read while they "
            "are within correction_days (%d) of the bookmark, and show in daily_totals as "
            "incomplete days.",
            self.code,
            len(holes),
            self.kind,
            local_text(newest.instant, zone),
            ", ".join(named),
            self.settings.correction_days,
        )


def _resolution_of(grid: Sequence[Period]) -> str:
    lengths = {period.length for period in grid}
    if lengths == {HOUR}:
        return HOURLY
    if lengths == {QUARTER}:
        return QUARTER_HOURLY
    return MIXED
