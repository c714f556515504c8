"""One area's run of the ``spot_prices`` stream: its range, its records, and the prices the
source did not have, named and kept to ask again (docs/design.md, "Spot prices").

:class:`PriceRun` tells the run's price book what it will ask (:meth:`PriceRun.want`, before any
stream asks, so one request serves every stream), then asks and emits
(:meth:`PriceRun.records`). The stream class only feeds it the SDK's bookmark and state and
passes its records on; the state's shape is :class:`~tap_wattivahti.state.PriceState`'s.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta

from tap_wattivahti.prices.base import QUARTER_HOURS_FROM
from tap_wattivahti.prices.book import Span, merged, without
from tap_wattivahti.timeutil import (
    HOUR,
    QUARTER,
    UTC,
    Period,
    local_midnight,
    local_text,
    named_spans,
)

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterator

    from tap_wattivahti.prices.base import Price
    from tap_wattivahti.prices.book import PriceBook
    from tap_wattivahti.settings import Settings
    from tap_wattivahti.state import PriceState

_EVER = datetime.min.replace(tzinfo=UTC)


class PriceRun:
    """One area's run of ``spot_prices``: from after the bookmark to the end of tomorrow (local),
    and the spans still owed inside the settlement window."""

    def __init__(
        self,
        *,
        settings: Settings,
        state: PriceState,
        bookmark: datetime | None,
        now: datetime,
        logger: logging.Logger,
    ) -> None:
        """Plan the run: ``bookmark`` is the SDK's, ``state`` the partition's."""
        self.settings = settings
        self.area = settings.prices.area
        self.state = state
        self.now = now
        self.logger = logger
        zone = settings.zone
        today = now.astimezone(zone).date()
        self.stop, until = local_midnight(today + timedelta(days=2), zone), "the end of tomorrow"
        if settings.end_date is not None and settings.end_date < self.stop:
            self.stop, until = settings.end_date, "end_date"
        if bookmark is not None:
            self.start, origin = bookmark + QUARTER, "after the bookmark"
        elif settings.start_date is not None:
            self.start, origin = settings.start_date, "start_date (no bookmark)"
        else:
            days = settings.initial_sync_days
            self.start = local_midnight(today - timedelta(days=days), zone)
            origin = f"{days} days ago (no bookmark, no start_date)"
        owed = state.owed
        self.bookmark = bookmark
        #: Owed spans asked again (inside the settlement window), and those that left it.
        self.owed = self._inside_window(owed, bookmark or now)
        self.given_up = without(owed, self.owed)
        self.logger.info(
            "Spot prices %s (%s): from %s (%s) to %s (%s)%s.",
            self.area,
            settings.prices.source,
            local_text(self.start, zone),
            origin,
            local_text(self.stop, zone),
            until,
            f", and {len(self.owed)} span(s) still owed" if self.owed else "",
        )

    def window_start(self, newest: datetime) -> datetime:
        """Where the settlement window begins, as for meter data: ``correction_days`` local days
        before the day of ``newest`` (the bookmark)."""
        zone = self.settings.zone
        day = newest.astimezone(zone).date()
        return local_midnight(day - timedelta(days=self.settings.correction_days), zone)

    def _inside_window(self, spans: list[Span], newest: datetime) -> list[Span]:
        if not self.settings.correction_days:
            return []
        return without(merged(spans), [(_EVER, self.window_start(newest))])

    @property
    def spans(self) -> list[Span]:
        """The periods this run is for: the owed spans and from after the bookmark on."""
        return merged([*self.owed, (self.start, self.stop)])

    @property
    def asked(self) -> list[Span]:
        """What this run asks for: its spans, and with owed spans the bookmark's own period (to
        repeat it last when only older, owed prices are emitted, so the bookmark stays)."""
        own = [(self.bookmark, self.start)] if self.bookmark is not None and self.owed else []
        return merged([*self.spans, *own])

    def want(self, book: PriceBook) -> None:
        """Tell ``book`` what this run will ask (no request)."""
        for start, stop in self.asked:
            book.want(self.area, start, stop)

    def records(self, book: PriceBook) -> Iterator[dict[str, t.Any]]:
        """The prices the source has for this run's spans, in time order; the state then owes
        the periods the bookmark passes without a price, and a WARNING names the past ones."""
        prices: dict[datetime, Price] = {}
        for start, stop in self.asked:
            prices.update(book.prices(self.area, start, stop))
        covered = {p.start + QUARTER * i for p in prices.values() for i in range(_quarters(p))}
        gaps = [p for span in self.spans for p in market_grid(*span) if p.start not in covered]
        newest = max((at for at in prices if at >= self.start), default=None)
        # The bookmark passes the gaps before the newest price: those are owed, and so are the
        # owed spans still without a price. Later gaps are asked again from the bookmark.
        owed = [
            (p.start, p.stop)
            for p in gaps
            if (newest is not None and p.start < newest)
            or any(a <= p.start < b for a, b in self.owed)
        ]
        reached = newest or self.bookmark or self.now  # where the bookmark is after this run
        owed_after = self._inside_window(owed, reached)
        # Until the records are out, what was owed stays owed (a stopped run loses nothing).
        self.state.owed = merged([*self.owed, *owed_after])
        source = self.settings.prices.source
        filled = [p for at, p in prices.items() if any(a <= at < b for a, b in self.owed)]
        new = [p for at, p in prices.items() if at >= self.start]
        kept = prices.get(self.bookmark) if self.bookmark is not None else None
        again = [kept] if filled and not new and kept is not None else []
        for price in [*sorted(filled, key=_start), *sorted(new, key=_start), *again]:
            yield {
                "area": self.area,
                "timestamp": price.start.isoformat(),
                "resolution": price.resolution,
                "price_eur_mwh": float(price.eur_mwh),
                "source": source,
            }
        self.state.owed = owed_after
        window = self.window_start(reached) if self.settings.correction_days else None
        self._report([p for p in gaps if p.start < self.now], window, prices)

    def _report(
        self, missing: list[Period], window: datetime | None, prices: dict[datetime, Price]
    ) -> None:
        """One WARNING for the past periods without a price (and spans given up), one INFO for
        where the prices end; ``window`` is where the settlement window begins (None: off)."""
        zone = self.settings.zone
        days = self.settings.correction_days
        parts: list[str] = []
        if missing:
            inside = f"while inside the settlement window (correction_days = {days})"
            if window is None:
                again = "they are not asked again (correction_days = 0)"
            elif missing[0].start >= window:
                again = f"they are asked again by every run {inside}"
            else:
                again = (
                    f"those from {local_text(window, zone)} on are asked again by every run "
                    f"{inside}, earlier ones are not"
                )
            parts.append(
                f"Spot prices {self.area} ({self.settings.prices.source}): {len(missing)} past "
                f"period(s) have no price at the source: {named_spans(missing, zone)}. No "
                f"record was emitted for them (never a 0); {again}."
            )
        if self.given_up:
            periods = [p for span in self.given_up for p in market_grid(*span)]
            parts.append(
                f"Spot prices {self.area}: {named_spans(periods, zone)} left the settlement window "
                f"without a price and will not be asked again."
            )
        if parts:
            self.logger.warning(" ".join(parts))
        last = max(prices.values(), key=lambda p: p.start, default=None)
        if last is not None and last.start >= self.start and last.stop < self.stop:
            self.logger.info(
                "Spot prices %s: the source has prices up to %s; the rest, to %s, is asked "
                "again by the next run (the next day's prices appear around 14:00 CET).",
                self.area,
                local_text(last.stop, zone),
                local_text(self.stop, zone),
            )


def market_grid(start: datetime, stop: datetime) -> list[Period]:
    """The market's periods starting in ``[start, stop)``: hours before the 15-minute go-live,
    quarter hours from it."""
    periods: list[Period] = []
    start, stop = start.astimezone(UTC), stop.astimezone(UTC)  # steps in UTC, DST or not
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


def _start(price: Price) -> datetime:
    return price.start


def _quarters(price: Price) -> int:
    return (price.stop - price.start) // QUARTER
