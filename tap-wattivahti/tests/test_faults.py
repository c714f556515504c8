"""Transient faults are retried with bounded backoff; other failures stop with a clear message."""

from __future__ import annotations

import email.utils
import json
import time
from datetime import date

import pytest
import requests
from singer_sdk.exceptions import RetriableAPIError
from tap_wattivahti.errors import TapWattiVahtiError
from tap_wattivahti.streams import ConsumptionStream
from tap_wattivahti.tap import TapWattiVahti

from tests.simulator import Fault, local_midnight_utc

DAY = {"start_date": "2025-06-10", "end_date": "2025-06-11"}


def statuses(simulator):
    return [r.status for r in simulator.requests("meterdata")]


def test_429_waits_as_long_as_retry_after_says(tap_config, run_tap, simulator):
    simulator.inject(Fault("429", retry_after=1), Fault("429"))
    run = run_tap(tap_config(**DAY))
    first, second, _ = simulator.requests("meterdata")
    assert statuses(simulator) == [429, 429, 200]
    assert second.at - first.at >= 1.0  # the simulator's clock: a busy machine only adds to it
    assert len(run.records()) == 96


def _failure(status: int, retry_after: str | None = None) -> RetriableAPIError:
    response = requests.Response()
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return RetriableAPIError(f"HTTP {status}", response)


def test_backoff_doubles_from_retry_wait_and_a_429s_retry_after_wins():
    tap = TapWattiVahti(
        config={"metering_points": ["1234567"], "retry_wait_seconds": 2}, parse_env_config=False
    )
    waits = ConsumptionStream(tap).backoff_wait_generator()
    assert next(waits) == 0.0  # backoff primes the generator
    in_30_seconds = email.utils.formatdate(time.time() + 30, usegmt=True)
    failures = [
        (_failure(429, "1"), 1),  # Retry-After in seconds
        (_failure(503), 4),  # 2 s doubled per retry: the second retry
        (_failure(503, "1"), 8),  # Retry-After counts for a 429 only
        (_failure(429), 16),  # a 429 without Retry-After doubles too
        (_failure(429, "1000"), 300),  # at most 300 s
        (_failure(429, "soon"), 64),  # an unreadable Retry-After is no Retry-After
        (requests.ConnectionError(), 128),
        (requests.Timeout(), 256),
        (_failure(500), 300),
    ]
    assert [waits.send(exception) for exception, _ in failures] == [w for _, w in failures]
    assert 25 < waits.send(_failure(429, in_30_seconds)) <= 30  # Retry-After as an HTTP date


def test_server_errors_dropped_connections_and_timeouts_are_retried(tap_config, run_tap, simulator):
    simulator.inject("500", "502", "503", "drop", Fault("delay", seconds=1.5))
    run = run_tap(tap_config(max_retries=5, request_timeout_seconds=1, **DAY))
    # The delayed answer is logged by the server after the client gave up on it.
    assert statuses(simulator)[:4] == [500, 502, 503, -1]
    assert sorted(statuses(simulator)[4:]) == [200, 200]
    assert len(run.records()) == 96
    day = local_midnight_utc(date(2025, 6, 10)), local_midnight_utc(date(2025, 6, 11))
    assert sum(r["consumption_wh"] for r in run.records()) == sum(
        simulator.truth("1234567", *day).values()
    )


def test_retries_are_bounded_and_end_with_a_clear_error(tap_config, run_tap, simulator):
    simulator.inject("503", "503", "503")
    with pytest.raises(TapWattiVahtiError) as failure:
        run_tap(tap_config(max_retries=2, **DAY))
    message = str(failure.value)
    assert message.startswith("The WattiVahti API did not answer metering point 1234567")
    assert "after 3 attempts (HTTP 503 Service Unavailable)" in message
    assert statuses(simulator) == [503, 503, 503]


def test_malformed_json_is_a_clear_error(tap_config, run_tap, simulator):
    simulator.inject("malformed")
    with pytest.raises(TapWattiVahtiError) as failure:
        run_tap(tap_config(**DAY))
    assert "answered metering point 1234567 (consumption, PT15MIN" in str(failure.value)
    assert "with malformed JSON (HTTP 200" in str(failure.value)
    assert '{"getconsumptionsresult": {"consumptiondata": [' in str(failure.value)
    assert statuses(simulator) == [200]  # not retried: the answer is wrong, not missing


def test_answer_without_getconsumptionsresult_is_a_clear_error(tap_config, run_tap, simulator):
    simulator.inject(Fault("200", body='{"message": "Service is under maintenance"}'))
    with pytest.raises(TapWattiVahtiError, match="JSON without a getconsumptionsresult object"):
        run_tap(tap_config(**DAY))


def test_unknown_metering_point_stops_naming_it_and_the_http_answer(tap_config, run_cli):
    paragraph = run_cli(tap_config(metering_points=["9999999"], **DAY)).error_paragraph()
    assert paragraph.startswith("tap-wattivahti: error: The WattiVahti API refused metering point")
    assert "metering point 9999999 (consumption, PT15MIN" in paragraph
    assert "HTTP 404 Not Found: Metering point 9999999 was not found for this customer" in paragraph


def test_an_answer_trickling_in_is_bounded_by_the_total_deadline(tap_config, run_cli, simulator):
    # ~15 kB at a byte every 0.5 s would take two hours: only the total deadline ends it.
    simulator.inject(Fault("trickle", seconds=0.5))
    run = run_cli(tap_config(request_timeout_seconds=2, **DAY), timeout=90)
    assert run.returncode == 0, run.stderr
    assert "meterdata2 request failed (timed out); retry 1 of 3" in run.stderr
    assert statuses(simulator) == [200, 200]  # the trickled answer, then the retry
    assert len(run.records()) == 96


def test_a_token_answer_trickling_in_is_bounded_by_the_total_deadline(
    tap_config, run_cli, simulator
):
    simulator.inject(Fault("trickle", target="token", seconds=0.5))
    paragraph = run_cli(tap_config(request_timeout_seconds=2, **DAY), timeout=90).error_paragraph()
    assert (
        "The connection to the WattiVahti token endpoint failed during the refresh of the "
        "access token (ReadTimeout) after the request was sent."
    ) in paragraph
    assert [r.status for r in simulator.requests("token")] == [200]  # not sent twice
    assert statuses(simulator) == []


@pytest.mark.parametrize("quantity", ["1e400", "NaN"])
def test_a_quantity_that_is_not_a_finite_number_names_metering_point_and_time(
    tap_config, run_cli, simulator, quantity
):
    start, stop = local_midnight_utc(date(2025, 6, 10)), local_midnight_utc(date(2025, 6, 11))
    simulator.edit_values = lambda tsv: [*tsv[:32], {**tsv[32], "quantity": "@"}, *tsv[33:]]
    body = json.dumps(simulator.meter_data("1234567", 1, start, stop, "PT15MIN"))
    simulator.edit_values = None
    simulator.inject(Fault("200", body=body.replace('"@"', quantity)))
    run = run_cli(tap_config(**DAY))
    paragraph = run.error_paragraph()
    assert (
        "The WattiVahti API answered metering point 1234567 (consumption, PT15MIN, "
        "2025-06-10T00:00:00+03:00 to 2025-06-11T00:00:00+03:00) with the quantity "
    ) in paragraph
    assert " at 2025-06-10T08:00:00, which is not a" in paragraph
    assert "Nothing was emitted from this answer" in paragraph
    assert run.records() == []
