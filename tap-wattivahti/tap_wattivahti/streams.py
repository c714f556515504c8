"""The streams: ``consumption`` and ``production`` (one record per period) and ``daily_totals``.

**Range.** Per metering point (one partition each) a run fetches whole local days: from local
midnight of the day of the bookmark minus ``lookback_hours`` (without a bookmark: ``start_date``,
else local midnight ``initial_sync_days`` ago) up to now. When the settlement re-read is due
(``correction_days`` > 0 and the last one, kept in state, is ``correction_interval_hours`` old)
the range starts at local midnight ``correction_days`` days before the bookmark's day instead
(never before ``start_date``). A run whose range covers that window, like a first run, counts as
a re-read.

**Emission** (see :mod:`tap_wattivahti.settlement`). Day by day, in UTC order, a day fetched from
its midnight is compared with the mark kept for it: unchanged, only the values after the bookmark
are emitted; changed (a fill, a correction), the whole day is emitted again. ``null`` and absent
periods are never emitted and never stop the values after them: the bookmark is the newest value.
The SDK's bookmark is the last record's ``timestamp``: while a changed older day is re-emitted it
is briefly behind, so a run stopped right then (and a STATE sent then) only makes the next run
fetch more, never less; a re-read that re-emits an older day and nothing newer repeats the newest
value last, so a finished run leaves the bookmark at the newest value. A day's mark is written
after its records, so a stopped run never claims a day it did not emit.

**Missing periods.** Each local day has a grid (:func:`tap_wattivahti.timeutil.day_grid`); a grid
period with no value is missing. Once per run and partition, one WARNING names the missing spans
before the newest value in local time; later ones are the usual not-yet-measured tail (INFO). A
day whose mark still counts missing periods when it leaves the settlement window is named too:
it is not asked again.

**Resolution.** Which requests cover each window is planned by
:class:`tap_wattivahti.resolution.Planner` (``auto``: 15-minute values wherever they exist,
hourly values elsewhere, never both for one period, at about one request per window); what it
learns about the meter's switch is kept in the partition's state.

**Integrity.** For each answer, the sum of the values kept is compared with the API's own
``sum.quantity``; a difference is logged with what was left out and why (INFO when the rules
above explain it, WARNING otherwise). Values the API sent that cannot be placed (a time in the
spring gap, sent too often, outside the window) are named in one WARNING per answer.

**daily_totals.** The meter streams summarise every ended local day that a run fetched whole, up
to the day of the newest value (later days are not measured yet), from the answers they already
have (expected grid, values, missing periods, kWh), and hand the summaries to the
``daily_totals`` stream, which the tap syncs after them. It keeps its own marks
(a fingerprint per day in the settlement window, per metering point and kind) and emits a day
when it is new or its summary changed. Before its first record a meter partition notes in its
state where the run's range began (``totals_from``); ``daily_totals`` removes the note once it
has the summaries. A run stopped in between (a STATE the SDK sends in the middle of a long
backfill, a failure or a signal between the streams) leaves the note, and the next run fetches
from there again: days it emitted already are not emitted again (their marks or the bookmark
say so), and every ended day gets its total, however old.
"""

from __future__ import annotations

import logging
import typing as t
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from singer_sdk import typing as th
from typing_extensions import override

