"""One partition's run of ``costs`` and of ``monthly_bills``: what is new or changed, and the
state that says so (docs/design.md, "Costs and monthly bills").

:class:`CostRun` prices one metering point's and kind's meter values as its meter stream's run
handed them over (the ledger's :class:`~tap_wattivahti.meter_run.MeterResult`), plus the kept
values of days that still have an unpriced period, and emits each local day's cost records when
they are new or changed; it hands the day sums (:class:`CostResult`) to ``monthly_bills``.
:class:`BillRun` folds them, with the day sums it kept of the months that may still change, into
month bills. The arithmetic is :mod:`tap_wattivahti.pricing`'s; no request is made here.
"""

from __future__ import annotations

import hashlib
import typing as t
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property

from tap_wattivahti.meter_run import DELETED_AT
from tap_wattivahti.pricing import DayCosts, MeteredPeriod, day_terms, month_bill, month_of
from tap_wattivahti.resolution import STEP
from tap_wattivahti.settlement import record_fingerprint
from tap_wattivahti.state import CostMark
from tap_wattivahti.timeutil import Period, local_midnight

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from tap_wattivahti.meter_run import MeterResult
    from tap_wattivahti.pricing import MarketPrice, PeriodCost
    from tap_wattivahti.state import BillState, CostState
    from tap_wattivahti.terms import Terms

#: A span of time ``[start, stop)`` in UTC.
Span = tuple[datetime, datetime]
#: A meter value as ``costs`` keeps it: start (UTC), resolution, kWh.
Kept = tuple[datetime, str, Decimal]
#: The properties of a ``costs`` record besides its key: null on a deletion record.
DELETION_NULLS = (
    "resolution",
    "kwh",
    "spot_price_eur_mwh",
    "energy_c_per_kwh",
    "transfer_c_per_kwh",
    "tax_c_per_kwh",
    "energy_eur",
    "transfer_eur",
    "tax_eur",
    "vat_eur",
    "total_eur",
    "priced",
)


@dataclass(frozen=True)
class CostResult:
    """What a ``costs`` run learned about one metering point and kind, for ``monthly_bills``."""

    #: The sums of every local day costed in this run (changed or not).
    days: dict[date, DayCosts]
    #: Where the meter's 15-minute values begin (None: hourly only, as far as known).
    quarters_from: datetime | None
    #: The first local day a later run may change (older months are final); None: unknown.
    keep_from: date | None


@dataclass
class CostRun:
    """One metering point's and kind's run of ``costs``."""

    terms: Terms
    kind: str
    metering_point: str
    state: CostState
    result: MeterResult
    now: datetime
    #: Past periods left unpriced by this run (for the stream's one WARNING).
    unpriced: list[Period] = field(default_factory=list)
    #: Days that left the settlement window with periods still unpriced.
    given_up: list[date] = field(default_factory=list)
    cost_result: CostResult | None = None

    @cached_property
    def days(self) -> dict[date, list[Kept]]:
        """The values to cost, by local day: this run's meter values, and the kept values of
        days with an unpriced period that the meter run did not fetch again."""
        days: dict[date, list[Kept]] = dict(self.state.unpriced())
        for day, values in self.result.days.items():
            if self.terms.covers(self.kind, day):
                days[day] = [(v.instant, v.resolution, v.quantity or Decimal(0)) for v in values]
        return {day: days[day] for day in sorted(days) if self.terms.covers(self.kind, day)}

    def spans(self) -> list[Span]:
        """The spans whose prices this run needs (none when the terms need no market price)."""
        if not self.terms.needs_prices(self.kind):
            return []
        zone = self.terms.zone
        return [
            (local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone))
            for day in self.days
        ]

    def records(self, prices: Mapping[datetime, MarketPrice]) -> Iterator[dict[str, t.Any]]:
        """Each day's new or changed cost records, in day order, with a deletion record for
        each period whose meter record the meter stream deleted (in UTC order among them); the
        day's mark after them."""
        marks = self.state.day_marks()
        gone = self.result.gone
        kind = self.kind
        sums: dict[date, DayCosts] = {}
        for day, values in self.days.items():
            terms = day_terms(self.terms, kind, day)  # looked up once per day
            assert terms is not None  # self.days holds only the days the terms cover
            costed = terms.cost
            costs = [
                costed(MeteredPeriod(start, resolution, kwh, kind), prices)
                for start, resolution, kwh in values
            ]
            sums[day] = DayCosts.of(costs)
            records = [cost.record(self.metering_point) for cost in costs]
            unpriced = [cost for cost in costs if not cost.priced]
            fingerprint, emit_from = _compare(records, marks.get(day))
            if day in gone:
                yield from self._with_deletions(costs[emit_from:], records[emit_from:], gone[day])
            else:
                yield from records[emit_from:]
            self.state.mark_day(day, CostMark(fingerprint, len(records), len(unpriced)))
            kept = None
            if unpriced:
                kept = [(c.period.start, c.period.resolution, c.period.kwh) for c in costs]
            self.state.keep_unpriced(day, kept)
            self.unpriced += [
                Period(c.period.start, STEP[c.period.resolution])
                for c in unpriced
                if c.period.start < self.now
            ]
        if self.result.keep_from is not None:
            self.given_up = sorted(self.state.forget_days_before(self.result.keep_from))
        self.cost_result = CostResult(sums, self.result.quarters_from, self.result.keep_from)

    def _with_deletions(
        self, costs: list[PeriodCost], records: list[dict[str, t.Any]], gone: list[datetime]
    ) -> list[dict[str, t.Any]]:
        """``records`` (of ``costs``) and the deletion records of ``gone``, in UTC order."""
        items = [(cost.period.start, record) for cost, record in zip(costs, records, strict=True)]
        items += [(instant, self._deletion(instant)) for instant in gone]
        return [record for _, record in sorted(items, key=lambda item: item[0])]

    def _deletion(self, instant: datetime) -> dict[str, t.Any]:
        """The record that says the cost record at ``instant`` is gone: its key, every other
        property null, and ``_sdc_deleted_at`` (docs/design.md, "Records")."""
        return {
            **dict.fromkeys(DELETION_NULLS),
            "metering_point": self.metering_point,
            "kind": self.kind,
            "timestamp": instant.isoformat(),
            DELETED_AT: self.now.isoformat(),
        }


