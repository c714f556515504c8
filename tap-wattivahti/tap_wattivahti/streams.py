"""The ``consumption`` and ``production`` streams: windows, resolution choice, records, bookmarks.

Per metering point (one partition each) the stream walks request windows in time order and
emits records sorted by UTC instant, so the bookmark advances as records flow and a stopped run
resumes where it stopped.

Resolution ``auto`` — 15-minute values wherever they exist, hourly values elsewhere, never both
for one period — costs about one request per window:

* a window already known to lie after the meter's first 15-minute value asks ``PT15MIN`` only,
  one known to lie before it asks ``PT1H`` only;
* otherwise the window asks ``PT15MIN`` first. Values from its start: done. Values from a later
  instant S: the switch is in this window, so ``PT1H`` is asked for ``[start, S)`` and only hours
  that end by S are kept (an hour overlapping the first quarter hour would double it). No values:
  the window is hourly, and a binary search over the remaining windows (probing the last local
  day of a window with ``PT15MIN``) finds the first one with 15-minute values, so a multi-year
  hourly history costs a logarithmic number of probes instead of a second request per window.

Nulls: a ``null`` quantity (not measured yet, or missing) is never emitted and the partition
stops at the first one, so the bookmark never passes it and a later run fetches it again. A null
followed by real values (a hole rather than the usual tail) is logged as a warning naming it.

Integrity: for each answer, the sum of the emitted values is compared with the API's own
``sum.quantity``; when they differ both are logged with what was held back and why (INFO when
the difference is fully explained by the rules above, WARNING otherwise).
"""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from singer_sdk import typing as th
from typing_extensions import override

from tap_wattivahti.client import HOURLY, QUARTER_HOURLY, Answer, WattiVahtiStream
from tap_wattivahti.timeutil import UTC, local_midnight, plan_windows

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

PERIOD = {QUARTER_HOURLY: timedelta(minutes=15), HOURLY: timedelta(hours=1)}
_AUTO = "auto"
_PROBE_SPAN = timedelta(days=1)


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


@dataclass
class _SwitchKnowledge:
    """What this run learned about where one meter's 15-minute values begin."""

    #: 15-minute values exist at this instant (and so from here on).
    quarters_from: datetime | None = None
    #: No 15-minute values before this instant.
    hourly_until: datetime | None = None

    def saw_quarters(self, instant: datetime) -> None:
        if self.quarters_from is None or instant < self.quarters_from:
            self.quarters_from = instant

    def saw_none_before(self, instant: datetime) -> None:
        if self.hourly_until is None or instant > self.hourly_until:
            self.hourly_until = instant


@dataclass
class _Cursor:
    """Where one partition's emission stands: the last instant emitted, or the null it hit."""

    last: datetime | None = None
    stopped_at: datetime | None = None


@dataclass
class _Held:
    """Values of one answer that were not emitted, by reason (for the sum check)."""

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