from tap_wattivahti.client import Answer, TapStream, WattiVahtiStream
from tap_wattivahti.resolution import AUTO, HOURLY, QUARTER_HOURLY, Ask, Part, Planner, Switch
from tap_wattivahti.settlement import (
    DayMark,
    DaySummary,
    Memory,
    Value,
    fingerprint,
    first_kept_day,
    is_due,
    record_fingerprint,
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
    from collections.abc import Iterator, Sequence

    from singer_sdk.helpers.types import Context

    from tap_wattivahti.tap import TapWattiVahti

PERIOD = {QUARTER_HOURLY: QUARTER, HOURLY: HOUR}
#: ``resolution`` of a daily total whose day has hourly and then 15-minute periods.
MIXED = f"{HOURLY}+{QUARTER_HOURLY}"
KINDS = ("consumption", "production")
_MAX_EXAMPLES = 5
_MAX_SPANS = 12


def record_schema(quantity: str) -> dict[str, t.Any]:
    """The JSON schema of a stream whose quantity is called ``quantity``."""
    return th.PropertiesList(
        th.Property(
            "metering_point", th.StringType, required=True, description="Metering point code."
        ),
        th.Property(
            "timestamp",
            th.DateTimeType,
            required=True,
            description="Start of the period, UTC.",
        ),
        th.Property(
            "resolution",
            th.StringType,
            required=True,
            allowed_values=[QUARTER_HOURLY, HOURLY],
            description="Length of the period as the API names it.",
        ),
        th.Property(f"{quantity}_kwh", th.NumberType, required=True, description="Energy in kWh."),
        th.Property(
            f"{quantity}_wh",
            th.NumberType,
            required=True,
            description="Energy in Wh (kWh times 1000).",
        ),
    ).to_dict()


DAILY_SCHEMA = th.PropertiesList(
    th.Property("metering_point", th.StringType, required=True, description="Metering point code."),
    th.Property(
        "kind",
        th.StringType,
        required=True,
        allowed_values=list(KINDS),
        description="consumption or production.",
    ),
    th.Property("date", th.DateType, required=True, description="The local date."),
    th.Property(
        "day_start",
        th.DateTimeType,
        required=True,
        description="Local midnight at the start of the day, as a UTC instant.",
    ),
    th.Property(
        "resolution",
        th.StringType,
        required=True,
        allowed_values=[QUARTER_HOURLY, HOURLY, MIXED],
        description=f"Length of the day's periods; {MIXED} on the day a meter switched.",
    ),
    th.Property(
        "expected_periods",
        th.IntegerType,
        required=True,
        description="Periods the day must have: 96 (92, 100 on DST days) or 24 (23, 25).",
    ),
    th.Property("periods", th.IntegerType, required=True, description="Periods with a value."),
    th.Property(
        "missing_periods",
        th.IntegerType,
        required=True,
        description="Periods of the day that WattiVahti left null or left out.",
    ),
    th.Property("kwh", th.NumberType, required=True, description="Sum of the day's values."),
    th.Property(
        "complete", th.BooleanType, required=True, description="True when nothing is missing."
    ),
).to_dict()


@dataclass(frozen=True)
class _Plan:
    """One partition's run: ``[start, stop)``, the bookmark, and whether it re-reads the window."""

    start: datetime
    stop: datetime
    bookmark: datetime | None
    settles: bool
    now: datetime


@dataclass(frozen=True)
class _Window:
    """The values of one request window in UTC order, and where its grid turns quarter-hourly."""

    values: list[Value]
    quarters_from: datetime | None


@dataclass
class _Progress:
    """What one partition's run has emitted and seen so far."""

    last_emitted: datetime | None = None
    newest: Value | None = None
    missing: list[Period] = field(default_factory=list)
    changed: list[date] = field(default_factory=list)
    summaries: list[DaySummary] = field(default_factory=list)


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


class _Settled(TapStream):
    """A stream whose records come in order per partition, so the bookmark advances as they
    flow (an interrupted run resumes), except that a changed day of the settlement window is
    emitted again, before the bookmark (the SDK would call that unsorted)."""

    @property
    @override
    def is_sorted(self) -> bool:
        """True: in order per partition."""
        return True

    @property
    @override
    def check_sorted(self) -> bool:
        """False: a changed day comes again, before the bookmark."""
        return False


class MeterDataStream(_Settled, WattiVahtiStream):
    """A stream of one ``measurementType``: one record per period and metering point."""

    primary_keys = ("metering_point", "timestamp")
    replication_key = "timestamp"
    #: Prefix of the quantity fields: ``consumption`` → ``consumption_kwh``, ``consumption_wh``.
    quantity_name: t.ClassVar[str]

    @property
    @override
    def partitions(self) -> list[dict]:
        """One partition per metering point."""
        return [{"metering_point": code} for code in self.settings.metering_points]

    @override
    def compare_start_date(self, value: str, start_date_value: str) -> str:
        """A bookmark wins over ``start_date`` (the SDK would take the later of the two)."""
        return value

    # ------------------------------------------------------------------ the range to sync
    def sync_plan(self, context: Context, memory: Memory) -> _Plan:
        """The range of one partition's run and whether it re-reads the settlement window."""
        settings = self.settings
        zone = settings.zone
        now = datetime.now(UTC)
        floor = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        stop = min(settings.end_date or floor, floor)
        has_bookmark = bool(self.get_context_state(context).get("replication_key_value"))
        bookmark = self.get_starting_timestamp(context) if has_bookmark else None
        settles = True
        if bookmark is not None:
            start = local_midnight((bookmark - settings.lookback).astimezone(zone).date(), zone)
            origin = f"the day of the bookmark {bookmark.isoformat()} minus the lookback"
            window = window_start(bookmark, zone, settings.correction_days)
            if settings.start_date is not None:  # never before the first instant to sync
                window = max(window, settings.start_date)
            due = is_due(
                memory.settled_at, now, settings.correction_interval, settings.correction_days
            )
            if due and window < start:
                start = window
                origin = f"settlement re-read, {settings.correction_days} days before the bookmark"
            owed = memory.totals_from if self._daily_totals() else None
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
            context["metering_point"],
            self.name,
            local_text(start, zone),
            origin,
            local_text(stop, zone),
        )
        return _Plan(start, stop, bookmark, settles, now)

    # ------------------------------------------------------------------ records
    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        """Records of one partition in UTC order, day by day (see the module docstring)."""
        assert context is not None
        code = str(context["metering_point"])
        settings = self.settings
        memory = Memory(self.get_context_state(context))
        plan = self.sync_plan(context, memory)
        if self._daily_totals():
            memory.owe_totals_from(plan.start)  # in every STATE until daily_totals took them
        else:
            memory.totals_paid()
        windows = plan_windows(plan.start, plan.stop, settings.zone, settings.window_days)
        switch = Switch.recalled(
            memory.quarters_from, memory.hourly_until, memory.hours_until, plan.stop, settings.zone
        )
        planner = Planner(settings.resolution, windows, switch)
        marks = memory.marks()
        progress = _Progress()
        for index, (start, stop) in enumerate(windows):
            window = self._fetch_window(code, context, planner, index)
            by_day: dict[date, list[Value]] = {}
            for value in window.values:
                by_day.setdefault(value.instant.astimezone(settings.zone).date(), []).append(value)
            for day in local_days(start, stop, settings.zone):
                span = (start, stop)
                yield from self._settle_day(code, day, span, window, by_day.get(day, []),
                                            plan, marks, memory, progress)  # fmt: skip
        newest = progress.newest
        if progress.last_emitted is not None and newest and progress.last_emitted < newest.instant:
            yield self._record(code, newest)  # the bookmark stays at the newest value
            progress.last_emitted = newest.instant
        if settings.resolution == AUTO:
            memory.remember_switch(switch.quarters_from, switch.hourly_until, switch.hours_until)
        if plan.settles:
            memory.settled_at = plan.now
        self._finish(code, plan, memory, progress)

    def _settle_day(
        self,
        code: str,
        day: date,
        span: tuple[datetime, datetime],
        window: _Window,
        values: list[Value],
        plan: _Plan,
        marks: dict[date, DayMark],
        memory: Memory,
        progress: _Progress,
    ) -> Iterator[dict[str, t.Any]]:
        """Emit what is new or changed of one local day; mark and summarise the day."""
        zone = self.settings.zone
        day_start = local_midnight(day, zone)
        day_stop = local_midnight(day + timedelta(days=1), zone)
        begin, end = max(day_start, span[0]), min(day_stop, span[1])
        grid = [p for p in day_grid(day, zone, window.quarters_from) if begin <= p.start < end]
        real = [value for value in values if value.quantity is not None]
        present = {value.instant for value in real}
        missing = [period for period in grid if period.start not in present]
        progress.missing.extend(missing)
        whole = begin == day_start
        if whole:
            emit, changed = values_to_emit(real, plan.bookmark, marks.get(day))
        else:  # a day cut by start_date: no mark, only what is new
            emit = [v for v in real if plan.bookmark is None or v.instant > plan.bookmark]
            changed = False
        if changed and day in marks:
            progress.changed.append(day)
        for value in emit:
            yield self._record(code, value)
            progress.last_emitted = value.instant
        if real and (progress.newest is None or real[-1].instant > progress.newest.instant):
            progress.newest = real[-1]
        if not whole:
            return
        memory.mark(day, DayMark(fingerprint(real), len(missing)))
        if end == day_stop:
            progress.summaries.append(
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

    def _record(self, code: str, value: Value) -> dict[str, t.Any]:
        quantity = value.quantity or Decimal(0)
        return {
            "metering_point": code,
            "timestamp": value.instant.isoformat(),
            "resolution": value.resolution,
            f"{self.quantity_name}_kwh": float(quantity),
            f"{self.quantity_name}_wh": float(quantity * 1000),
        }

    def _finish(self, code: str, plan: _Plan, memory: Memory, progress: _Progress) -> None:
        """Report what is missing and changed, drop marks that left the window, hand over totals."""
        settings = self.settings
        zone = settings.zone
        newest = progress.newest
        if progress.changed:
            self.logger.info(
                "Metering point %s: %d day(s) of %s changed in WattiVahti since they were "
                "emitted (filled or corrected) and were emitted again: %s.",
                code,
                len(progress.changed),
                self.name,
                ", ".join(day.isoformat() for day in progress.changed),
            )
        holes = [p for p in progress.missing if newest is not None and p.start < newest.instant]
        if holes and newest is not None:
            self._report_holes(code, holes, newest)
        if newest is not None and len(holes) < len(progress.missing):
            self.logger.info(
                "Metering point %s: %s values are available up to %s.",
                code,
                self.name,
                local_text(newest.instant, zone),
            )
        bookmark = progress.last_emitted or plan.bookmark
        keep_from = None
        if bookmark is not None:
            keep_from = first_kept_day(
                max(bookmark, plan.bookmark or bookmark),
                zone,
                settings.correction_days,
                settings.lookback,
            )
            marks = memory.marks().items()
            left = {day: m for day, m in marks if day < keep_from and m.missing}
            if left:
                self.logger.warning(
                    "Metering point %s: %s of %s left the settlement window (correction_days "
                    "= %d) with periods still missing and will not be asked again. If "
                    "WattiVahti fills them later, load those days with a bounded backfill "
                    "(README: Missing data).",
                    code,
                    self.name,
                    ", ".join(f"{day} ({m.missing} missing)" for day, m in sorted(left.items())),
                    settings.correction_days,
                )
        daily = self._daily_totals()
        if daily is None:
            if keep_from is not None:
                memory.forget_before(keep_from)
        else:
            # The marks go when daily_totals has the summaries (until then a stopped run is
            # redone from totals_from, and the marks keep it from emitting the days again).
            # Days after the newest value's day are not measured yet (or never: a meter that
            # produces nothing): they get a total once a value on or after them arrives.
            last_day = newest.instant.astimezone(zone).date() if newest else None
            summaries = [s for s in progress.summaries if last_day and s.day <= last_day]
            daily.collect(code, self.name, summaries, keep_from)

    def _daily_totals(self) -> DailyTotalsStream | None:
        """The ``daily_totals`` stream when it is selected."""
        daily = self.tap.streams.get(DailyTotalsStream.name)
        return daily if isinstance(daily, DailyTotalsStream) and daily.selected else None

    def _report_holes(self, code: str, holes: list[Period], newest: Value) -> None:
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
            code,
            len(holes),
            self.name,
            local_text(newest.instant, zone),
            ", ".join(named),
            self.settings.correction_days,
        )

    # ------------------------------------------------------------------ requests
    def _fetch_window(self, code: str, context: Context, planner: Planner, index: int) -> _Window:
        """Fetch window ``index`` as the planner says: its values in UTC order, the grid switch."""
        plan = planner.window(index)
        answers: dict[Ask, Answer] = {}
        ask = plan.ask
        while ask is not None:
            answer = answers[ask] = self.fetch(context, ask.resolution, ask.start, ask.stop)
            readings = answer.placement.readings
            ask = plan.answer(readings[0].instant if readings else None)
        cover = plan.cover
        if cover.probed:
            switch = planner.switch
            self.logger.info(
                "Metering point %s: probed for 15-minute values; none before %s%s.",
                code,
                switch.hourly_until.isoformat() if switch.hourly_until else "?",
                f", some from {switch.quarters_from.isoformat()}" if switch.quarters_from else "",
            )
        if cover.switch_at is not None:
            self.logger.info(
                "Metering point %s: 15-minute values begin at %s; hourly values before.",
                code,
                cover.switch_at.isoformat(),
            )
        values: list[Value] = []
        for part in cover.parts:
            self._keep(code, answers[part.ask], part, values)
        hours = [v.instant for v in values if v.resolution == HOURLY and v.quantity is not None]
        if hours:  # stored hourly: quarter hours must not take these hours over later
            planner.switch.took_hours_until(hours[-1] + HOUR)
        return _Window(values, cover.quarters_from)

    def _keep(self, code: str, answer: Answer, part: Part, values: list[Value]) -> None:
        """Add the answer's values that come after ``values`` and lie within the part's limits
        to ``values``, and check the sum of those kept against the API's."""
        held = _Held()
        self._report_rejected(code, answer, held)
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
        self._check_sum(code, answer, kept, held)

    # ------------------------------------------------------------------ answer checks
    def _report_rejected(self, code: str, answer: Answer, held: _Held) -> None:
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
            code,
            len(rejected),
            self.name,
            answer.resolution,
            answer.start.isoformat(),
            answer.stop.isoformat(),
            examples,
            f"; and {more} more" if more > 0 else "",
        )

    def _check_sum(self, code: str, answer: Answer, kept: Decimal, held: _Held) -> None:
        if answer.api_sum is None or answer.api_sum == kept:
            return
        explained = not held.unexplained and kept + held.total() == answer.api_sum
        self.logger.log(
            logging.INFO if explained else logging.WARNING,
            "Sum check, metering point %s, %s %s %s to %s: the API's sum is %s kWh, the values "
            "kept sum to %s kWh. Not kept: %s.",
            code,
            self.name,
            answer.resolution,
            answer.start.isoformat(),
            answer.stop.isoformat(),
            answer.api_sum,
            kept,
            held.describe() or "nothing (the difference is unexplained)",
        )


