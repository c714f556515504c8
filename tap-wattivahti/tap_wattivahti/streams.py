"""The streams: ``consumption`` and ``production`` (one record per period), ``daily_totals``,
``costs``, ``monthly_bills`` and ``spot_prices``.

Each stream class is its schema, its partitions and the hand-over of records to the SDK; a
metering point's run is :class:`~tap_wattivahti.meter_run.MeterRun`, and what the meter streams
hand to ``daily_totals`` goes through the tap's :class:`~tap_wattivahti.ledger.Ledger`
(docs/design.md, "The derived streams"); ``costs`` takes the meter streams' results and hands
its day sums to ``monthly_bills`` the same way (:mod:`tap_wattivahti.costs`). An area's run of
``spot_prices`` is :class:`~tap_wattivahti.prices.run.PriceRun`; every price comes from the
tap's one :class:`~tap_wattivahti.prices.book.PriceBook` (docs/design.md, "Spot prices").
"""

from __future__ import annotations

import json
import typing as t
from datetime import datetime

from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_wattivahti import compat
from tap_wattivahti.client import TapStream, WattiVahtiStream
from tap_wattivahti.costs import BillRun, CostResult, CostRun
from tap_wattivahti.errors import TapWattiVahtiError
from tap_wattivahti.meter_run import DELETED_AT, MIXED, MeterResult, MeterRun
from tap_wattivahti.prefetch import Skipped
from tap_wattivahti.prices.book import merged
from tap_wattivahti.prices.run import PriceRun
from tap_wattivahti.prices.sources import SOURCES
from tap_wattivahti.pricing import month_of
from tap_wattivahti.resolution import HOURLY, QUARTER_HOURLY
from tap_wattivahti.settlement import DayMark, record_fingerprint
from tap_wattivahti.state import (
    BillState,
    CostState,
    MeterState,
    PartitionState,
    PriceState,
)
from tap_wattivahti.timeutil import UTC, local_midnight, named_spans

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_wattivahti.ledger import Ledger
    from tap_wattivahti.prices.book import PriceBook
    from tap_wattivahti.settings import Account
    from tap_wattivahti.tap import TapWattiVahti

KINDS = ("consumption", "production")


def _period(resolution: str) -> tuple[th.Property, th.Property]:
    """The ``timestamp`` (the period start) and ``resolution`` properties of a period's record;
    ``resolution`` describes the latter."""
    return (
        th.Property(
            "timestamp", th.DateTimeType, required=True, description="Start of the period, UTC."
        ),
        _one_of("resolution", (QUARTER_HOURLY, HOURLY), resolution),
    )


def _one_of(name: str, values: Iterable[str], description: str) -> th.Property:
    """A required text property that holds one of ``values``."""
    return th.Property(
        name, th.StringType, required=True, allowed_values=list(values), description=description
    )


def _deletable_resolution(description: str) -> th.Property:
    """The ``resolution`` property of a stream with deletion records (null on those)."""
    return th.Property(
        "resolution",
        th.CustomType({"type": ["string", "null"], "enum": [QUARTER_HOURLY, HOURLY, None]}),
        required=True,
        description=f"{description} (null on a deletion record).",
    )


def _deleted_at() -> th.Property:
    """``_sdc_deleted_at``: set only on a deletion record (docs/design.md, "Records")."""
    return th.Property(
        DELETED_AT,
        th.DateTimeType,
        description=(
            "Only on a deletion record: when the tap found that WattiVahti no longer has a "
            "value for the period (the record at this timestamp is gone)."
        ),
    )


def record_schema(quantity: str) -> dict[str, t.Any]:
    """The JSON schema of a stream whose quantity is called ``quantity``.

    A record that says a period's record is gone (``_sdc_deleted_at`` set: docs/design.md,
    "Records") has the key properties and nulls; every other record has every property.
    """
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
        _deletable_resolution("Length of the period as the API names it"),
        th.Property(
            f"{quantity}_kwh",
            th.NumberType,
            required=True,
            nullable=True,
            description="Energy in kWh (null on a deletion record).",
        ),
        th.Property(
            f"{quantity}_wh",
            th.NumberType,
            required=True,
            nullable=True,
            description="Energy in Wh, kWh times 1000 (null on a deletion record).",
        ),
        _deleted_at(),
    ).to_dict()


