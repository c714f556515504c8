"""The shape of each partition's state, and the only code that reads or writes its extra keys.

The SDK keeps ``context``, ``replication_key`` and ``replication_key_value`` (the bookmark) of a
partition and emits every other key with them. A ``consumption`` or ``production`` partition::

    {"context": {"metering_point": "1234567"},
     "replication_key": "timestamp", "replication_key_value": "2025-06-13T20:45:00+00:00",
     "days": {"2025-06-12": ["9f2c1a0b3d4e5f60", 0, "ffffffffffffffffffffffff"],
              "2025-06-13": ["0a1b2c3d4e5f6071", 2, "3fffffffffffffffffffffff"]},
     "settled_at": "2025-06-14T05:00:12+00:00",
     "quarters_from": "2023-01-01T22:00:00+00:00", "hourly_until": "2022-12-31T22:00:00+00:00",
     "hours_until": "2023-01-01T22:00:00+00:00",
     "totals_from": "2025-06-04T21:00:00+00:00"}

A ``daily_totals`` partition::

    {"context": {"metering_point": "1234567", "kind": "consumption"},
     "replication_key": "day_start", "replication_key_value": "2025-06-12T21:00:00+00:00",
     "days": {"2025-06-12": ["5e6f708192a3b4c5", 0]}}

A ``spot_prices`` partition::

    {"context": {"area": "FI"},
     "replication_key": "timestamp", "replication_key_value": "2025-11-21T21:45:00+00:00",
     "owed": [["2025-11-16T11:00:00+00:00", "2025-11-16T13:00:00+00:00"]]}

A ``costs`` partition (no bookmark is read; the meter streams' runs drive it)::

    {"context": {"metering_point": "1234567", "kind": "consumption"},
     "replication_key": "timestamp", "replication_key_value": "2025-06-13T20:45:00+00:00",
     "costed": {"2025-06-12": ["7a1c2e3f40516273", 96, 0], "2025-06-13": ["…", 84, 4]},
     "unpriced": {"2025-06-13": [["2025-06-12T21:00:00+00:00", "PT15MIN", "0.113"], …]}}

``costed`` holds per local day of the settlement window a running fingerprint of the day's cost
records emitted so far, how many were emitted, and how many were unpriced; ``unpriced`` the meter
values of each day that has a period without a price (so that the price costs it when it
arrives, whether or not the meter run fetches that day again). A ``monthly_bills`` partition::

    {"context": {"metering_point": "1234567", "kind": "consumption"},
     "replication_key": "month_start", "replication_key_value": "2025-05-31T21:00:00+00:00",
     "bill_days": {"2025-06-01": [96, 96, "12.000", "0.7308", "0.3480", "0.27036", "0.339"]},
     "bills": {"2025-06": "5e6f708192a3b4c5"},
     "quarters_from": "2023-01-01T22:00:00+00:00"}

``bill_days`` holds the day sums (:class:`~tap_wattivahti.pricing.DayCosts`) of the months that
may still change (a month whose days are all older than the settlement window, and whose bill
was emitted, is dropped), ``bills`` a fingerprint of each such month's last emitted bill.

``days`` holds a mark per local day a later run may fetch again: a fingerprint of what was
emitted for the day, how many of its periods were missing, and (meter streams) which of its
quarter-hour slots hold a record, as hexadecimal bits (``"ffffffffffffffffffffffff"``: all 96;
a mark without it, of an earlier version, reads as unknown). What the other keys mean, and when
they are written: docs/design.md, "The settlement window" (``owed``, the spans whose prices did
not arrive: "Spot prices"). An extra key that is absent reads as
unknown; one that does not parse or names an instant after now (a clock that was ahead, a hand
edit) is dropped with a WARNING (:meth:`MeterState.distrust`). A state whose shape the SDK
cannot read at all stops the tap with one paragraph before any output (:func:`check`).
"""

from __future__ import annotations

import json
import typing as t
from datetime import date, datetime
from decimal import Decimal