class MeterDataStream(WattiVahtiStream):
    """A stream of one ``measurementType``: one record per period and metering point."""

    primary_keys = ("metering_point", "timestamp")
    replication_key = "timestamp"
    #: Prefix of the quantity fields: ``consumption`` → ``consumption_kwh``, ``consumption_wh``.
    quantity_name: t.ClassVar[str]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Create the stream; switch knowledge is kept per metering point for this run."""
        super().__init__(*args, **kwargs)
        self._switches: dict[str, _SwitchKnowledge] = {}

    @property
    @override
    def is_sorted(self) -> bool:
        """Records come in UTC order per partition: the bookmark advances as they flow."""
        return True

    @property
    @override
    def check_sorted(self) -> bool:
        """Off: the lookback deliberately re-reads a little before the bookmark."""
        return False

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
    def sync_range(self, context: Context) -> tuple[datetime, datetime]:
        """``[start, stop)`` for a partition.

        With a bookmark: bookmark minus ``lookback_hours``. Without: ``start_date``, else local
        midnight ``initial_sync_days`` ago. Stop: ``end_date`` or now, never in the future.
        """
        settings = self.settings
        now = datetime.now(UTC)
        now = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        stop = min(settings.end_date or now, now)
        bookmark = self.get_context_state(context).get("replication_key_value")
        starting = self.get_starting_timestamp(context) if bookmark else None
        if starting is not None:
            start = starting - settings.lookback
            origin = f"bookmark {starting.isoformat()} minus the lookback"
        elif settings.start_date is not None:
            start = settings.start_date
            origin = "start_date (no bookmark)"
        else:
            today = now.astimezone(settings.zone).date()
            start = local_midnight(
                today - timedelta(days=settings.initial_sync_days), settings.zone
            )
            origin = f"{settings.initial_sync_days} days ago (no bookmark, no start_date)"
        self.logger.info(
            "Metering point %s: %s from %s (%s) to %s.",
            context["metering_point"],
            self.name,
            start.isoformat(),
            origin,
            stop.isoformat(),
        )
        return start, stop

    # ------------------------------------------------------------------ records
    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        """Records of one partition in UTC order, window by window, up to the first null."""
        assert context is not None
        code = str(context["metering_point"])
        start, stop = self.sync_range(context)
        settings = self.settings
        windows = plan_windows(start, stop, settings.zone, settings.window_days)
        knowledge = self._switches.setdefault(code, _SwitchKnowledge())
        cursor = _Cursor()
        for index in range(len(windows)):
            for answer, keep_before in self._answers(context, windows, index, knowledge):
                yield from self._emit(code, answer, cursor, keep_before)
                if cursor.stopped_at is not None:
                    return

    def _answers(
        self,
        context: Context,
        windows: list[tuple[datetime, datetime]],
        index: int,
        knowledge: _SwitchKnowledge,
    ) -> Iterator[tuple[Answer, datetime | None]]:
        """The answers that cover window ``index``, in time order, each with its overlap limit.

        The limit (the first 15-minute instant) drops hourly periods that would end after it.
        """
        start, stop = windows[index]
        resolution = self.settings.resolution
        if resolution != _AUTO:
            yield self.fetch(context, resolution, start, stop), None
            return
        if knowledge.quarters_from is not None and knowledge.quarters_from <= start:
            yield self.fetch(context, QUARTER_HOURLY, start, stop), None
            return
        if knowledge.hourly_until is not None and stop <= knowledge.hourly_until:
            yield self.fetch(context, HOURLY, start, stop), None
            return
        quarters = self.fetch(context, QUARTER_HOURLY, start, stop)
        readings = quarters.placement.readings
        if not readings:
            knowledge.saw_none_before(stop)
            self._probe(context, windows, index + 1, knowledge)
            yield self.fetch(context, HOURLY, start, stop), None
            return
        first = readings[0].instant
        knowledge.saw_quarters(first)
        if first - start >= PERIOD[HOURLY]:
            self.logger.info(
                "Metering point %s: 15-minute values begin at %s; hourly values before.",
                context["metering_point"],
                first.isoformat(),
            )
            yield self.fetch(context, HOURLY, start, first), first
        yield quarters, None

    def _probe(
        self,
        context: Context,
        windows: list[tuple[datetime, datetime]],
        begin: int,
        knowledge: _SwitchKnowledge,
    ) -> None:
        """Binary-search ``windows[begin:]`` for the first one with 15-minute values.

        Each probe asks ``PT15MIN`` for the last local day of a window; 15-minute values, once
        they exist, exist for every later period, so the answers are monotonic.
        """
        low, high = begin, len(windows)
        while low < high:
            middle = (low + high) // 2
            start, stop = windows[middle]
            probe = self.fetch(context, QUARTER_HOURLY, max(start, stop - _PROBE_SPAN), stop)
            readings = probe.placement.readings
            if readings:
                knowledge.saw_quarters(readings[0].instant)
                high = middle
            else:
                knowledge.saw_none_before(stop)
                low = middle + 1
        self.logger.info(
            "Metering point %s: probed for 15-minute values; none before %s%s.",
            context["metering_point"],
            knowledge.hourly_until.isoformat() if knowledge.hourly_until else "?",
            f", some from {knowledge.quarters_from.isoformat()}" if knowledge.quarters_from else "",
        )

    def _emit(
        self, code: str, answer: Answer, cursor: _Cursor, keep_before: datetime | None
    ) -> Iterator[dict[str, t.Any]]:
        """Records of one answer in UTC order, then the sum check of what was emitted."""
        held = _Held()
        for rejected in answer.placement.rejected:
            self.logger.warning(
                "Metering point %s: the value at %s (%s kWh) %s; not emitted.",
                code,
                rejected.time,
                rejected.quantity,
                rejected.reason,
            )
            held.add(f"rejected ({rejected.reason})", rejected.quantity)
            held.unexplained = True
        emitted = Decimal(0)
        readings = answer.placement.readings
        period = PERIOD[answer.resolution]
        for position, reading in enumerate(readings):
            if keep_before is not None and reading.instant + period > keep_before:
                held.add("overlapping the first 15-minute value", reading.quantity)
                continue
            if cursor.last is not None and reading.instant <= cursor.last:
                held.add("already emitted from an earlier answer", reading.quantity)
                continue
            if reading.quantity is None:
                cursor.stopped_at = reading.instant
                later = [r for r in readings[position + 1 :] if r.quantity is not None]
                for value in later:
                    held.add(f"after the null at {reading.instant.isoformat()}", value.quantity)
                self._report_null(code, reading.instant, len(later))
                break
            cursor.last = reading.instant
            emitted += reading.quantity
            yield {
                "metering_point": code,
                "timestamp": reading.instant.isoformat(),
                "resolution": answer.resolution,
                f"{self.quantity_name}_kwh": float(reading.quantity),
                f"{self.quantity_name}_wh": float(reading.quantity * 1000),
            }
        self._check_sum(code, answer, emitted, held)

    def _report_null(self, code: str, instant: datetime, later_values: int) -> None:
        if later_values:
            self.logger.warning(
                "Metering point %s: the %s value at %s is null but %d later value(s) are not. "
                "Stopping this metering point at the null so the bookmark does not pass it; "
                "the next run fetches again from there. If the hole never fills, move the "
                "bookmark with `meltano state`.",
                code,
                self.name,
                instant.isoformat(),
                later_values,
            )
        else:
            self.logger.info(
                "Metering point %s: %s values are available up to %s.",
                code,
                self.name,
                instant.isoformat(),
            )

    def _check_sum(self, code: str, answer: Answer, emitted: Decimal, held: _Held) -> None:
        if answer.api_sum is None or answer.api_sum == emitted:
            return
        explained = not held.unexplained and emitted + held.total() == answer.api_sum
        self.logger.log(
            logging.INFO if explained else logging.WARNING,
            "Sum check, metering point %s, %s %s %s to %s: the API's sum is %s kWh, the emitted "
            "values sum to %s kWh. Not emitted: %s.",
            code,
            self.name,
            answer.resolution,
            answer.start.isoformat(),
            answer.stop.isoformat(),
            answer.api_sum,
            emitted,
            held.describe() or "nothing (the difference is unexplained)",
        )


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
