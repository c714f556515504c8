"""Incremental runs: bookmark over start_date, lookback, start defaults, nulls and holes."""

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


def test_bookmark_wins_over_a_later_start_date_and_the_run_starts_at_the_lookbacks_midnight(
    tap_config, run_tap
):
    # Down for two weeks: the next run fetches all of them, whatever start_date says. The
    # lookback (16 h before 15:00 local) reaches into the previous local day: the run fetches
    # from that day's midnight. (No settlement re-read here: correction_days 0.)
    run = run_tap(
        tap_config(
            start_date="2025-06-20", end_date="2025-06-21", lookback_hours=16, correction_days=0
        ),
        state=state_with_bookmark("2025-06-06T12:00:00+00:00"),
    )
    instants = stamps(run.records())
    assert instants[0] == local_midnight_utc(date(2025, 6, 5))
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
    simulator.clear_log()
    second = run_tap(config, state=first.state)
    [request] = simulator.requests("meterdata")  # the whole day of the bookmark, once
    assert request.params["start"] == "2025-06-10T00:00:00+03:00"
    instants = stamps(second.records())
    assert instants[0] == datetime(2025, 6, 10, 9, tzinfo=UTC)  # unchanged values not again
    assert instants[-1] == datetime(2025, 6, 10, 14, 45, tzinfo=UTC)
    assert second.bookmark(SEED_METERING_POINT) == "2025-06-10T14:45:00+00:00"
    stored = {r["timestamp"]: r["consumption_wh"] for r in first.records() + second.records()}
    truth = simulator.truth(
        SEED_METERING_POINT, datetime(2025, 6, 9, 21, tzinfo=UTC), datetime(2025, 6, 11, tzinfo=UTC)
    )
    assert stored == {i.isoformat(): float(wh) for i, wh in truth.items()}


def test_a_hole_does_not_stop_the_values_after_it_and_is_loaded_once_filled(
    tap_config, run_tap, simulator, caplog
):
    hole = datetime(2025, 6, 10, 5, tzinfo=UTC)  # 08:00 local
    simulator.missing = {hole}
    simulator.available_until = local_midnight_utc(date(2025, 6, 13))
    config = tap_config(start_date="2025-06-10", end_date="2025-06-13")
    with caplog.at_level(logging.INFO):
        first = run_tap(config)
    instants = stamps(first.records())
    assert len(instants) == 3 * 96 - 1
    assert hole not in instants
    assert hole + QUARTER in instants  # the same run went on after the hole
    assert first.bookmark(SEED_METERING_POINT) == "2025-06-12T20:45:00+00:00"
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "1 consumption period(s) before the newest value" in warning
    assert "2025-06-10 08:00\u201308:15 (1 quarter hour)" in warning
    assert len(simulator.requests("meterdata")) == 1

    simulator.missing = set()  # the operator fills the hole
    simulator.clear_log()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        second = run_tap({**config, "correction_interval_hours": 0}, state=first.state)
    [request] = simulator.requests("meterdata")
    assert request.params["start"] == "2025-06-10T00:00:00+03:00"  # the window, from start_date
    records = second.records()
    day = local_midnight_utc(date(2025, 6, 10))
    # The changed day again, whole; the unchanged days not; then the newest value once more,
    # so the bookmark ends at the newest value, not at the re-emitted day.
    assert stamps(records) == [day + QUARTER * i for i in range(96)] + [instants[-1]]
    assert {r["timestamp"]: r["consumption_wh"] for r in records[:96]} == {
        i.isoformat(): float(wh)
        for i, wh in simulator.truth(SEED_METERING_POINT, day, day + timedelta(days=1)).items()
    }
    assert second.bookmark(SEED_METERING_POINT) == "2025-06-12T20:45:00+00:00"
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    changed = [r.getMessage() for r in caplog.records if "were emitted again" in r.getMessage()]
    assert changed == [
        "Metering point 1234567: 1 day(s) of consumption changed in WattiVahti since they were "
        "emitted (filled or corrected) and were emitted again: 2025-06-10."
    ]
