"""Naive local wall-clock times → UTC instants, request windows, the periods a local day must
have, and missing periods named in local time. Pure.

How the API's naive times are placed on the daylight-saving days: docs/wattivahti-api.md,
"Daylight saving time", and docs/design.md, "Rules that keep data safe".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

UTC = timezone.utc
HOUR = timedelta(hours=1)
QUARTER = timedelta(minutes=15)
SPAN_DASH = "\u2013"  # an en dash between the start and the stop of a span


@dataclass(frozen=True)
class Reading:
    """One value of an answer placed at its UTC instant (the period start)."""

    instant: datetime
    quantity: Decimal | None


@dataclass(frozen=True)
class Rejected:
    """A value that could not be placed at an instant of its own, and why."""

    time: str
    quantity: Decimal | None
    reason: str


@dataclass(frozen=True)
class DayLabels:
    """How the labels of a spring-forward day the window covers whole, with as many values as
    the day has periods, were read: by label when they follow the clock, else by position."""

    day: date
    by_position: bool
    #: The first and the last label that differ from the clock, with what the clock shows there.
    shifted: tuple[tuple[str, str], tuple[str, str]] | None = None

    def describe(self) -> str:
        """The day and the variant, for the log."""
        if self.shifted is None:
            return (
                f"{self.day} follows the clock (no value labelled in the hour the clocks skip): "
                f"placed by label"
            )
        (first, first_clock), (last, last_clock) = self.shifted
        return (
            f"{self.day} is shifted (values labelled {first}{SPAN_DASH}{last} belong to "
            f"{first_clock}{SPAN_DASH}{last_clock}, as if the winter offset had lasted longer): "
            f"its labels contradict the day's grid but their count matches it, so its values "
            f"were placed by position"
        )


@dataclass
class Placement:
    """The placed readings in UTC order (no two share an instant), the rejected values, and how
    the spring-forward days' labels were read."""

    readings: list[Reading] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    spring_days: list[DayLabels] = field(default_factory=list)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which local ``day`` begins in ``zone``."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def local_text(instant: datetime, zone: ZoneInfo) -> str:
    """An instant as local ISO 8601 time with its offset, e.g. ``2025-10-26T03:00:00+02:00``.

    Unambiguous even inside the repeated fall hour, and readable as the local time.
    """
    return instant.astimezone(zone).isoformat()


