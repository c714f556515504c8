"""When a STATE message may be emitted, and the one write in flight.

Records are numbered in input order, across all streams (a BATCH file's records count one by
one), by :class:`Arrivals`, the one way a record reaches a sink. A sink's batch is *open* from
its first record until InfluxDB acknowledged it, and is known by the number of its first record.
A STATE message read after record ``n`` covers records ``1..n`` of every stream, so it may be
emitted once no open batch starts at or before ``n``.

- After each acknowledged write, the STATE held (if any) is emitted at once when it is covered,
  so a run killed midway resumes at most about one batch back; a STATE read when everything
  before it is already stored is emitted at once.
- At most two STATEs are held, not one per batch: the *next* (the oldest not yet covered) and
  the *newest*. A STATE read while no newest is held replaces the next one when it will be
  covered as soon as the next one would be (no open batch started after the next one was read);
  otherwise it becomes the newest, which every later STATE replaces. On an acknowledgement the
  newest is emitted if it is covered, else the next one if it is (and the newest becomes the
  next). So the last STATE of the input is never lost, and checkpoints follow each batch.
- Writes run one at a time on a background thread while the main thread decodes the next
  batch: a new write starts only after the previous one was acknowledged, and the first failed
  write stops the run (its batch stays open, so no STATE past it is ever emitted).
- A stop request (SIGTERM, SIGINT) lets the write in flight finish or fail within its timeout
  and starts no other.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

from target_influxdb.errors import StoppedError
from target_influxdb.writers import Writer


class Stop:
    """A stop request: set by the signal handler, read by the reader, the writes and retries."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None

    def request(self, signum: int) -> None:
        """Ask the run to stop (safe to call from a signal handler)."""
        self.signum = signum
        self.event.set()

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self.event.is_set()

    def error(self) -> StoppedError:
        """The error that ends a stopped run."""
        signum = self.signum or signal.SIGTERM
        return StoppedError(signum, signal.Signals(signum).name)

    def check(self) -> None:
        """Raise :class:`StoppedError` when a stop was requested."""
        if self.event.is_set():
            raise self.error()


class Arrival(NamedTuple):
    """A record as it arrived: its number in the input, its RECORD message's ``time_extracted``
    (None for a BATCH file's record), and whether it says its point is gone (a non-null
    ``_sdc_deleted_at``, read before the SDK's path drops ``_sdc_*`` properties)."""

    number: int
    time_extracted: str | None
    deleted: bool = False


class Arrivals:
    """The records as they arrive, numbered in input order: the one owner of a record's number
    and ``time_extracted``, whichever way it came (a RECORD message or a BATCH file) and
    whichever route takes it to its sink (the target's direct one or the SDK's
    ``process_record``). The target calls :meth:`arrive` before it hands a record on and
    :meth:`leave` after; a sink takes the record's :meth:`current` arrival, and one that is
    handed a record outside that bracket fails loudly instead of opening a batch that the
    STATE rule does not know."""

    __slots__ = ("_current", "count")

    def __init__(self) -> None:
        self.count = 0  # records arrived so far
        self._current: Arrival | None = None  # the record being handed to its sinks

    def arrive(self, time_extracted: str | None, deleted: bool = False) -> Arrival:
        """Number the next record (it is being handed to its sinks until :meth:`leave`)."""
        self.count += 1
        # tuple.__new__ skips the named tuple's own __new__: about 0.5 µs less a record
        arrival = self._current = tuple.__new__(Arrival, (self.count, time_extracted, deleted))
        return arrival

    def leave(self) -> None:
        """The record's sinks have it."""
        self._current = None

    def current(self) -> Arrival:
        """The arrival of the record being handed to its sinks."""
        arrival = self._current
        if arrival is None:
            raise RuntimeError(
                "a record reached a sink without Arrivals.arrive: it would have no number, "
                "and a STATE could be emitted before it is stored (see durability.py)"
            )
        return arrival


class Pipeline:
    """Batches written one at a time in the background, and STATE emitted behind them."""

    def __init__(
        self,
        open_writer: Callable[[], Writer],
        emit: Callable[[Any], None],
        stop: Stop,
    ) -> None:
        self.arrivals = Arrivals()  # the main thread's: records are numbered as they arrive
        self._open_writer = open_writer
        self._writer: Writer | None = None
        self._emit = emit
        self._stop = stop
        self._lock = threading.Lock()
        self._open: dict[object, int] = {}  # open batch → number of its first record
        # (records read before it, STATE value) of the next STATE to emit, and of the newest
        self._next: tuple[int, Any] | None = None
        self._newest: tuple[int, Any] | None = None
        self._emitted: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: Future[None] | None = None

    @property
    def writer(self) -> Writer:
        """The writer every batch goes through (opened on first use)."""
        if self._writer is None:
            self._writer = self._open_writer()
        return self._writer

    def open_batch(self, batch: object) -> None:
        """``batch`` starts with the record being handed to its sinks."""
        number = self.arrivals.current().number
        with self._lock:
            self._open[batch] = number

    def state(self, value: Any) -> None:
        """A STATE message was read: emit it now if everything before it is stored, else hold
        it (see the module's docstring)."""
        with self._lock:
            read = self.arrivals.count
            if self._first_open() > read:
                self._next = self._newest = None
                self._send(value)
            elif self._next is None or (
                self._newest is None and max(self._open.values()) <= self._next[0]
            ):
                self._next = (read, value)
            else:
                self._newest = (read, value)

    def submit(self, batch: object, write: Callable[[Writer], None] | None) -> None:
        """Write ``batch`` in the background (after the write in flight, whose failure is
        raised here); ``write`` None means the batch has nothing to write."""
        if write is None:
            self._acknowledge(batch)
            return
        self.wait()
        self._stop.check()
        writer = self.writer
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="target-influxdb-write")

        def run() -> None:
            write(writer)
            self._acknowledge(batch)

        self._in_flight = self._executor.submit(run)

    def wait(self) -> None:
        """Wait for the write in flight; raise its error if it failed."""
        future, self._in_flight = self._in_flight, None
        if future is not None:
            future.result()

    def close(self) -> Exception | None:
        """Wait for the write in flight and release the connection; return the write's failure
        (for the run's last paragraph), if it failed."""
        failure = None
        try:
            self.wait()
        except Exception as exc:
            failure = exc
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return failure

    def _acknowledge(self, batch: object) -> None:
        with self._lock:
            self._open.pop(batch, None)
            first_open = self._first_open()
            if self._newest is not None and first_open > self._newest[0]:
                self._send(self._newest[1])
                self._next = self._newest = None
            elif self._next is not None and first_open > self._next[0]:
                self._send(self._next[1])
                self._next, self._newest = self._newest, None

    def _first_open(self) -> float:
        return min(self._open.values(), default=float("inf"))

    def _send(self, value: Any) -> None:
        if value != self._emitted:
            self._emitted = value
            self._emit(value)
