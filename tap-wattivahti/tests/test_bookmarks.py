"""Incremental runs: bookmark over start_date, lookback, start defaults, nulls never passed."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone

from tests.simulator import HELSINKI, SEED_METERING_POINT, local_midnight_utc

UTC = timezone.utc
QUARTER = timedelta(minutes=15)


def state_with_bookmark(value: str, code: str = SEED_METERING_POINT) -> dict:
    partition = {
        "context": {"metering_point": code},
        "replication_key": "timestamp",
        "replication_key_value": value,
    }
    return {"bookmarks": {"consumption": {"partitions": [partition]}}}


def stamps(records):
    return [datetime.fromisoformat(r["timestamp"]) for r in records]


def test_bookmark_wins_over_a_later_start_date_and_starts_lookback_hours_earlier(
    tap_config, run_tap
):
    # Down for two weeks: the next run fetches all of them, whatever start_date says.
    run = run_tap(
        tap_config(start_date="2025-06-20", end_date="2025-06-21", lookback_hours=3),
        state=state_with_bookmark("2025-06-06T12:00:00+00:00"),
    )
    instants = stamps(run.records())
    assert instants[0] == datetime(2025, 6, 6, 9, tzinfo=UTC)
    assert instants[-1] == local_midnight_utc(date(2025, 6, 21)) - QUARTER
    assert instants == [instants[0] + QUARTER * i for i in range(len(instants))]
    assert run.bookmark(SEED_METERING_POINT) == "2025-06-20T20:45:00+00:00"


def test_without_bookmark_start_date_is_the_start(tap_config, run_tap):
    run = run_tap(tap_config(start_date="2025-06-10T06:00:00", end_date="2025-06-10T08:00:00"))
    assert stamps(run.records()) == [datetime(2025, 6, 10, 3, tzinfo=UTC) + QUARTER * i
                                     for i in range(8)]  # fmt: skip


def test_without_bookmark_or_start_date_the_start_is_initial_sync_days_ago(
    tap_config, run_tap, simulator
):
    simulator.available_until = simulator.effective_available_until()  # frozen for the test
    local_today = datetime.now(HELSINKI).date()
    run = run_tap(tap_config(initial_sync_days=2))
    instants = stamps(run.records())
    assert instants[0] == local_midnight_utc(local_today - timedelta(days=2))
    assert instants == [instants[0] + QUARTER * i for i in range(len(instants))]
    assert instants[-1] == simulator.available_until - QUARTER
    assert len(instants) >= 2 * 92


def test_null_tail_is_not_emitted_and_a_later_run_fetches_the_late_values(
    tap_config, run_tap, simulator
):
    simulator.available_until = datetime(2025, 6, 10, 9, tzinfo=UTC)
    config = tap_config(start_date="2025-06-10", end_date="2025-06-11")
    first = run_tap(config)
    assert stamps(first.records())[-1] == datetime(2025, 6, 10, 8, 45, tzinfo=UTC)
    assert len(first.records()) == 12 * 4
    assert first.bookmark(SEED_METERING_POINT) == "2025-06-10T08:45:00+00:00"

    simulator.available_until = datetime(2025, 6, 10, 15, tzinfo=UTC)
    second = run_tap(config, state=first.state)
    instants = stamps(second.records())
    assert instants[0] == datetime(2025, 6, 10, 6, 45, tzinfo=UTC)  # bookmark - 2 h
    assert instants[-1] == datetime(2025, 6, 10, 14, 45, tzinfo=UTC)
    assert second.bookmark(SEED_METERING_POINT) == "2025-06-10T14:45:00+00:00"
    stored = {r["timestamp"]: r["consumption_wh"] for r in first.records() + second.records()}
    truth = simulator.truth(
        SEED_METERING_POINT, datetime(2025, 6, 9, 21, tzinfo=UTC), datetime(2025, 6, 11, tzinfo=UTC)
    )
    assert stored == {i.isoformat(): float(wh) for i, wh in truth.items()}


def test_null_inside_the_history_stops_the_partition_and_warns_with_its_time(
    tap_config, run_tap, simulator, caplog
):
    hole = datetime(2025, 6, 10, 5, tzinfo=UTC)
    simulator.missing = {hole}
    config = tap_config(start_date="2025-06-10", end_date="2025-07-01")
    with caplog.at_level(logging.INFO):
        first = run_tap(config)
    instants = stamps(first.records())
    assert instants[-1] == hole - QUARTER
    assert first.bookmark(SEED_METERING_POINT) == "2025-06-10T04:45:00+00:00"
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "the consumption value at 2025-06-10T05:00:00+00:00 is null" in warning
    assert [step.params["start"] for step in simulator.requests("meterdata")] == [
        "2025-06-10T00:00:00+03:00"  # nothing after the window with the hole was asked
    ]
    sums = [r for r in caplog.records if r.getMessage().startswith("Sum check")]
    assert len(sums) == 1
    assert sums[0].levelno == logging.INFO  # explained: the values after the null were held

    simulator.missing = set()  # the late value arrives
    second = run_tap(config, state=first.state)
    assert stamps(second.records())[0] == hole - QUARTER - timedelta(hours=2)
    assert hole in stamps(second.records())
    assert second.bookmark(SEED_METERING_POINT) == "2025-06-30T20:45:00+00:00"