from tap_wattivahti.errors import StateError
from tap_wattivahti.resolution import Switch
from tap_wattivahti.settlement import DayMark

if t.TYPE_CHECKING:
    from collections.abc import MutableMapping

DAYS = "days"
SETTLED_AT = "settled_at"
QUARTERS_FROM = "quarters_from"
HOURLY_UNTIL = "hourly_until"
HOURS_UNTIL = "hours_until"
TOTALS_FROM = "totals_from"
BOOKMARK = "replication_key_value"
#: What dropping each instant key does to the run that drops it.
_DROPPED = {
    SETTLED_AT: "this run re-reads the settlement window",
    QUARTERS_FROM: "this run asks again where the meter's 15-minute values begin",
    HOURLY_UNTIL: "this run asks again where the meter's 15-minute values begin",
    HOURS_UNTIL: "this run asks again where the meter's 15-minute values begin",
    TOTALS_FROM: (
        "daily totals owed since an interrupted run are computed only from this run's range "
        "(a bounded backfill loads any day electricity_daily then lacks)"
    ),
}
#: Where a user finds the state Meltano keeps.
STATE_ID_HINT = (
    "Meltano keeps the state under a state ID (`meltano state list` names them; the shipped "
    "project's hourly job uses prod:tap-wattivahti-to-target-influxdb)"
)
#: How a user looks at the state, in a WARNING about it.
INSPECT = f"{STATE_ID_HINT}: `meltano state get STATE_ID` shows it"
#: How a user repairs a state the tap cannot read.
REPAIR = (
    f"{STATE_ID_HINT}: look at it with `meltano state get STATE_ID`, correct it with `meltano "
    "state edit STATE_ID` (or `meltano state set --force STATE_ID '<JSON>'`), or remove it with "
    "`meltano state clear --force STATE_ID`, after which the next run starts at start_date (else "
    "initial_sync_days ago); without Meltano, correct or remove the file given to --state"
)
OWED = "owed"


class PartitionState:
    """A partition's state dict, with its day marks (``days``); written in place."""

    def __init__(self, state: MutableMapping[str, t.Any]) -> None:
        """Read and write ``state``, the SDK's state dict of one partition."""
        self._state = state

    def marks(self) -> dict[date, DayMark]:
        """The day marks; entries that do not parse (a hand-edited state) are ignored."""
        marks: dict[date, DayMark] = {}
        stored = self._state.get(DAYS)
        if not isinstance(stored, dict):
            return marks
        for text, entry in stored.items():
            mark = _mark(text, entry)
            if mark is not None:
                marks[mark[0]] = mark[1]
        return marks

    def mark(self, day: date, mark: DayMark) -> None:
        """Remember what was emitted for ``day``."""
        stored = self._state.get(DAYS)
        if not isinstance(stored, dict):
            stored = self._state[DAYS] = {}
        entry: list[t.Any] = [mark.fingerprint, mark.missing]
        if mark.stored is not None:
            entry.append(format(mark.stored, "x"))
        stored[day.isoformat()] = entry

    def forget_before(self, first: date) -> dict[date, DayMark]:
        """Drop the marks of days before ``first``; return the dropped ones."""
        dropped = {day: mark for day, mark in self.marks().items() if day < first}
        stored = self._state.get(DAYS)
        if isinstance(stored, dict):
            for day in dropped:
                stored.pop(day.isoformat(), None)
        return dropped

    @property
    def has_bookmark(self) -> bool:
        """Whether the SDK keeps a bookmark for the partition (the SDK reads its value)."""
        return bool(self._state.get(BOOKMARK))

    def _instant(self, key: str) -> datetime | None:
        text = self._state.get(key)
        if not isinstance(text, str):
            return None
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return value if value.tzinfo is not None else None

    def _set_instant(self, key: str, value: datetime | None) -> None:
        if value is None:
            self._state.pop(key, None)
        else:
            self._state[key] = value.isoformat()


