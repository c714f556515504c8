"""The shape of each partition's state, and the only code that reads or writes its extra keys.

The SDK keeps ``context``, ``replication_key`` and ``replication_key_value`` (the bookmark) of a
partition and emits every other key with them. A ``consumption`` or ``production`` partition::

    {"context": {"metering_point": "1234567"},
     "replication_key": "timestamp", "replication_key_value": "2025-06-13T20:45:00+00:00",
     "days": {"2025-06-12": ["9f2c1a0b3d4e5f60", 0], "2025-06-13": ["0a1b2c3d4e5f6071", 2]},
     "settled_at": "2025-06-14T05:00:12+00:00",
     "quarters_from": "2023-01-01T22:00:00+00:00", "hourly_until": "2022-12-31T22:00:00+00:00",
     "hours_until": "2023-01-01T22:00:00+00:00",
     "totals_from": "2025-06-04T21:00:00+00:00"}

A ``daily_totals`` partition::

    {"context": {"metering_point": "1234567", "kind": "consumption"},
     "replication_key": "day_start", "replication_key_value": "2025-06-12T21:00:00+00:00",
     "days": {"2025-06-12": ["5e6f708192a3b4c5", 0]}}

``days`` holds a mark per local day a later run may fetch again: a fingerprint of what was
emitted for the day and how many of its periods were missing. What the other keys mean, and when
they are written: docs/design.md, "The settlement window". A key that is absent or does not
parse (state of an earlier version, a hand edit) reads as unknown.
"""

from __future__ import annotations

import typing as t
from datetime import date, datetime

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
            try:
                day = date.fromisoformat(text)
                hashed, missing = entry
                marks[day] = DayMark(str(hashed), int(missing))
            except (TypeError, ValueError):
                continue
        return marks

    def mark(self, day: date, mark: DayMark) -> None:
        """Remember what was emitted for ``day``."""
        stored = self._state.get(DAYS)
        if not isinstance(stored, dict):
            stored = self._state[DAYS] = {}
        stored[day.isoformat()] = [mark.fingerprint, mark.missing]

    def forget_before(self, first: date) -> dict[date, DayMark]:
        """Drop the marks of days before ``first``; return the dropped ones."""
        dropped = {day: mark for day, mark in self.marks().items() if day < first}
        stored = self._state.get(DAYS)
        if isinstance(stored, dict):
            for day in dropped:
                stored.pop(day.isoformat(), None)
        return dropped

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

    @property
    def has_bookmark(self) -> bool:
        """Whether the SDK keeps a bookmark for the partition (the SDK reads its value)."""
        return bool(self._state.get("replication_key_value"))

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
