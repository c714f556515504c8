"""Which ``meterdata2`` requests cover each window: the ``resolution`` setting as a pure planner.

Answers in, next request out: :meth:`Planner.window` gives a :class:`WindowPlan` whose
:attr:`~WindowPlan.ask` is the request to send; :meth:`~WindowPlan.answer` takes where the
answer's values begin and gives the next one, until the window is covered
(:attr:`~WindowPlan.cover`). No HTTP, no SDK. The rules it keeps: docs/design.md, "The
resolution switch".
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tap_wattivahti.timeutil import HOUR

if t.TYPE_CHECKING:
    from collections.abc import Generator, Sequence
    from zoneinfo import ZoneInfo

QUARTER_HOURLY = "PT15MIN"
HOURLY = "PT1H"
#: The ``resolution`` setting's default: 15-minute values where they exist, hourly before.
AUTO = "auto"
#: What a probe asks for: the last local day of a window.
PROBE_SPAN = timedelta(days=1)


@dataclass
class Switch:
    """What is known about where one meter's 15-minute values begin."""

    #: 15-minute values exist at this instant (and so from here on).
    quarters_from: datetime | None = None
    #: No 15-minute values before this instant.
    hourly_until: datetime | None = None
    #: Hourly values (not nulls) were taken up to here: quarter hours never replace them.
    hours_until: datetime | None = None

    @classmethod
    def recalled(
        cls,
        quarters_from: datetime | None,
        hourly_until: datetime | None,
        hours_until: datetime | None,
        stop: datetime,
        zone: ZoneInfo,
    ) -> Switch:
        """What earlier runs learned; a probe on the local day of ``stop`` holds until ``stop``
        (a meter is not asked again the same day whether it switched)."""
        switch = cls(quarters_from, hourly_until, hours_until)
        if hourly_until is not None and (
            hourly_until.astimezone(zone).date() == stop.astimezone(zone).date()
        ):
            switch.saw_none_before(stop)
        return switch

    def saw_quarters(self, instant: datetime) -> None:
        """A 15-minute value exists at ``instant``."""
        if self.quarters_from is None or instant < self.quarters_from:
            self.quarters_from = instant

    def saw_none_before(self, instant: datetime) -> None:
        """No 15-minute value exists before ``instant``."""
        if self.hourly_until is None or instant > self.hourly_until:
            self.hourly_until = instant

    def took_hours_until(self, instant: datetime) -> None:
        """An hourly value that ends at ``instant`` was taken (the stream tells)."""
        if self.hours_until is None or instant > self.hours_until:
            self.hours_until = instant


@dataclass(frozen=True)
class Ask:
    """One ``meterdata2`` request: a resolution and a span ``[start, stop)``."""

    resolution: str
    start: datetime
    stop: datetime


@dataclass(frozen=True)
class Part:
    """An answer that covers part of a window; with ``keep_before`` (the switch), only its
    periods that end by then count; with ``keep_from`` (the switch, when quarter hours exist
    before it), only those that start then or later."""

    ask: Ask
    keep_before: datetime | None = None
    keep_from: datetime | None = None


@dataclass(frozen=True)
class Cover:
    """The answers that cover one window, in time order, and where its grid turns
    quarter-hourly (``None``: hourly throughout)."""

    parts: tuple[Part, ...]
    quarters_from: datetime | None
    #: The binary search over later windows ran while covering this one.
    probed: bool = False

    @property
    def switch_at(self) -> datetime | None:
        """The first 15-minute instant when the window holds both resolutions."""
        return self.parts[0].keep_before


class WindowPlan:
    """The requests that cover one window, one at a time (see the module docstring)."""

    def __init__(self, steps: Generator[Ask, datetime | None, Cover]) -> None:
        """Follow ``steps``, which yields requests, takes answers, and returns the cover."""
        self._steps = steps
        #: The request to send next; None once the window is covered.
        self.ask: Ask | None = next(steps)
        self._cover: Cover | None = None

    def answer(self, first: datetime | None) -> Ask | None:
        """Take the answer to :attr:`ask`: the instant of its first value (None: no values).
        Returns the next request (also kept in :attr:`ask`), or None when the window is covered.
        """
        try:
            self.ask = self._steps.send(first)
        except StopIteration as done:
            self.ask, self._cover = None, done.value
        return self.ask

    @property
    def cover(self) -> Cover:
        """How the answers cover the window (once :attr:`ask` is None)."""
        if self._cover is None:
            msg = "The window is not covered yet: answer its requests first."
            raise RuntimeError(msg)
        return self._cover


@dataclass
class Planner:
    """The requests of one partition's run, window by window, for a ``resolution`` setting."""

    resolution: str
    windows: Sequence[tuple[datetime, datetime]]
    #: What is known of the switch; the answers add to it (the stream keeps it in the state).
    switch: Switch = field(default_factory=Switch)

    def window(self, index: int) -> WindowPlan:
        """The plan of ``windows[index]`` (windows are planned in order)."""
        return WindowPlan(self._cover(index))

    def _cover(self, index: int) -> Generator[Ask, datetime | None, Cover]:
        start, stop = self.windows[index]
        if self.resolution != AUTO:
            forced = Ask(self.resolution, start, stop)
            yield forced
            return Cover((Part(forced),), start if self.resolution == QUARTER_HOURLY else None)
        switch = self.switch
        taken = max(switch.hours_until or start, start)
        if switch.quarters_from is not None and switch.quarters_from <= start and taken == start:
            quarters = Ask(QUARTER_HOURLY, start, stop)
            yield quarters
            return Cover((Part(quarters),), start)
        if (switch.hourly_until is not None and stop <= switch.hourly_until) or taken >= stop:
            return (yield from self._hourly(start, stop))
        quarters = Ask(QUARTER_HOURLY, start, stop)
        first = yield quarters
        if first is None:
            switch.saw_none_before(stop)
            probed = yield from self._probe(index + 1)
            return (yield from self._hourly(start, stop, probed))
        switch.saw_quarters(first)
        at = max(first, taken)
        if at - start < HOUR:
            return Cover((Part(quarters),), start)
        hourly = Ask(HOURLY, start, at)
        yield hourly
        keep_from = at if at > first else None
        return Cover((Part(hourly, keep_before=at), Part(quarters, keep_from=keep_from)), at)

    def _hourly(
        self, start: datetime, stop: datetime, probed: bool = False
    ) -> Generator[Ask, datetime | None, Cover]:
        """Cover ``[start, stop)`` with hourly values only."""
        hourly = Ask(HOURLY, start, stop)
        yield hourly
        return Cover((Part(hourly),), None, probed)

    def _probe(self, begin: int) -> Generator[Ask, datetime | None, bool]:
        """Binary-search ``windows[begin:]`` for the first one with 15-minute values; whether
        there was anything to search.

        Each probe asks ``PT15MIN`` for the last local day of a window; 15-minute values, once
        they exist, exist for every later period, so the answers are monotonic.
        """
        low, high = begin, len(self.windows)
        if low >= high:
            return False
        while low < high:
            middle = (low + high) // 2
            start, stop = self.windows[middle]
            first = yield Ask(QUARTER_HOURLY, max(start, stop - PROBE_SPAN), stop)
            if first is not None:
                self.switch.saw_quarters(first)
                high = middle
            else:
                self.switch.saw_none_before(stop)
                low = middle + 1
        return True