class MeterState(PartitionState):
    """The state of one metering point's ``consumption`` or ``production`` partition."""

    def distrust(self, now: datetime) -> list[str]:
        """Drop the extra keys that do not parse or name an instant after ``now`` (a clock that
        was ahead, a hand edit), and the day marks that do not parse; say what each drop does."""
        dropped: list[str] = []
        stored = self._state.get(DAYS)
        if DAYS in self._state and not isinstance(stored, dict):
            self._state.pop(DAYS)
            dropped.append(
                f"{DAYS} is {_shown(stored)}, not a map of day marks, so every day this run "
                f"fetches whole is emitted again whole"
            )
        elif isinstance(stored, dict):
            bad = [text for text, entry in stored.items() if _mark(text, entry) is None]
            for text in bad:
                stored.pop(text)
            if bad:
                what = "entry is not a day mark" if len(bad) == 1 else "entries are not day marks"
                dropped.append(
                    f"{len(bad):,} {what} in {DAYS} ({_shown(bad)}), so those days are emitted "
                    f"again whole when fetched"
                )
        for key, effect in _DROPPED.items():
            if key not in self._state:
                continue
            text = self._state[key]
            instant = self._instant(key)
            if instant is None:
                problem = f"{key} {_shown(text)} is not an ISO 8601 date-time with an offset"
            elif instant > now and key != TOTALS_FROM:  # a later totals_from owes nothing
                problem = f"{key} {instant.isoformat()} lies in the future"
            else:
                continue
            self._state.pop(key)
            dropped.append(f"{problem}, so {effect}")
        return dropped

    @property
    def settled_at(self) -> datetime | None:
        """When a run last fetched the whole settlement window."""
        return self._instant(SETTLED_AT)

    @settled_at.setter
    def settled_at(self, value: datetime) -> None:
        self._set_instant(SETTLED_AT, value)

    @property
    def switch(self) -> Switch:
        """What earlier runs learned about where the meter's 15-minute values begin."""
        return Switch(
            self._instant(QUARTERS_FROM), self._instant(HOURLY_UNTIL), self._instant(HOURS_UNTIL)
        )

    def remember_switch(self, switch: Switch) -> None:
        """Keep what is known about the resolution switch for the next run (never forgets)."""
        for key, value in (
            (QUARTERS_FROM, switch.quarters_from),
            (HOURLY_UNTIL, switch.hourly_until),
            (HOURS_UNTIL, switch.hours_until),
        ):
            if value is not None:
                self._set_instant(key, value)

    @property
    def totals_from(self) -> datetime | None:
        """Where the data the derived streams have not taken yet begin (None: nothing owed)."""
        return self._instant(TOTALS_FROM)

    def owe_from(self, start: datetime) -> None:
        """The derived streams are owed this run's data from ``start`` (or from an older
        instant still owed)."""
        owed = self.totals_from
        self._set_instant(TOTALS_FROM, min(start, owed or start))

    def paid(self) -> None:
        """The derived streams took what was owed."""
        self._set_instant(TOTALS_FROM, None)


def _mark(text: object, entry: object) -> tuple[date, DayMark] | None:
    """A ``days`` entry as a day and its mark (None: not a day mark)."""
    if not isinstance(text, str) or not isinstance(entry, list) or len(entry) not in (2, 3):
        return None
    try:
        day = date.fromisoformat(text)
        hashed, missing = entry[0], int(entry[1])
        stored = int(entry[2], 16) if len(entry) == 3 else None
    except (TypeError, ValueError):
        return None
    if not isinstance(hashed, str) or missing < 0 or (stored is not None and stored < 0):
        return None
    return day, DayMark(hashed, missing, stored)


