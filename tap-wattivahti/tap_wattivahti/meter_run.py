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

from tap_wattivahti.resolution import (
    AUTO,
    HOURLY,
    QUARTER_HOURLY,
    STEP,
    Ask,
    Part,
    Planner,
    Switch,
)
from tap_wattivahti.settlement import (
    DayMark,
    DaySummary,
    Value,
    fingerprint,
    first_kept_day,
    is_due,
    slots,
    values_to_emit,
    window_start,
    withdrawn,
)
from tap_wattivahti.state import INSPECT
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

#: ``resolution`` of a daily total whose day has hourly and then 15-minute periods.
MIXED = f"{HOURLY}+{QUARTER_HOURLY}"
#: The record property that says a record is gone (the SDK's record metadata name): a record
#: with it holds the key properties, this instant, and nulls (docs/design.md, "Records").
DELETED_AT = "_sdc_deleted_at"
_MAX_EXAMPLES = 5
_MAX_SPANS = 12
#: How many days (or other items) a message names before "… and N more".
_MAX_ITEMS = 12

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
    #: The SDK's bookmark lay after now and was taken as the range's last period: the run's
    #: last record must be the newest value, so that the SDK's bookmark comes back to it.
    rewinds: bool = False


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
    #: The real (non-null) values of every local day the run fetched from its midnight on (the
    #: running day too), by day: what ``costs`` prices. Empty when no derived stream takes them.
    days: dict[date, list[Value]] = field(default_factory=dict)
    #: Where the meter's 15-minute grid begins (None: hourly only, as far as known).
    quarters_from: datetime | None = None
    #: The instants of each local day whose records this run deleted (deletion records: values
    #: WattiVahti withdrew, or periods stored at the other resolution before): what the derived
    #: streams' records of those periods must lose too.
    gone: dict[date, list[datetime]] = field(default_factory=dict)


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
        now = datetime.now(UTC)
        self._distrust(now)
        self.range = self._plan(now, bookmark, state.totals_from if owed else None)
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
        self._gone: dict[date, list[datetime]] = {}
        self._summaries: list[DaySummary] = []
        self._owed = owed
        self._days: dict[date, list[Value]] = {}
        self.result: MeterResult | None = None

    # ------------------------------------------------------------------ the range
    def _distrust(self, now: datetime) -> None:
        """One WARNING for the partition's state keys that were dropped (docs/design.md, "A
        state from the future, or by hand")."""
        dropped = self.state.distrust(now)
        if dropped:
            self.logger.warning(
                "Metering point %s, stream %s: in its state, %s (now is %s). A clock that was "
                "ahead, or a hand-edited state: check the machine's clock; this run writes "
                "the state anew. %s.",
                self.code,
                self.kind,
                "; ".join(dropped),
                now.isoformat(timespec="seconds"),
                INSPECT,
            )

    def _plan(self, now: datetime, bookmark: datetime | None, owed: datetime | None) -> Range:
        settings = self.settings
        zone = settings.zone
        floor = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        stop = min(settings.end_date or floor, floor)
        settles = True
        rewinds = bookmark is not None and bookmark > now
        if rewinds and bookmark is not None:
            self.logger.warning(
                "Metering point %s, stream %s: the bookmark %s lies in the future (now is "
                "%s): a clock that was ahead, or a hand-edited state. This run takes it as the "
                "last period of its range (%s), re-reads the settlement window, and brings the "
                "bookmark back to the newest value; if values older than the window are "
                "missing, load them with a bounded backfill (README: Backfills). %s.",
                self.code,
                self.kind,
                bookmark.isoformat(),
                now.isoformat(timespec="seconds"),
                local_text(stop - QUARTER, zone),
                INSPECT,
            )
            bookmark = stop - QUARTER
        if bookmark is not None:
            start = local_midnight((bookmark - settings.lookback).astimezone(zone).date(), zone)
            origin = f"the day of the bookmark {bookmark.isoformat()} minus the lookback"
            window = window_start(bookmark, zone, settings.correction_days)
            if settings.start_date is not None:  # never before the first instant to sync
                window = max(window, settings.start_date)
            due = rewinds or is_due(
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
        return Range(start, stop, bookmark, settles, now, rewinds)

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
        for labels in answer.placement.spring_days:
            self.logger.info(
                "Metering point %s: the %s %s answer for %s to %s: %s.",
                self.code,
                self.kind,
                answer.resolution,
                answer.start.isoformat(),
                answer.stop.isoformat(),
                labels.describe(),
            )
        kept = Decimal(0)
        period = STEP[answer.resolution]
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
                emit, gone, mark = self._settle_day(day, window, by_day.get(day, []))
                for instant, value in _in_order(emit, gone):
                    yield self._deletion(instant) if value is None else make(value)
                    self._last_emitted = instant
                if mark is not None:  # after its records: no STATE claims a day not emitted
                    self.state.mark(day, mark)
        newest = self._newest
        emitted = self._last_emitted is not None or self.range.rewinds
        if newest is not None and emitted and self._last_emitted != newest.instant:
            yield make(newest)  # the bookmark ends at the newest value
            self._last_emitted = newest.instant
        if self.settings.resolution == AUTO:
            self.state.remember_switch(self.switch)
        if self.range.settles:
            self.state.settled_at = self.range.now
        self._finish()

    def _settle_day(
        self, day: date, window: FetchedWindow, values: list[Value]
    ) -> tuple[list[Value], list[datetime], DayMark | None]:
        """What to emit of one local day (new or changed), the instants whose records are gone
        (a changed day's values WattiVahti withdrew, or that were stored at another resolution),
        and its mark (None: a day cut by the range); summarises the day."""
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
        gone: list[datetime] = []
        if whole:
            mark = self._marks.get(day)
            emit, changed = values_to_emit(real, bookmark, mark)
            if changed and bookmark is not None:
                gone = withdrawn(real, mark, day_start, day_stop, bookmark)
        else:  # a day cut by start_date: no mark, only what is new
            emit = [v for v in real if bookmark is None or v.instant > bookmark]
            changed = False
        if changed and day in self._marks:
            self._changed.append(day)
        if gone:
            self._gone[day] = gone
        if real and (self._newest is None or real[-1].instant > self._newest.instant):
            self._newest = real[-1]
        if not whole:
            return emit, gone, None
        if self._owed and (real or day in self._gone):
            self._days[day] = real
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
        stored = slots((value.instant for value in real), day_start)
        return emit, gone, DayMark(fingerprint(real), len(missing), stored)

    def _record(self, value: Value) -> dict[str, t.Any]:
        quantity = value.quantity or Decimal(0)
        return {
            "metering_point": self.code,
            "timestamp": value.instant.isoformat(),
            "resolution": value.resolution,
            f"{self.kind}_kwh": float(quantity),
            f"{self.kind}_wh": float(quantity * 1000),
        }

    def _deletion(self, instant: datetime) -> dict[str, t.Any]:
        """The record that says the record at ``instant`` is gone (docs/design.md, "Records")."""
        return {
            "metering_point": self.code,
            "timestamp": instant.isoformat(),
            "resolution": None,
            f"{self.kind}_kwh": None,
            f"{self.kind}_wh": None,
            DELETED_AT: self.range.now.isoformat(),
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
                listing(day.isoformat() for day in self._changed),
            )
        if self._gone:
            self.logger.info(
                "Metering point %s: %s %s period(s) that may hold a value from an earlier run "
                "have none in WattiVahti now (withdrawn, or stored at another resolution "
                "before): a deletion record was emitted for each, so the target drops them: %s.",
                self.code,
                f"{sum(len(gone) for gone in self._gone.values()):,}",
                self.kind,
                listing(f"{day} ({len(gone)})" for day, gone in self._gone.items()),
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
        # A later day whose values were all withdrawn gets its total again, as it changed.
        summaries = [
            s for s in self._summaries if (last_day and s.day <= last_day) or s.day in self._gone
        ]
        self.result = MeterResult(
            self.kind,
            self.code,
            self.range.start,
            summaries,
            keep_from,
            self._days,
            self._grid_from(),
            self._gone,
        )

    def _grid_from(self) -> datetime | None:
        """Where the meter's 15-minute grid begins, for counting a month's periods: the known
        switch; when no hourly value was ever seen, the 15-minute values seen so far are taken
        to go back as far as the meter's history (None: hourly only)."""
        switch = self.switch
        if switch.quarters_from is None or switch.hourly_until or switch.hours_until:
            return switch.quarters_from
        return datetime.min.replace(tzinfo=UTC)

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
                listing(f"{day} ({m.missing} missing)" for day, m in sorted(left.items())),
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


def listing(items: Iterable[str], limit: int = _MAX_ITEMS) -> str:
    """``items`` joined with commas, the first ``limit`` of them, then "… and N more"."""
    named = list(items)
    if len(named) <= limit:
        return ", ".join(named)
    return f"{', '.join(named[:limit])} \u2026 and {len(named) - limit:,} more"


def _in_order(values: list[Value], gone: list[datetime]) -> list[tuple[datetime, Value | None]]:
    """A day's values and deletions (None) in UTC order, by instant."""
    items: list[tuple[datetime, Value | None]] = [(v.instant, v) for v in values]
    items += [(instant, None) for instant in gone]
    return sorted(items, key=lambda item: item[0])


def _resolution_of(grid: Sequence[Period]) -> str:
    lengths = {period.length for period in grid}
    if lengths == {HOUR}:
        return HOURLY
    if lengths == {QUARTER}:
        return QUARTER_HOURLY
    return MIXED
