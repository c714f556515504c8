"""The pipeline's STATE rule, unit by unit: a fake writer whose writes the test acknowledges.

Records are numbered as the target numbers them (``Arrivals``); a batch opens at its first
record. A STATE may be emitted only when every record read before it is acknowledged.
"""

from __future__ import annotations

import threading
import tracemalloc
from typing import Any

import pytest
from target_influxdb.durability import Pipeline, Stop
from target_influxdb.errors import StoppedError, WriteError
from target_influxdb.sinks import InfluxDBSink
from target_influxdb.target import TargetInfluxDB


class HeldWriter:
    """Each write waits until the test acknowledges it (or makes it fail)."""

    def __init__(self) -> None:
        self.go = threading.Semaphore(0)
        self.fail = False
        self.written: list[bytes] = []

    def write(self, body: bytes, points: int | None = None) -> None:
        self.go.acquire()
        if self.fail:
            raise WriteError("the server said no")
        self.written.append(body)

    def delete(self, points: Any) -> None:
        raise AssertionError("these tests delete nothing")

    def close(self) -> None:
        pass


class Run:
    """A pipeline with a held writer; records, batches and STATEs fed as the target feeds them."""

    def __init__(self) -> None:
        self.writer = HeldWriter()
        self.emitted: list[Any] = []
        self.stop = Stop()
        self.pipeline = Pipeline(lambda: self.writer, self.emitted.append, self.stop)
        self.open: dict[str, object] = {}

    def record(self, stream: str) -> None:
        self.pipeline.arrivals.arrive(None)
        if stream not in self.open:
            self.open[stream] = object()
            self.pipeline.open_batch(self.open[stream])
        self.pipeline.arrivals.leave()

    def state(self) -> None:
        self.pipeline.state(f"S{self.pipeline.arrivals.count}")

    def submit(self, stream: str) -> None:
        batch = self.open.pop(stream)
        self.pipeline.submit(batch, lambda writer: writer.write(stream.encode()))

    def acknowledge(self) -> None:
        """Let the write in flight succeed, and wait until it has."""
        self.writer.go.release()
        self.pipeline.wait()


def test_one_stream_gets_the_newest_covered_state_after_each_write():
    run = Run()
    for _ in range(4):
        run.record("a")
        run.state()
    run.submit("a")  # records 1-4 in flight
    run.record("a")  # record 5 opens the next batch
    run.state()
    assert run.emitted == []

    run.acknowledge()
    assert run.emitted == ["S4"]  # S5 needs record 5, which is not written yet

    for _ in range(3):
        run.record("a")
        run.state()
    run.submit("a")
    run.acknowledge()
    assert run.emitted == ["S4", "S8"]


def test_a_state_covers_the_records_of_every_stream_read_before_it():
    run = Run()
    for stream in ("a", "b", "a"):  # records 1 (a), 2 (b), 3 (a), a STATE after each
        run.record(stream)
        run.state()
    run.submit("a")  # records 1 and 3
    run.acknowledge()
    assert run.emitted == ["S1"]  # S2 and S3 need record 2, of stream b, not written yet

    run.record("b")
    run.state()
    run.submit("b")  # records 2 and 4
    run.acknowledge()
    assert run.emitted == ["S1", "S4"]


def test_a_state_read_when_everything_before_it_is_stored_is_emitted_at_once():
    run = Run()
    run.record("a")
    run.submit("a")
    run.acknowledge()
    run.state()
    assert run.emitted == ["S1"]
    run.state()  # the same STATE again is not repeated
    assert run.emitted == ["S1"]


def test_the_last_state_is_emitted_once_the_last_write_is_acknowledged():
    run = Run()
    run.record("a")
    run.state()
    run.submit("a")
    run.record("b")  # opened after the held STATE: later STATEs wait behind it
    for _ in range(3):
        run.state()
    run.record("b")
    run.state()  # S3, the last of the input
    run.acknowledge()
    assert run.emitted == ["S1"]
    run.submit("b")
    run.acknowledge()
    assert run.emitted == ["S1", "S3"]


def test_a_failed_write_is_raised_and_no_state_after_it_is_emitted():
    run = Run()
    run.record("a")
    run.state()
    run.submit("a")
    run.writer.fail = True
    run.writer.go.release()
    with pytest.raises(WriteError, match="the server said no"):
        run.pipeline.wait()
    run.state()
    assert run.emitted == []


def test_a_stop_lets_the_write_in_flight_finish_and_starts_no_other():
    run = Run()
    run.record("a")
    run.state()
    run.submit("a")
    run.record("b")
    run.state()
    run.stop.request(15)
    threading.Timer(0.1, run.writer.go.release).start()  # the write in flight succeeds
    with pytest.raises(StoppedError, match="Stopped by SIGTERM"):
        run.submit("b")  # waits for the write in flight, then refuses
    assert run.writer.written == [b"a"]
    assert run.emitted == ["S1"]
    run.pipeline.close()


def test_states_waiting_behind_an_open_batch_are_not_kept_one_by_one():
    """Thousands of STATEs while a batch is open: memory stays at about two of them."""
    run = Run()
    run.record("a")
    run.submit("a")
    run.record("b")
    tracemalloc.start()
    try:
        for number in range(2000):
            run.pipeline.state({"bookmark": number, "padding": "x" * 10_000})  # 20 MB if kept
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200_000
    run.acknowledge()
    run.submit("b")
    run.acknowledge()
    assert [value["bookmark"] for value in run.emitted] == [1999]


def test_a_record_handed_to_a_sink_without_arriving_fails_instead_of_escaping_the_state_rule():
    """Records reach sinks only between ``Arrivals.arrive`` and ``leave`` (``on_record`` does
    it for RECORD messages and BATCH files' records, on both routes to the sink): a new source
    that skipped it would open a batch the STATE rule does not know, so the sink refuses."""
    target = TargetInfluxDB(config={"url": "http://127.0.0.1:9", "database": "d"})
    target.on_schema(
        {
            "type": "SCHEMA",
            "stream": "s",
            "schema": {"properties": {"v": {"type": "integer"}}},
            "key_properties": [],
        }
    )
    sink = target.get_sink("s")
    assert isinstance(sink, InfluxDBSink)

    with pytest.raises(RuntimeError, match=r"without Arrivals\.arrive"):
        sink.process_record({"v": 1}, {})
    with pytest.raises(RuntimeError, match=r"without Arrivals\.arrive"):
        sink.add({"v": 1})
    assert sink.current_size == 0

    message = {"type": "RECORD", "stream": "s", "record": {"v": 1}, "time_extracted": None}
    target.on_record(message)
    target.on_record(message)
    assert (target.arrivals.count, sink.current_size) == (2, 2)