def parse_local(text: str, zone: ZoneInfo) -> datetime:
    """Parse an ISO 8601 date or date-time; a naive value is local time in ``zone``.

    Raises ValueError for text that is not ISO 8601.
    """
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def candidate_instants(naive: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants a naive local time can mean: none (spring gap), one, or two (fall).

    Two candidates come in chronological order: the first and the second occurrence.
    """
    earlier = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    later = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if earlier.astimezone(zone).replace(tzinfo=None) != naive:
        return []  # the wall clock skipped this time
    return [earlier] if earlier == later else [earlier, later]


def place_values(
    values: Iterable[tuple[str, Decimal | None]],
    zone: ZoneInfo,
    start: datetime,
    stop: datetime,
    step: timedelta | None = None,
) -> Placement:
    """Place an answer's ``(time, quantity)`` pairs, in the API's order, at UTC instants.

    ``start`` and ``stop`` are the requested window; a naive time only means instants inside it.
    The n-th appearance of a naive time takes its n-th candidate instant. Rejected (with a reason
    naming the time): times in the spring gap, times seen more often than they occur, times
    outside the window, unparseable times, and an instant that is already taken.

    With ``step`` (the answer's period), a local day the window covers whole whose labels
    contradict its grid of ``step`` periods while their count matches it (WattiVahti's shifted
    spring-day labels) is placed by position instead: :func:`by_position`.
    """
    items = list(values)
    placement = Placement()
    positions = by_position(items, zone, start, stop, step, placement) if step else {}
    seen: dict[datetime, int] = {}
    taken: set[datetime] = set(positions.values())
    for index, (text, quantity) in enumerate(items):
        if index in positions:
            placement.readings.append(Reading(positions[index], quantity))
            continue
        try:
            parsed = datetime.fromisoformat(text)
        except (TypeError, ValueError):
            placement.rejected.append(Rejected(str(text), quantity, "is not an ISO 8601 time"))
            continue
        if parsed.tzinfo is not None:
            candidates = [parsed.astimezone(UTC)]
        else:
            candidates = candidate_instants(parsed, zone)
            if not candidates:
                reason = "lies in the spring-forward gap, a local time that does not exist"
                placement.rejected.append(Rejected(text, quantity, reason))
                continue
        inside = [instant for instant in candidates if start <= instant < stop]
        if not inside:
            reason = "lies outside the requested window"
            placement.rejected.append(Rejected(text, quantity, reason))
            continue
        occurrence = seen.get(parsed, 0)
        seen[parsed] = occurrence + 1
        if occurrence >= len(inside):
            reason = (
                f"was sent {occurrence + 1} times but occurs {len(inside)} time(s) in the window"
            )
            placement.rejected.append(Rejected(text, quantity, reason))
            continue
        instant = inside[occurrence]
        if instant in taken:
            reason = f"falls on {instant.isoformat()}, which another value already holds"
            placement.rejected.append(Rejected(text, quantity, reason))
            continue
        taken.add(instant)
        placement.readings.append(Reading(instant, quantity))
    placement.readings.sort(key=lambda reading: reading.instant)
    return placement


def by_position(
    items: list[tuple[str, Decimal | None]],
    zone: ZoneInfo,
    start: datetime,
    stop: datetime,
    step: timedelta,
    placement: Placement,
) -> dict[int, datetime]:
    """The instants of the values of each local day placed by position: index → instant.

    A day qualifies when ``[start, stop)`` covers it whole, its values (those labelled with its
    date, at multiples of ``step`` from midnight) are as many as its grid of ``step`` periods,
    their labels rise strictly but differ from the clock's: the n-th value then takes the n-th
    period. On a spring-forward day either reading is noted in ``placement.spring_days``.
    """
    days: dict[date, list[tuple[int, datetime]]] = {}
    for index, (text, _) in enumerate(items):
        try:
            naive = datetime.fromisoformat(text)
        except (TypeError, ValueError):
            continue
        if naive.tzinfo is None:
            days.setdefault(naive.date(), []).append((index, naive))
    positions: dict[int, datetime] = {}
    for day, labelled in days.items():
        day_start, day_stop = local_midnight(day, zone), local_midnight(day + timedelta(1), zone)
        if not start <= day_start < day_stop <= stop:
            continue
        grid = [day_start + step * i for i in range((day_stop - day_start) // step)]
        labels = [naive for _, naive in labelled]
        clock = [instant.astimezone(zone).replace(tzinfo=None) for instant in grid]
        spring = day_stop - day_start < timedelta(days=1)
        if len(labels) != len(grid):
            continue
        if labels == clock:
            if spring:
                placement.spring_days.append(DayLabels(day, by_position=False))
            continue
        midnight = datetime(day.year, day.month, day.day)
        aligned = all((label - midnight) % step == timedelta(0) for label in labels)
        rising = all(a < b for a, b in pairwise(labels))
        if not (aligned and rising):
            continue
        differ = [(a, b) for a, b in zip(labels, clock, strict=True) if a != b]
        (first, first_clock), (last, last_clock) = differ[0], differ[-1]
        shown = ((_hhmm(first), _hhmm(first_clock)), (_hhmm(last), _hhmm(last_clock)))
        placement.spring_days.append(DayLabels(day, by_position=True, shifted=shown))
        for (index, _), instant in zip(labelled, grid, strict=True):
            positions[index] = instant
    return positions


def _hhmm(naive: datetime) -> str:
    return naive.strftime("%H:%M")


def plan_windows(
    start: datetime, stop: datetime, zone: ZoneInfo, max_days: int
) -> list[tuple[datetime, datetime]]:
    """Split ``[start, stop)`` into request windows.

    Windows end at local midnight, never cross a local calendar month, and span at most
    ``max_days`` local days, so every request stays within a month of values (about 3,000
    quarter hours, a size known to work) and the boundaries are the same from run to run.
    """
    windows: list[tuple[datetime, datetime]] = []
    begin = start
    while begin < stop:
        day = begin.astimezone(zone).date()
        month_end = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        end_day = min(day + timedelta(days=max_days), month_end)
        end = min(local_midnight(end_day, zone), stop)
        windows.append((begin, end))
        begin = end
    return windows


@dataclass(frozen=True)
class Period:
    """One period of a grid: its start (UTC) and its length (an hour or a quarter hour)."""

    start: datetime
    length: timedelta

    @property
    def stop(self) -> datetime:
        return self.start + self.length


def local_days(start: datetime, stop: datetime, zone: ZoneInfo) -> list[date]:
    """The local dates that ``[start, stop)`` touches, in order."""
    if stop <= start:
        return []
    first = start.astimezone(zone).date()
    last = (stop - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_grid(day: date, zone: ZoneInfo, quarters_from: datetime | None) -> list[Period]:
    """The periods local ``day`` must have, in time order.

    ``quarters_from`` is where 15-minute values begin: ``None`` means hourly all day, an instant
    at or before the day's midnight quarter-hourly all day. On the switch day the grid holds the
    whole hours that end by the switch (an hour reaching past it would double the quarter hours
    it covers), then the quarter hours from it (rounded up to a quarter hour from midnight).
    """
    begin, end = local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)
    if quarters_from is None:
        switch = end
    else:
        offset = max(quarters_from - begin, timedelta(0))
        switch = min(begin - (-offset // QUARTER) * QUARTER, end)
    periods: list[Period] = []
    instant = begin
    while instant + HOUR <= switch:
        periods.append(Period(instant, HOUR))
        instant += HOUR
    instant = switch
    while instant < end:
        periods.append(Period(instant, QUARTER))
        instant += QUARTER
    return periods


def collapse(periods: Iterable[Period]) -> list[list[Period]]:
    """Consecutive periods (each starting where the previous one stops) grouped into spans."""
    spans: list[list[Period]] = []
    for period in sorted(periods, key=lambda p: p.start):
        if spans and spans[-1][-1].stop == period.start:
            spans[-1].append(period)
        else:
            spans.append([period])
    return spans


def named_spans(periods: Iterable[Period], zone: ZoneInfo, limit: int = 12) -> str:
    """``periods`` collapsed into spans and named in local time, the first ``limit`` of them,
    then how many more."""
    spans = collapse(periods)
    named = [describe_span(span, zone) for span in spans[:limit]]
    if len(spans) > limit:
        rest = spans[limit:]
        named.append(f"and {len(rest)} more span(s) of {sum(map(len, rest))} period(s)")
    return ", ".join(named)


def describe_span(span: list[Period], zone: ZoneInfo) -> str:
    """A span in local time with its size: ``2025-10-20 13:00``, an en dash, ``15:00 (8 quarter
    hours)``.

    The stop shows its date only when it differs from the start's; a time of the fall's repeated
    hour carries its UTC offset, so both occurrences stay distinguishable.
    """
    start, stop = span[0].start, span[-1].stop
    first = _clock(start, zone)
    same_day = stop.astimezone(zone).date() == start.astimezone(zone).date()
    last = _clock(stop, zone, with_date=not same_day)
    hours = sum(1 for p in span if p.length == HOUR)
    quarters = len(span) - hours
    sizes = [
        f"{count} {unit}{'' if count == 1 else 's'}"
        for count, unit in ((hours, "hour"), (quarters, "quarter hour"))
        if count
    ]
    return f"{first}{SPAN_DASH}{last} ({' and '.join(sizes)})"


def _clock(instant: datetime, zone: ZoneInfo, *, with_date: bool = True) -> str:
    local = instant.astimezone(zone)
    text = local.strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M")
    if len(candidate_instants(local.replace(tzinfo=None), zone)) > 1:
        text += local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    return text
