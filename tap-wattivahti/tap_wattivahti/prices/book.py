"""The run's one way to prices: :class:`PriceBook`. Streams say early what they will need
(:meth:`~PriceBook.want`), and the first to ask (:meth:`~PriceBook.prices`) fetches it all at once,
in as few requests as the source's span allows; later asks are served from what was fetched."""

from __future__ import annotations

import typing as t
from collections import defaultdict
from datetime import datetime, timedelta

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from tap_wattivahti.prices.base import Price, PriceSource

#: A span of time ``[start, stop)`` in UTC.
Span = tuple[datetime, datetime]


class PriceBook:
    """The prices of one run, per area, from one source (none: ``price_source`` is ``none``)."""

    def __init__(self, source: PriceSource | None) -> None:
        """A book asking ``source``; with None it never asks and has no price."""
        self.source = source
        #: Requests sent to the source so far.
        self.requests = 0
        self._wanted: dict[str, list[Span]] = defaultdict(list)
        self._fetched: dict[str, list[Span]] = defaultdict(list)
        self._prices: dict[str, dict[datetime, Price]] = defaultdict(dict)

    def want(self, area: str, start: datetime, stop: datetime) -> None:
        """Note that ``[start, stop)`` of ``area`` will be asked for this run (no request yet)."""
        if start < stop:
            self._wanted[area].append((start, stop))

    def prices(self, area: str, start: datetime, stop: datetime) -> dict[datetime, Price]:
        """The prices of periods starting in ``[start, stop)``, by start. What was not fetched yet
        of this range and of everything wanted for ``area`` is fetched now, together."""
        if self.source is None:
            return {}
        wanted = [*self._wanted.pop(area, []), (start, stop)]
        missing = without(merged(wanted), self._fetched[area])
        for window in _windows(missing, self.source.max_span):
            self.requests += 1
            prices = self.source.fetch(area, *window)
            # A window may span what was fetched before: that stays as the run first saw it.
            new = without([window], self._fetched[area])
            self._prices[area].update(
                (p.start, p) for p in prices if any(a <= p.start < b for a, b in new)
            )
            self._fetched[area] = merged([*self._fetched[area], window])
        return {at: price for at, price in self._prices[area].items() if start <= at < stop}


def merged(spans: Iterable[Span]) -> list[Span]:
    """``spans`` as the fewest disjoint spans in time order (touching spans joined)."""
    joined: list[Span] = []
    for start, stop in sorted(s for s in spans if s[0] < s[1]):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], stop))
        else:
            joined.append((start, stop))
    return joined


def without(spans: list[Span], taken: list[Span]) -> list[Span]:
    """The parts of (merged) ``spans`` that no span of (merged) ``taken`` covers."""
    left: list[Span] = []
    for start, stop in spans:
        begin = start
        for taken_start, taken_stop in taken:
            if taken_stop <= begin or taken_start >= stop:
                continue
            if taken_start > begin:
                left.append((begin, taken_start))
            begin = max(begin, taken_stop)
        if begin < stop:
            left.append((begin, stop))
    return left


def _windows(spans: list[Span], longest: timedelta) -> list[Span]:
    """Requests covering (merged) ``spans``: the fewest, each at most ``longest`` long.

    Each window starts at the earliest instant still needed and ends where the last span that
    begins inside it ends (at most ``longest`` later): so a gap between two needs is asked
    along only when both fit in one request.
    """
    windows: list[Span] = []
    pending = list(spans)
    while pending:
        begin = pending[0][0]
        limit = begin + longest
        end = begin
        while pending and pending[0][0] < limit:
            _, stop = pending.pop(0)
            end = min(stop, limit)
            if stop > limit:
                pending.insert(0, (limit, stop))
                break
        windows.append((begin, end))
    return windows
