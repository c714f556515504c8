"""One run of the ``spot_prices`` stream for one area: its range, its records, and the prices the
source did not have, named and kept to ask again. Rules: docs/design.md#spot-prices.

The partition's state, whose shape this module owns (the SDK keeps the bookmark)::

    {"context": {"area": "FI"},
     "replication_key": "timestamp", "replication_key_value": "2025-11-21T21:45:00+00:00",
     "owed": [["2025-11-16T11:00:00+00:00", "2025-11-16T13:00:00+00:00"]]}

``owed`` holds the spans (UTC, ``[start, stop)``) before the bookmark that had no price when they
were asked: every run asks them again while they are inside the settlement window, and emits
what has arrived. A state without it has nothing owed.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tap_wattivahti.prices.base import QUARTER_HOURS_FROM, Price
from tap_wattivahti.prices.book import Span, merged, without
from tap_wattivahti.timeutil import (
    HOUR,
    QUARTER,
    UTC,
    Period,
    collapse,
    describe_span,
    local_midnight,
)

if t.TYPE_CHECKING:
    from collections.abc import MutableMapping

    from tap_wattivahti.prices.book import PriceBook
    from tap_wattivahti.settings import Settings

OWED = "owed"
_MAX_SPANS = 12


@dataclass
class PriceRun:
    """What one area's run asks for, and what it found."""

    area: str
    #: The first period start to emit (after the bookmark) and the end of tomorrow (local).
    start: datetime
    stop: datetime
    #: Spans asked again: owed by earlier runs, inside the settlement window.
    owed: list[Span]
    #: Spans owed by earlier runs that left the settlement window: named once, never asked again.
    given_up: list[Span]
    now: datetime
    #: Whether missing prices are kept to ask again (``correction_days`` > 0).
    keeps_owed: bool
    #: Filled by :meth:`collect`: records to emit (time order), the past periods without a price,
    #: and the spans owed after this run.
    records: list[dict[str, t.Any]] = field(default_factory=list)
    missing: list[Period] = field(default_factory=list)
    owed_after: list[Span] = field(default_factory=list)

    @classmethod
    def plan(
        cls,
        settings: Settings,
        state: MutableMapping[str, t.Any],
        bookmark: datetime | None,
        now: datetime,
    ) -> PriceRun:
        """The run of ``settings``' area with partition ``state`` and ``bookmark`` at ``now``."""
        zone = settings.zone
        today = now.astimezone(zone).date()
        stop = local_midnight(today + timedelta(days=2), zone)
        if settings.end_date is not None:
            stop = min(stop, settings.end_date)
        if bookmark is not None:
            start = bookmark + QUARTER  # the next period (an hour's next one starts later still)
        elif settings.start_date is not None:
            start = settings.start_date
        else:
            start = local_midnight(today - timedelta(days=settings.initial_sync_days), zone)
        window = local_midnight(today - timedelta(days=settings.correction_days), zone)
        owed = read_owed(state)
        inside = without(owed, [(datetime.min.replace(tzinfo=UTC), window)])
        return cls(
            area=settings.prices.area,
            start=start,
            stop=stop,
            owed=inside if settings.correction_days else [],
            given_up=without(owed, inside) if settings.correction_days else owed,
            now=now,
            keeps_owed=settings.correction_days > 0,
        )

    def want(self, book: PriceBook) -> None:
        """Tell ``book`` what this run will ask (no request)."""
        for start, stop in [*self.owed, (self.start, self.stop)]:
            book.want(self.area, start, stop)

    def collect(self, book: PriceBook, source: str) -> None:
        """Ask ``book`` and work out the records (``source`` names their source), the missing
        past periods and what stays owed."""
        asked = merged([*self.owed, (self.start, self.stop)])
        prices: dict[datetime, Price] = {}
        for start, stop in asked:
            prices.update(book.prices(self.area, start, stop))
        ahead = [p.start for p in prices.values() if self.start <= p.start < self.stop]
        newest = max(ahead, default=None)
        covered = {p.start + QUARTER * i for p in prices.values() for i in range(_quarters(p))}
        gaps = [
            period
            for start, stop in asked
            for period in market_grid(start, stop)
            if period.start not in covered
        ]
        self.missing = [p for p in gaps if p.start < self.now]
        # Gaps before the newest price are passed by the bookmark: they are owed, as are the
        # earlier runs' owed spans still without a price. Later gaps are asked from the bookmark.
        owed = [p for p in gaps if newest is not None and p.start < newest]
        owed += [p for p in gaps if any(a <= p.start < b for a, b in self.owed)]
        self.owed_after = merged((p.start, p.stop) for p in owed) if self.keeps_owed else []
        self.records = [
            {
                "area": self.area,
                "timestamp": price.start.isoformat(),
                "resolution": price.resolution,
                "price_eur_mwh": float(price.eur_mwh),
                "source": source,
            }
            for price in sorted(prices.values(), key=lambda p: p.start)
        ]

    def describe_missing(self, settings: Settings) -> str | None:
        """The one WARNING of the run about prices the source does not have, if any."""
        zone = settings.zone
        parts: list[str] = []
        if self.missing:
            spans = collapse(self.missing)
            named = [describe_span(span, zone) for span in spans[:_MAX_SPANS]]
            if len(spans) > _MAX_SPANS:
                rest = spans[_MAX_SPANS:]
                named.append(f"and {len(rest)} more span(s) of {sum(map(len, rest))} period(s)")
            again = (
                f"they are asked again on later runs while inside the settlement window "
                f"(correction_days = {settings.correction_days})"
                if settings.correction_days
                else "they are not asked again (correction_days = 0)"
            )
            parts.append(
                f"Spot prices {self.area} ({settings.prices.source}): {len(self.missing)} "
                f"past period(s) have no price at the source: {', '.join(named)}. No record "
                f"was emitted for them (never a 0); {again}."
            )
        if self.given_up:
            named = [describe_span(_periods(span), zone) for span in self.given_up[:_MAX_SPANS]]
            parts.append(
                f"Spot prices {self.area}: {', '.join(named)} left the settlement window "
                f"without a price and will not be asked again."
            )
        return " ".join(parts) or None


def market_grid(start: datetime, stop: datetime) -> list[Period]:
    """The market's periods starting in ``[start, stop)``: hours before the 15-minute go-live,
    quarter hours from it."""
    periods: list[Period] = []
    instant = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
    if instant < start:
        instant += QUARTER
    while instant < stop:
        if instant >= QUARTER_HOURS_FROM:
            periods.append(Period(instant, QUARTER))
            instant += QUARTER
        elif instant.minute:
            instant = instant.replace(minute=0) + HOUR
        else:
            periods.append(Period(instant, HOUR))
            instant += HOUR
    return periods


def read_owed(state: MutableMapping[str, t.Any]) -> list[Span]:
    """The owed spans of a partition's state (none in an older state)."""
    return merged(
        (datetime.fromisoformat(start), datetime.fromisoformat(stop))
        for start, stop in state.get(OWED, [])
    )


def write_owed(state: MutableMapping[str, t.Any], spans: list[Span]) -> None:
    """Keep ``spans`` as the partition's owed spans (the key goes when nothing is owed)."""
    if spans:
        state[OWED] = [[start.isoformat(), stop.isoformat()] for start, stop in merged(spans)]
    else:
        state.pop(OWED, None)


def _quarters(price: Price) -> int:
    return int((price.stop - price.start) / QUARTER)


def _periods(span: Span) -> list[Period]:
    return market_grid(*span)
