"""Fetching ahead: the request windows of upcoming partitions are fetched in worker threads while
the SDK emits the current partition's records (docs/design.md, "Many accounts").

Only I/O moves to the workers: records are still made and emitted by the SDK's thread, partition
after partition, in order. ``max_parallel_requests`` workers each send one request at a time; the
partitions of one group (an account) are fetched one after another, in the order they were
scheduled, so no account ever has two requests in flight (and its access token is refreshed
once). What is held ahead is bounded: the caller schedules a few partitions beyond the current
one, and each holds at most :data:`WINDOWS_AHEAD` fetched windows until the SDK's thread takes
them.
"""

from __future__ import annotations

import queue
import threading
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterator

#: Fetched windows of one partition held until the SDK's thread takes them.
WINDOWS_AHEAD = 2
_POLL_SECONDS = 0.1


class Skipped(Exception):
    """The partition was not fetched: its account had failed before its turn."""


@dataclass
class _End:
    """The partition's last window was fetched (``error``: the failure that ended it)."""

    error: BaseException | None = None


@dataclass
class _Job:
    group: Hashable
    #: True when the partition must not be fetched (checked when its turn comes).
    skip: Callable[[], bool]
    windows: Callable[[], Iterator[t.Any]]
    #: Told of a failure as soon as it happens (before the SDK's thread reaches the partition).
    failed: Callable[[BaseException], None]
    out: queue.Queue[t.Any]
    #: The group's next job, queued when this one is done.
    successor: _Job | None = None
    done: bool = False


class Prefetcher:
    """Worker threads that fetch scheduled partitions in the order they were scheduled."""

    def __init__(self, workers: int) -> None:
        """``workers`` threads (started with the first job)."""
        self.workers = workers
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._outputs: dict[Hashable, queue.Queue[t.Any]] = {}
        self._last: dict[Hashable, _Job] = {}  # each group's last scheduled job
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def scheduled(self, key: Hashable) -> bool:
        """Whether partition ``key`` is scheduled (and not yet taken)."""
        return key in self._outputs

    def schedule(
        self,
        key: Hashable,
        *,
        group: Hashable,
        skip: Callable[[], bool],
        windows: Callable[[], Iterator[t.Any]],
        failed: Callable[[BaseException], None],
    ) -> None:
        """Fetch partition ``key`` (``windows()``) when a worker is free and the partitions of
        ``group`` scheduled before it are fetched."""
        out: queue.Queue[t.Any] = queue.Queue(maxsize=WINDOWS_AHEAD + 1)
        self._outputs[key] = out
        job = _Job(group, skip, windows, failed, out)
        with self._lock:
            before = self._last.get(group)
            self._last[group] = job
            if before is not None and not before.done:
                before.successor = job
            else:
                self._jobs.put(job)
        if len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, name="tap-wattivahti-fetch", daemon=True)
            self._threads.append(thread)
            thread.start()

    def windows(self, key: Hashable) -> Iterator[t.Any]:
        """Partition ``key``'s windows as they arrive; its failure is raised here, in order
        (:class:`Skipped` when its account had failed before)."""
        out = self._outputs.pop(key)
        while True:
            item = out.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item

    def stop(self) -> None:
        """Let the workers end after their current request (their daemon threads never hold
        the process up; a token grant in flight is waited for by the tap)."""
        self._stopping.set()

    # ------------------------------------------------------------------ the workers
    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self._jobs.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            try:
                self._run(job)
            finally:
                with self._lock:
                    job.done = True
                    if job.successor is not None:
                        self._jobs.put(job.successor)

    def _run(self, job: _Job) -> None:
        if job.skip():
            self._put(job.out, _End(Skipped()))
            return
        try:
            for window in job.windows():
                if not self._put(job.out, window):
                    return
        except Exception as error:  # handed to the SDK's thread and raised there
            job.failed(error)
            self._put(job.out, _End(error))
            return
        self._put(job.out, _End())

    def _put(self, out: queue.Queue[t.Any], item: object) -> bool:
        """Hand ``item`` over, waiting while the partition holds enough; False once stopping."""
        while not self._stopping.is_set():
            try:
                out.put(item, timeout=_POLL_SECONDS)
            except queue.Full:
                continue
            return True
        return False