def _shown(value: object, limit: int = 60) -> str:
    """``value`` as JSON text for a message, cut at ``limit`` characters."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else f"{text[: limit - 1]}\u2026"


def check(state: object) -> None:
    """Raise :class:`StateError` when the SDK could not read ``state`` (the tap's input state):
    a shape it does not expect, or a bookmark that is not a date-time. Says where, what is
    wrong, and how to repair it (:data:`REPAIR`)."""

    def fail(where: str, problem: str) -> t.NoReturn:
        raise unreadable(where, problem)

    if not isinstance(state, dict):
        fail("the state", f"is {_shown(state)}, not a JSON object")
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        fail('"bookmarks"', f"is {_shown(bookmarks)}, not an object of streams")
    for stream, stream_state in bookmarks.items():
        where = f"stream {stream}"
        if not isinstance(stream_state, dict):
            fail(f"the state of {where}", f"is {_shown(stream_state)}, not an object")
        partitions = stream_state.get("partitions", [])
        if not isinstance(partitions, list):
            fail(f'"partitions" of {where}', f"is {_shown(partitions)}, not a list")
        seen: list[object] = []
        for number, partition in enumerate(partitions, start=1):
            if not isinstance(partition, dict) or not isinstance(partition.get("context"), dict):
                fail(
                    f"partition {number} of {where}",
                    f"is {_shown(partition)}, not an object with a context object",
                )
            context = partition["context"]
            named = f"the partition {_shown(context)} of {where}"
            if context in seen:
                fail(named, "is there twice")
            seen.append(context)
            value = partition.get(BOOKMARK)
            if value is not None and not _is_instant(value):
                fail(named, f"has the bookmark ({BOOKMARK}) {_shown(value)}, not a date-time")


def unreadable(where: str, problem: str) -> StateError:
    """The error for a state the tap cannot read: ``where`` (in it) ``problem``, and the repair."""
    return StateError(f"The tap cannot read its state: {where} {problem}. {REPAIR}.")


def _is_instant(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


class PriceState(PartitionState):
    """The state of one area's ``spot_prices`` partition."""

    @property
    def owed(self) -> list[tuple[datetime, datetime]]:
        """The spans (UTC, ``[start, stop)``) whose prices did not arrive, in time order; entries
        that do not parse are ignored."""
        spans = []
        stored = self._state.get(OWED)
        for entry in stored if isinstance(stored, list) else []:
            try:
                start, stop = (datetime.fromisoformat(text) for text in entry)
            except (TypeError, ValueError):
                continue
            if start.tzinfo is not None and stop.tzinfo is not None and start < stop:
                spans.append((start, stop))
        return sorted(spans)

    @owed.setter
    def owed(self, spans: list[tuple[datetime, datetime]]) -> None:
        if spans:
            self._state[OWED] = [[start.isoformat(), stop.isoformat()] for start, stop in spans]
        else:
            self._state.pop(OWED, None)


COSTED = "costed"
UNPRICED = "unpriced"
BILL_DAYS = "bill_days"
BILLS = "bills"


class CostMark(t.NamedTuple):
    """What a ``costs`` partition emitted for one local day: a running fingerprint of its
    records in time order, how many, and how many of them were unpriced."""

    fingerprint: str
    records: int
    unpriced: int


def _days_of(state: MutableMapping[str, t.Any], key: str) -> dict[str, t.Any]:
    stored = state.get(key)
    if not isinstance(stored, dict):
        stored = state[key] = {}
    return stored


def _parsed_days(stored: object, parse: t.Callable[[t.Any], t.Any]) -> dict[date, t.Any]:
    """A ``{"YYYY-MM-DD": entry}`` map read with ``parse``; entries that do not parse (a
    hand-edited state) are ignored."""
    parsed: dict[date, t.Any] = {}
    for text, entry in stored.items() if isinstance(stored, dict) else ():
        try:
            parsed[date.fromisoformat(text)] = parse(entry)
        except (TypeError, ValueError, ArithmeticError):
            continue
    return parsed


class CostState(PartitionState):
    """The state of one metering point's and kind's ``costs`` partition."""

    def day_marks(self) -> dict[date, CostMark]:
        """The day marks (``costed``)."""

        def parse(entry: t.Any) -> CostMark:
            hashed, records, unpriced = entry
            if not isinstance(hashed, str):
                raise TypeError(hashed)
            return CostMark(hashed, int(records), int(unpriced))

        return _parsed_days(self._state.get(COSTED), parse)

    def mark_day(self, day: date, mark: CostMark) -> None:
        """Remember what was emitted for ``day``."""
        _days_of(self._state, COSTED)[day.isoformat()] = list(mark)

    def unpriced(self) -> dict[date, list[tuple[datetime, str, Decimal]]]:
        """The meter values of each day that has an unpriced period (``unpriced``)."""

        def parse(entry: t.Any) -> list[tuple[datetime, str, Decimal]]:
            values = [(datetime.fromisoformat(a), str(r), Decimal(str(q))) for a, r, q in entry]
            if any(instant.tzinfo is None for instant, _, _ in values):
                raise ValueError(entry)
            return values

        return _parsed_days(self._state.get(UNPRICED), parse)

    def keep_unpriced(self, day: date, values: list[tuple[datetime, str, Decimal]] | None) -> None:
        """Keep ``day``'s values until its prices arrive (None: nothing is unpriced)."""
        stored = _days_of(self._state, UNPRICED)
        if values:
            stored[day.isoformat()] = [[a.isoformat(), r, str(q)] for a, r, q in values]
        else:
            stored.pop(day.isoformat(), None)
        if not stored:
            self._state.pop(UNPRICED, None)

    def forget_days_before(self, first: date) -> dict[date, t.Any]:
        """Drop the marks and kept values of days before ``first``; return the days whose
        values were still unpriced."""
        dropped = {day: v for day, v in self.unpriced().items() if day < first}
        for key in (COSTED, UNPRICED):
            stored = self._state.get(key)
            if isinstance(stored, dict):
                for text in [text for text in stored if text < first.isoformat()]:
                    stored.pop(text)
        if not self._state.get(UNPRICED):
            self._state.pop(UNPRICED, None)
        return dropped


class BillState(PartitionState):
    """The state of one metering point's and kind's ``monthly_bills`` partition."""

    def bill_days(self) -> dict[date, list[t.Any]]:
        """The day sums kept (as :meth:`~tap_wattivahti.pricing.DayCosts.to_state` wrote them)."""

        def parse(entry: t.Any) -> list[t.Any]:
            if not isinstance(entry, list) or len(entry) != 7:
                raise TypeError(entry)
            [Decimal(str(amount)) for amount in entry[2:]]
            return entry

        return _parsed_days(self._state.get(BILL_DAYS), parse)

    def keep_day(self, day: date, sums: list[t.Any]) -> None:
        """Keep ``day``'s sums."""
        _days_of(self._state, BILL_DAYS)[day.isoformat()] = sums

    def bills(self) -> dict[str, str]:
        """Each kept month's (``YYYY-MM``) last emitted bill fingerprint."""
        stored = self._state.get(BILLS)
        if not isinstance(stored, dict):
            return {}
        return {str(k): v for k, v in stored.items() if isinstance(v, str)}

    def emitted(self, month: str, fingerprint: str) -> None:
        """Remember the fingerprint of ``month``'s emitted bill."""
        _days_of(self._state, BILLS)[month] = fingerprint

    def forget_month(self, month: date) -> None:
        """Drop everything kept of the month starting on ``month``."""
        days = self._state.get(BILL_DAYS)
        prefix = month.isoformat()[:7]
        if isinstance(days, dict):
            for text in [text for text in days if text.startswith(prefix)]:
                days.pop(text)
        bills = self._state.get(BILLS)
        if isinstance(bills, dict):
            bills.pop(prefix, None)

    @property
    def quarters_from(self) -> datetime | None:
        """Where the meter's 15-minute values begin, as last known."""
        return self._instant(QUARTERS_FROM)

    @quarters_from.setter
    def quarters_from(self, value: datetime | None) -> None:
        if value is not None:
            self._set_instant(QUARTERS_FROM, value)
