"""SIGTERM and SIGINT: the target stops reading, lets the write in flight finish or fail within
its timeout, starts no other, emits only STATEs whose records InfluxDB holds, and exits non-zero
(128 + the signal) unless all of its input was read and stored.

A delaying proxy in front of the real InfluxDB 1.x makes a write last long enough to signal the
target in the middle of it.
"""

from __future__ import annotations

import signal
import time

from tests.servers import InfluxDB1

SCHEMA = {
    "type": "SCHEMA",
    "stream": "meter",
    "schema": {
        "properties": {
            "n": {"type": "integer"},
            "timestamp": {"type": "string", "format": "date-time"},
        }
    },
    "key_properties": ["timestamp"],
}


def record(n: int) -> dict:
    moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1761436800 + 900 * n))
    return {"type": "RECORD", "stream": "meter", "record": {"n": n, "timestamp": moment}}


def state(n: int) -> dict:
    return {"type": "STATE", "value": {"up_to": n}}


def stored(influxdb1: InfluxDB1, database: str) -> list[int]:
    return sorted(point["n"] for point in influxdb1.points(database, "meter"))


def assert_states_covered(states: list[dict], numbers: list[int]) -> None:
    for value in states:
        assert set(range(1, value["up_to"] + 1)) <= set(numbers), f"{value} is ahead of the data"


def slow_target(target_process, fault_proxy, influxdb1, v1_config, delay: float):
    proxy = fault_proxy(influxdb1.url)
    proxy.delay = delay
    config = {**v1_config, "url": proxy.url, "batch_size_rows": 50}
    return proxy, target_process(config)


def test_sigterm_mid_write_lets_it_finish_emits_only_covered_state_and_exits_143(
    target_process, fault_proxy, influxdb1, v1_config
):
    proxy, target = slow_target(target_process, fault_proxy, influxdb1, v1_config, delay=1.5)
    target.send(SCHEMA, *(record(n) for n in range(1, 51)), state(50))
    target.send(*(record(n) for n in range(51, 121)), state(120))
    assert proxy.write_arrived.wait(30)  # records 1-50 are on their way to InfluxDB
    target.process.send_signal(signal.SIGTERM)
    returncode, stderr = target.finish()

    numbers = stored(influxdb1, v1_config["database"])
    assert returncode == 128 + signal.SIGTERM
    assert numbers == list(range(1, 51))  # the write in flight finished; no other started
    assert target.emitted == [state(50)["value"]]
    assert_states_covered(target.emitted, numbers)
    assert "Stopped by SIGTERM before all input was read and stored" in stderr
    assert "Traceback" not in stderr


def test_sigint_while_waiting_for_input_exits_130_without_writing_the_open_batch(
    target_process, v1_config, influxdb1
):
    target = target_process({**v1_config, "batch_size_rows": 50})
    target.send(SCHEMA, *(record(n) for n in range(1, 51)), state(50))
    assert target.next_state() == state(50)["value"]
    target.send(*(record(n) for n in range(51, 61)), state(60))
    time.sleep(0.3)  # the target reads these lines, then waits for more
    target.process.send_signal(signal.SIGINT)
    returncode, stderr = target.finish()

    assert returncode == 128 + signal.SIGINT
    assert stored(influxdb1, v1_config["database"]) == list(range(1, 51))
    assert target.emitted == [state(50)["value"]]
    assert "Stopped by SIGINT" in stderr
    assert "Traceback" not in stderr


def test_sigterm_during_a_retry_wait_ends_the_run_at_once_without_state(
    target_process, fault_proxy, influxdb1, v1_config
):
    proxy = fault_proxy(influxdb1.url)
    proxy.faults = [(503, {}, '{"error":"overloaded"}')] * 3
    config = {**v1_config, "url": proxy.url, "retry_interval": 60, "max_retries": 2}
    target = target_process(config)
    target.send(SCHEMA, *(record(n) for n in range(1, 11)), state(10), close=True)
    target.wait_for_log("A write to InfluxDB failed (HTTP 503); retry 1 of 2")
    started = time.monotonic()
    target.process.send_signal(signal.SIGTERM)
    returncode, stderr = target.finish()

    assert time.monotonic() - started < 30  # well before the 60-120 s wait for the retry
    assert returncode == 128 + signal.SIGTERM
    assert target.emitted == []
    assert stored(influxdb1, v1_config["database"]) == []
    assert "The write was stopped by a signal before InfluxDB acknowledged it" in stderr
    assert [status for status, _ in proxy.writes] == [503]  # no retry after the signal


def test_sigterm_after_all_input_was_read_lets_the_last_write_finish_and_exits_0(
    target_process, fault_proxy, influxdb1, v1_config
):
    proxy, target = slow_target(target_process, fault_proxy, influxdb1, v1_config, delay=1.0)
    target.send(SCHEMA, *(record(n) for n in range(1, 31)), state(30), close=True)
    assert proxy.write_arrived.wait(30)  # the only write: records 1-30, after the end of input
    target.process.send_signal(signal.SIGTERM)
    returncode, stderr = target.finish()

    assert returncode == 0, stderr
    assert stored(influxdb1, v1_config["database"]) == list(range(1, 31))
    assert target.emitted == [state(30)["value"]]