def _compare(records: list[dict[str, t.Any]], mark: CostMark | None) -> tuple[str, int]:
    """The day's running fingerprint, and from which record on it is new or changed: after the
    records the mark counted when they are unchanged (a day that grew), else from the first.

    The fingerprint hashes each record's values in schema order, one after the other, so the
    fingerprint of a day's first n records is that of the records a run emitted then."""
    parts = [repr(tuple(record.values())).encode() for record in records]
    unchanged = (
        mark is not None
        and 0 < mark.records <= len(parts)
        and _digest(parts[: mark.records]) == mark.fingerprint
    )
    return _digest(parts), mark.records if unchanged and mark is not None else 0


def _digest(parts: list[bytes]) -> str:
    return hashlib.blake2b(b";".join(parts), digest_size=8).hexdigest()


@dataclass
class BillRun:
    """One metering point's and kind's run of ``monthly_bills``."""

    terms: Terms
    kind: str
    metering_point: str
    state: BillState
    result: CostResult
    now: datetime
    #: Whether the run's range reaches the running month (the local month of ``now``): not when
    #: ``end_date`` ends before it.
    reaches_now: bool = True

    def records(self) -> Iterator[dict[str, t.Any]]:
        """The bill of each month this run's days touch, when new or changed, and the running
        month's month to date on every run that reaches it (its fee share grows by the day), in
        month order; then the months that can no longer change go."""
        state = self.state
        state.quarters_from = self.result.quarters_from
        for day, sums in self.result.days.items():
            state.keep_day(day, sums.to_state())
        days = {day: DayCosts.from_state(sums) for day, sums in state.bill_days().items()}
        running = month_of(self.now.astimezone(self.terms.zone).date())
        months = {month_of(day) for day in self.result.days}
        if self.reaches_now:
            months.add(running)
        emitted = state.bills()
        for month in sorted(months):
            bill = month_bill(self.kind, month, days, self.terms, state.quarters_from, self.now)
            if bill is None:
                continue
            record = bill.record(self.metering_point, self.kind)
            fingerprint = record_fingerprint(record)
            to_date = self.reaches_now and month == running  # emitted on every run
            if to_date or emitted.get(record["month"]) != fingerprint:
                yield record
                state.emitted(record["month"], fingerprint)
        keep_from = self.result.keep_from
        if keep_from is not None:
            for month in {month_of(day) for day in days}:
                following = (month + timedelta(days=32)).replace(day=1)
                if following <= keep_from and month != running:
                    state.forget_month(month)