DAILY_SCHEMA = th.PropertiesList(
    th.Property("metering_point", th.StringType, required=True, description="Metering point code."),
    _one_of("kind", KINDS, "consumption or production."),
    th.Property("date", th.DateType, required=True, description="The local date."),
    th.Property(
        "day_start",
        th.DateTimeType,
        required=True,
        description="Local midnight at the start of the day, as a UTC instant.",
    ),
    _one_of(
        "resolution",
        (QUARTER_HOURLY, HOURLY, MIXED),
        f"Length of the day's periods; {MIXED} on the day a meter switched.",
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


PRICE_SCHEMA = th.PropertiesList(
    th.Property(
        "area",
        th.StringType,
        required=True,
        description="Bidding zone (the price_area setting), e.g. FI.",
    ),
    *_period("Length of the period: PT15MIN since the 2025-10-01 go-live, PT1H before."),
    th.Property(
        "price_eur_mwh",
        th.NumberType,
        required=True,
        description="Day-ahead market price in EUR/MWh, VAT excluded; may be negative.",
    ),
    _one_of("source", SOURCES, "Where the price came from (the price_source setting)."),
).to_dict()


def _amount(name: str, description: str, *, nullable: bool = False) -> th.Property:
    """A required number property (null allowed when ``nullable``)."""
    return th.Property(
        name, th.NumberType, required=True, nullable=nullable, description=description
    )


_UNPRICED = " Null when the period is unpriced, and on a deletion record."
_DELETION = " Null on a deletion record."
_PARTITION = (
    th.Property("metering_point", th.StringType, required=True, description="Metering point code."),
    _one_of("kind", KINDS, "consumption or production."),
)
COSTS_SCHEMA = th.PropertiesList(
    *_PARTITION,
    th.Property(
        "timestamp", th.DateTimeType, required=True, description="Start of the period, UTC."
    ),
    _deletable_resolution("Length of the metered period"),
    _amount("kwh", "The period's metered energy." + _DELETION, nullable=True),
    _amount(
        "spot_price_eur_mwh",
        "The market price applied, EUR/MWh, VAT excluded (null when the energy price is not "
        "spot, or missing).",
        nullable=True,
    ),
    _amount(
        "energy_c_per_kwh",
        "Energy unit price applied, c/kWh, VAT excluded (production: the sale price)." + _UNPRICED,
        nullable=True,
    ),
    _amount(
        "transfer_c_per_kwh",
        "Network transfer unit price, c/kWh, VAT excluded." + _DELETION,
        nullable=True,
    ),
    _amount("tax_c_per_kwh", "Electricity tax, c/kWh, VAT excluded." + _DELETION, nullable=True),
    _amount(
        "energy_eur",
        "Energy, EUR, VAT excluded (production: sale value)." + _UNPRICED,
        nullable=True,
    ),
    _amount("transfer_eur", "Transfer, EUR, VAT excluded." + _UNPRICED, nullable=True),
    _amount("tax_eur", "Electricity tax, EUR, VAT excluded." + _UNPRICED, nullable=True),
    _amount("vat_eur", "VAT, EUR." + _UNPRICED, nullable=True),
    _amount("total_eur", "Energy + transfer + tax + VAT, EUR." + _UNPRICED, nullable=True),
    th.Property(
        "priced",
        th.BooleanType,
        required=True,
        nullable=True,
        description="False when a price the period needs is missing (it is costed later)."
        + _DELETION,
    ),
    _deleted_at(),
).to_dict()

BILLS_SCHEMA = th.PropertiesList(
    *_PARTITION,
    th.Property("month", th.StringType, required=True, description="The local month, YYYY-MM."),
    th.Property(
        "month_start",
        th.DateTimeType,
        required=True,
        description="Local midnight of the month's 1st, as a UTC instant.",
    ),
    _amount("kwh", "The month's metered energy so far."),
    _amount("energy_eur", "Energy, EUR, VAT excluded (production: sale value)."),
    _amount("energy_fee_eur", "The seller's monthly fees, prorated by days, VAT excluded."),
    _amount("transfer_eur", "Transfer, EUR, VAT excluded."),
    _amount("transfer_fee_eur", "The network's monthly fees, prorated by days, VAT excluded."),
    _amount("tax_eur", "Electricity tax, EUR, VAT excluded."),
    _amount("vat_eur", "VAT, EUR, the fees' VAT included."),
    _amount("total_eur", "Everything above, EUR."),
    th.Property(
        "expected_periods", th.IntegerType, required=True, description="Periods of the month."
    ),
    th.Property("periods", th.IntegerType, required=True, description="Periods with a value."),
    th.Property(
        "priced_periods", th.IntegerType, required=True, description="Periods with a price."
    ),
    th.Property(
        "complete",
        th.BooleanType,
        required=True,
        description="The month has ended and every period has a value and a price.",
    ),
).to_dict()


class _Ordered(TapStream):
    """A stream that takes part in the tap's ledger: it names the streams it takes from
    (``inputs``); the tap syncs it after them, and the ledger checks that."""

    #: The streams this one takes from (in the same run).
    inputs: t.ClassVar[tuple[str, ...]] = ()

    @property
    def ledger(self) -> Ledger:
        """The tap's ledger."""
        return self.tap.ledger

    def want_prices(self, book: PriceBook) -> None:
        """Tell the run's price book what this stream will ask it (no request): the tap asks
        every selected stream before the first price is fetched. Most ask nothing."""


class _Settled(_Ordered):
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


class _PerMeterStream(_Settled):
    """A stream derived from the meter streams: one partition per metering point and selected
    meter stream (``kind``)."""

    @property
    @override
    def partitions(self) -> list[dict]:
        """One partition per metering point and selected meter stream."""
        kinds = sorted(self.ledger.sources(self.name))
        return [
            {"metering_point": code, "kind": kind}
            for code in self.settings.metering_points
            for kind in kinds
        ]


class MeterDataStream(_Settled, WattiVahtiStream):
    """A stream of one ``measurementType``: one record per period and metering point.

    Each partition's requests run in the tap's fetching threads (:mod:`tap_wattivahti.prefetch`),
    a few partitions ahead of the one whose records the SDK emits; a failure fails the
    partition's account (:mod:`tap_wattivahti.failures`).
    """

    primary_keys = ("metering_point", "timestamp")
    replication_key = "timestamp"

    def __init__(self, tap: t.Any) -> None:
        """Create the stream of ``tap``."""
        super().__init__(tap)
        #: metering point → its scheduled run and its partition's state before the run
        self._runs: dict[str, tuple[MeterRun, dict[str, t.Any]]] = {}
        self._codes: list[str] = []  # the partitions' metering points, in order
        self._order: dict[str, int] = {}  # metering point → its place in ``_codes``

    @property
    @override
    def partitions(self) -> list[dict]:
        """One partition per metering point."""
        return [{"metering_point": code} for code in self.settings.metering_points]

    @override
    def compare_start_date(self, value: str, start_date_value: str) -> str:
        """A bookmark wins over ``start_date`` (the SDK would take the later of the two)."""
        return value

    def meter_run(self, context: Context) -> MeterRun:
        """The run of one partition: its bookmark and state as the SDK keeps them."""
        state = MeterState(self.get_context_state(context))
        return MeterRun(
            settings=self.settings,
            kind=self.name,
            metering_point=str(context["metering_point"]),
            state=state,
            bookmark=self.get_starting_timestamp(context) if state.has_bookmark else None,
            owed=bool(self.ledger.takers(self.name)),
            fetch=lambda resolution, start, stop: self.fetch(context, resolution, start, stop),
            logger=self.logger,
        )

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        """Records of one partition in UTC order; then its result goes to the ledger. When its
        account fails, its state stays as it was (unless records were emitted before the
        failure: then it covers them)."""
        assert context is not None
        self.ledger.begin(self.name)
        code = str(context["metering_point"])
        account = self.settings.account_of(code)
        self._schedule_from(code)
        run, before = self._runs.pop(code)
        emitted = False
        try:
            for record in run.records(self.tap.prefetcher.windows((self.name, code))):
                emitted = True
                yield record
        except (Skipped, TapWattiVahtiError):
            if self.tap.failures.accounts == 1:
                raise  # the run's only account: its error ends the run at once, as it always did
            self.tap.failures.report(account, self.logger)
            if not emitted:
                state = self.get_context_state(context)
                state.clear()
                state.update(before)
            return
        self.ledger.publish(self.name, run.code, run.result, on_taken=run.settle)

    def _schedule_from(self, code: str) -> None:
        """Schedule the fetching of ``code``'s partition (the SDK's current one) and of the next
        ones (two per fetching thread, so that none waits while the SDK emits)."""
        if not self._codes:
            self._codes = [str(partition["metering_point"]) for partition in self.partitions]
            self._order = {each: place for place, each in enumerate(self._codes)}
        first = self._order[code]
        for ahead in self._codes[first : first + 1 + 2 * self.tap.prefetcher.workers]:
            if ahead not in self._runs:
                self._schedule(ahead, self.settings.account_of(ahead), current=ahead == code)

    def _schedule(self, code: str, account: Account, *, current: bool) -> None:
        context = {"metering_point": code}
        if not current:  # the SDK does it when the partition begins
            compat.write_starting_value(self, context)
        before = json.loads(json.dumps(self.get_context_state(context)))  # a JSON document
        run = self.meter_run(context)
        self._runs[code] = (run, before)
        failures = self.tap.failures

        def failed(error: BaseException) -> None:
            if isinstance(error, TapWattiVahtiError):
                failures.note(account.name, error)

        self.tap.prefetcher.schedule(
            (self.name, code),
            group=account.name,
            skip=lambda: failures.failed(account.name),
            windows=run.fetched,
            failed=failed,
        )


class ConsumptionStream(MeterDataStream):
    """Electricity taken from the grid (``measurementType`` 1)."""

    name = "consumption"
    measurement_type = 1
    schema = record_schema("consumption")


class ProductionStream(MeterDataStream):
    """Electricity fed into the grid, e.g. by solar panels (``measurementType`` 6).

    Not selected by default: most customers produce nothing, and asking costs requests.
    """

    name = "production"
    measurement_type = 6
    schema = record_schema("production")
    selected_by_default = False


class DailyTotalsStream(_PerMeterStream):
    """One record per metering point, kind and ended local day a run fetched whole (up to the day
    of the newest value), emitted when new or changed; built from what the selected meter streams
    fetched in the same run (no request of its own)."""

    name = "daily_totals"
    primary_keys = ("metering_point", "kind", "day_start")
    replication_key = "day_start"
    schema = DAILY_SCHEMA
    inputs = KINDS

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        """The partition's new or changed days, in order."""
        if context is None:  # no partition: no meter stream is selected
            self.logger.warning(
                "The daily_totals stream is selected but neither consumption nor production "
                "is: daily totals are computed from the meter data a run fetches, so it emits "
                "nothing. Select consumption (and production, if you produce) as well."
            )
            return
        code, kind = str(context["metering_point"]), str(context["kind"])
        result: MeterResult | None = self.ledger.take(self.name, kind, code)
        if result is None:
            return
        state = PartitionState(self.get_context_state(context))
        marks = state.marks()
        for summary in result.summaries:
            record = summary.record(code, kind)
            mark = DayMark(record_fingerprint(record), summary.missing_periods)
            if marks.get(summary.day) == mark:
                continue
            yield record
            state.mark(summary.day, mark)
        if result.keep_from is not None:
            state.forget_before(result.keep_from)
        self.ledger.done(self.name, kind, code)


class CostsStream(_PerMeterStream):
    """What each metered period cost under the contract terms in force at its start: one record
    per period of a day that is new or changed (a corrected value, a price that arrived); built
    from what the meter streams fetched in the same run and the run's prices (no request of its
    own beyond the prices the run fetches anyway)."""

    name = "costs"
    #: The records are built with their schema's JSON types already (pricing's ``record``).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    primary_keys = ("metering_point", "kind", "timestamp")
    replication_key = "timestamp"
    schema = COSTS_SCHEMA
    inputs = KINDS

    def __init__(self, tap: TapWattiVahti) -> None:
        """Create the stream of ``tap``."""
        super().__init__(tap)
        self._runs: dict[tuple[str, str], CostRun | None] = {}
        self._now = datetime.now(UTC)

    def cost_run(self, context: Context) -> CostRun | None:
        """The partition's run (made once per sync); None when its kind has no terms or its
        meter stream's run has no result (e.g. it failed)."""
        code, kind = str(context["metering_point"]), str(context["kind"])
        if (code, kind) not in self._runs:
            result: MeterResult | None = self.ledger.take(self.name, kind, code)
            terms = self.settings.terms
            run = None
            if result is not None and terms.configured(kind):
                state = CostState(self.get_context_state(context))
                run = CostRun(terms, kind, code, state, result, self._now)
            self._runs[(code, kind)] = run
        return self._runs[(code, kind)]

    @override
    def want_prices(self, book: PriceBook) -> None:
        """The local days every partition costs: the book is made when spot_prices or costs
        first asks for a price, after the meter streams ran (they come first in the tap's
        streams)."""
        area = self.settings.prices.area
        for context in self.partitions:
            run = self.cost_run(context)
            for start, stop in merged(run.spans() if run is not None else []):
                book.want(area, start, stop)

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        """The partition's new or changed cost records, day by day; then its day sums go to
        ``monthly_bills``."""
        self.ledger.begin(self.name)
        if context is None:  # no partition: no meter stream is selected
            self.logger.warning(
                "The costs stream is selected but neither consumption nor production is: "
                "costs are computed from the meter data a run fetches, so it emits nothing. "
                "Select consumption (and production, if you produce) as well."
            )
            return
        code, kind = str(context["metering_point"]), str(context["kind"])
        if context == self.partitions[0]:
            self._say_what_is_not_costed()
        run = self.cost_run(context)
        result: CostResult | None = None
        if run is not None:
            prices = {}
            area = self.settings.prices.area
            for start, stop in merged(run.spans()):
                prices.update(self.tap.price_book.prices(area, start, stop))
            yield from run.records(prices)
            result = run.cost_result
        self.ledger.publish(self.name, (code, kind), result)
        self.ledger.done(self.name, kind, code)
        if context == self.partitions[-1]:
            self._report_unpriced()

    def _say_what_is_not_costed(self) -> None:
        """One INFO for the selected kinds that have no terms (emitting nothing for them)."""
        terms = self.settings.terms
        bare = [
            kind for kind in sorted(self.ledger.sources(self.name)) if not terms.configured(kind)
        ]
        if not bare:
            return
        needs = {
            "consumption": "energy_contracts and network_tariffs",
            "production": "production_contracts",
        }
        self.logger.info(
            "No contract terms for %s (%s): costs and monthly_bills emit nothing for it. Set "
            "them to see what each period cost (docs/prices-and-costs.md).",
            " or ".join(bare),
            "; ".join(f"{kind}: {needs[kind]}" for kind in bare),
        )

    def _report_unpriced(self) -> None:
        """One WARNING for the run's past periods without a price, and the days given up."""
        zone = self.settings.zone
        parts = []
        for (code, kind), run in self._runs.items():
            if run is None:
                continue
            if run.unpriced:
                parts.append(
                    f"metering point {code} ({kind}): {len(run.unpriced)} period(s) "
                    f"({named_spans(run.unpriced, zone)})"
                )
            if run.given_up:
                parts.append(
                    f"metering point {code} ({kind}): "
                    f"{', '.join(d.isoformat() for d in run.given_up)} left the settlement "
                    f"window with periods still unpriced and will not be costed again"
                )
        if parts:
            self.logger.warning(
                "Costs without a market price (the price source has none yet): %s. Their costs "
                "records are priced: false, with every euro field null (never 0), and the "
                "month's bill counts them as unpriced; they are costed, and their day and month "
                "emitted again, when the price arrives, by any run while inside the settlement "
                "window (correction_days = %d).",
                "; ".join(parts),
                self.settings.correction_days,
            )


class MonthlyBillsStream(_Settled):
    """One record per metering point, kind and local calendar month: the month's bill (month to
    date while it runs), emitted when new or changed; built from the day sums ``costs`` hands
    over in the same run."""

    name = "monthly_bills"
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    primary_keys = ("metering_point", "kind", "month_start")
    replication_key = "month_start"
    schema = BILLS_SCHEMA
    inputs = ("costs",)

    @property
    @override
    def partitions(self) -> list[dict]:
        """The partitions of ``costs`` (none when it is not selected)."""
        if not self.ledger.sources(self.name):
            return []
        return self.tap.streams["costs"].partitions or []

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        """The partition's new or changed months, in order."""
        if context is None:
            if not self.ledger.sources(self.name):
                self.logger.warning(
                    "The monthly_bills stream is selected but costs is not: a month's bill is "
                    "folded from the costs of its periods, so it emits nothing. Select costs "
                    "(and consumption) as well."
                )
            return
        code, kind = str(context["metering_point"]), str(context["kind"])
        result: CostResult | None = self.ledger.take(self.name, "costs", (code, kind))
        if result is None:
            return
        state = BillState(self.get_context_state(context))
        now = datetime.now(UTC)
        end = self.settings.end_date
        terms = self.settings.terms
        running = local_midnight(month_of(now.astimezone(terms.zone).date()), terms.zone)
        reaches_now = end is None or end > running
        run = BillRun(terms, kind, code, state, result, now, reaches_now)
        yield from run.records()
        self.ledger.done(self.name, "costs", (code, kind))


class SpotPricesStream(_Settled):
    """Day-ahead prices of the ``price_area`` from the ``price_source``, up to the end of
    tomorrow (local) as soon as the source has them; a price that has not arrived is asked again
    (one partition per area)."""

    name = "spot_prices"
    primary_keys = ("area", "timestamp")
    replication_key = "timestamp"
    schema = PRICE_SCHEMA
    selected_by_default = False  # the shipped meltano.yml selects it

    def __init__(self, tap: TapWattiVahti) -> None:
        """Create the stream of ``tap``."""
        super().__init__(tap)
        self._runs: dict[str, PriceRun] = {}

    @property
    @override
    def partitions(self) -> list[dict]:
        """One partition: the ``price_area``."""
        return [{"area": self.settings.prices.area}]

    @override
    def compare_start_date(self, value: str, start_date_value: str) -> str:
        """A bookmark wins over ``start_date`` (the SDK would take the later of the two)."""
        return value

    def price_run(self, context: Context) -> PriceRun:
        """The run of one area (made once per sync): its bookmark and state as the SDK keeps
        them."""
        area = str(context["area"])
        if area not in self._runs:
            # Planned before the SDK syncs the partition when costs ask for the prices first:
            # its bookmark is then not yet where get_starting_timestamp reads it.
            compat.write_starting_value(self, context)
            state = PriceState(self.get_context_state(context))
            self._runs[area] = PriceRun(
                settings=self.settings,
                state=state,
                bookmark=self.get_starting_timestamp(context) if state.has_bookmark else None,
                now=datetime.now(UTC),
                logger=self.logger,
            )
        return self._runs[area]

    @override
    def want_prices(self, book: PriceBook) -> None:
        """Each area's range and owed spans."""
        if book.source is not None:
            for context in self.partitions:
                self.price_run(context).want(book)

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        """The area's prices in time order (none with ``price_source`` ``none``)."""
        assert context is not None
        book = self.tap.price_book
        if book.source is None:
            self.logger.info(
                "The price_source setting is none: spot_prices asks for no price and emits nothing."
            )
            return
        yield from self.price_run(context).records(book)