def _resolution_of(grid: Sequence[Period]) -> str:
    lengths = {period.length for period in grid}
    if lengths == {HOUR}:
        return HOURLY
    if lengths == {QUARTER}:
        return QUARTER_HOURLY
    return MIXED


class ConsumptionStream(MeterDataStream):
    """Electricity taken from the grid (``measurementType`` 1)."""

    name = "consumption"
    measurement_type = 1
    quantity_name = "consumption"
    schema = record_schema("consumption")


class ProductionStream(MeterDataStream):
    """Electricity fed into the grid, e.g. by solar panels (``measurementType`` 6).

    Not selected by default: most customers produce nothing, and asking costs requests.
    """

    name = "production"
    measurement_type = 6
    quantity_name = "production"
    schema = record_schema("production")
    selected_by_default = False


@dataclass(frozen=True)
class _Batch:
    """The day summaries one meter stream handed over for one metering point."""

    summaries: list[DaySummary]
    keep_from: date | None


class DailyTotalsStream(_Settled):
    """One record per metering point, kind and ended local day a run fetched whole (up to the day
    of the newest value).

    Emitted when new or changed; built from what the selected meter streams fetched in the same
    run (no request of its own), so the tap syncs it after them.
    """

    name = "daily_totals"
    primary_keys = ("metering_point", "kind", "day_start")
    replication_key = "day_start"
    schema = DAILY_SCHEMA

    def __init__(self, tap: TapWattiVahti) -> None:
        """Create the stream; the meter streams hand it their summaries during the run."""
        super().__init__(tap)
        self._batches: dict[tuple[str, str], _Batch] = {}

    @property
    @override
    def partitions(self) -> list[dict]:
        """One partition per metering point and selected meter stream."""
        kinds = [
            stream.name
            for stream in self.tap.streams.values()
            if isinstance(stream, MeterDataStream) and stream.selected
        ]
        return [
            {"metering_point": code, "kind": kind}
            for code in self.settings.metering_points
            for kind in kinds
        ]

    def collect(
        self, code: str, kind: str, summaries: list[DaySummary], keep_from: date | None
    ) -> None:
        """Take a meter stream's day summaries of one metering point."""
        self._batches[(code, kind)] = _Batch(summaries, keep_from)

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        """The partition's new or changed days, in order."""
        if context is None:  # no partition: no meter stream is selected
            return
        code, kind = str(context["metering_point"]), str(context["kind"])
        batch = self._batches.get((code, kind))
        if batch is None:
            return
        memory = Memory(self.get_context_state(context))
        marks = memory.marks()
        for summary in batch.summaries:
            record = summary.record(code, kind)
            mark = DayMark(record_fingerprint(record), summary.missing_periods)
            if marks.get(summary.day) == mark:
                continue
            yield record
            memory.mark(summary.day, mark)
        meter = Memory(self.tap.streams[kind].get_context_state({"metering_point": code}))
        if batch.keep_from is not None:
            for each in (memory, meter):
                each.forget_before(batch.keep_from)
        meter.totals_paid()
