"""The ledger: what a stream's run hands to the streams derived from it, in the same run.

The meter streams publish, per metering point, what their run learned; a derived stream
(``daily_totals``) takes it. The tap syncs every stream after the streams it takes from
(:func:`in_order`), and the ledger holds it to that: taking what a selected stream has not synced
yet is an error, never an empty result. Once every selected taker is done with a result, its
producer is told, so it can settle its own state. Streams never read or write each other's state:
docs/design.md, "The derived streams".
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable, Mapping


class LedgerOrderError(RuntimeError):
    """A derived stream asked for a result before the stream that makes it ran (a bug)."""


@dataclass
class _Entry:
    result: t.Any
    waiting: set[str]
    on_taken: Callable[[], None] | None = None


@dataclass
class Ledger:
    """What the streams of one run publish for the streams that take from them.

    ``inputs`` maps each stream to the streams it takes from; ``selected`` names the selected
    streams (only they run, publish and take).
    """

    inputs: Mapping[str, Iterable[str]]
    selected: frozenset[str]
    _entries: dict[tuple[str, Hashable], _Entry] = field(default_factory=dict)
    _begun: set[str] = field(default_factory=set)

    def takers(self, producer: str) -> frozenset[str]:
        """The selected streams that take from ``producer``."""
        return frozenset(
            name
            for name, sources in self.inputs.items()
            if producer in sources and name in self.selected
        )

    def sources(self, consumer: str) -> frozenset[str]:
        """The selected streams ``consumer`` takes from."""
        return frozenset(self.inputs.get(consumer, ())) & self.selected

    # ------------------------------------------------------------------ producers
    def begin(self, producer: str) -> None:
        """``producer`` syncs its first partition (a partition it then leaves without a result,
        such as one the SDK's record limit stopped, has none)."""
        self._begun.add(producer)

    def publish(
        self,
        producer: str,
        key: Hashable,
        result: t.Any | None,
        on_taken: Callable[[], None] | None = None,
    ) -> None:
        """Publish ``producer``'s result for partition ``key`` (None: the partition has none,
        e.g. it failed); ``on_taken`` runs once every selected taker is done with it (at once
        when there is none)."""
        takers = set(self.takers(producer)) if result is not None else set()
        entry = _Entry(result, takers, on_taken)
        self._entries[(producer, key)] = entry
        self._settle(entry)

    # ------------------------------------------------------------------ takers
    def take(self, consumer: str, producer: str, key: Hashable) -> t.Any | None:
        """``producer``'s result for partition ``key`` (None when it has none or ``producer`` is
        not selected). Raises :class:`LedgerOrderError` when ``producer`` is selected and has not
        begun: a stream is synced after the streams it takes from."""
        if producer in self.selected and producer not in self._begun:
            msg = (
                f"The stream {consumer!r} asked for what {producer!r} learned before "
                f"{producer!r} was synced: a stream must be synced after the streams it takes "
                f"from (the tap orders them by their inputs)."
            )
            raise LedgerOrderError(msg)
        entry = self._entries.get((producer, key))
        return None if entry is None else entry.result

    def done(self, consumer: str, producer: str, key: Hashable) -> None:
        """``consumer`` is done with ``producer``'s result for ``key``."""
        entry = self._entries.get((producer, key))
        if entry is not None:
            entry.waiting.discard(consumer)
            self._settle(entry)

    @staticmethod
    def _settle(entry: _Entry) -> None:
        if not entry.waiting and entry.on_taken is not None:
            on_taken, entry.on_taken = entry.on_taken, None
            on_taken()


def in_order(names: Iterable[str], inputs: Mapping[str, Iterable[str]]) -> list[str]:
    """``names`` in their given order, except that each comes after the streams it takes from."""
    pending = list(names)
    ordered: list[str] = []
    while pending:
        ready = next(
            name
            for name in pending
            if all(source in ordered or source not in pending for source in inputs.get(name, ()))
        )
        pending.remove(ready)
        ordered.append(ready)
    return ordered
