"""The ledger between the meter streams and the streams derived from them: the order is the
tap's, checked, and a derived stream never silently emits nothing."""

from __future__ import annotations

import logging

import pytest
from tap_wattivahti.ledger import Ledger, LedgerOrderError, in_order
from tap_wattivahti.tap import TapWattiVahti

INPUTS = {"daily_totals": ("consumption", "production"), "bills": ("daily_totals",)}


def test_streams_come_after_the_streams_they_take_from():
    names = ["bills", "consumption", "daily_totals", "production"]
    assert in_order(names, INPUTS) == ["consumption", "production", "daily_totals", "bills"]
    assert in_order(["a", "b"], {}) == ["a", "b"]  # otherwise the order given


def test_the_tap_syncs_daily_totals_after_both_meter_streams(tap_config):
    tap = TapWattiVahti(config=tap_config(), parse_env_config=False)
    assert list(tap.streams) == [
        "consumption", "production", "costs", "daily_totals", "monthly_bills", "spot_prices",
    ]  # fmt: skip


def test_taking_before_the_producer_ran_is_an_error_not_an_empty_result():
    ledger = Ledger(INPUTS, frozenset({"consumption", "daily_totals"}))
    with pytest.raises(LedgerOrderError, match="'daily_totals' asked for what 'consumption'"):
        ledger.take("daily_totals", "consumption", "1234567")
    assert ledger.take("daily_totals", "production", "1234567") is None  # not selected


def test_the_producer_settles_once_every_selected_taker_is_done():
    ledger = Ledger(INPUTS, frozenset({"consumption", "daily_totals"}))
    settled: list[str] = []
    ledger.begin("consumption")
    ledger.publish("consumption", "1", "result 1", on_taken=lambda: settled.append("1"))
    ledger.publish("consumption", "2", None, on_taken=lambda: settled.append("2"))
    assert settled == ["2"]  # a partition without a result has nothing to take
    assert ledger.take("daily_totals", "consumption", "1") == "result 1"
    assert ledger.take("daily_totals", "consumption", "3") is None  # begun, never published
    assert settled == ["2"]
    ledger.done("daily_totals", "consumption", "1")
    ledger.done("daily_totals", "consumption", "1")
    assert settled == ["2", "1"]


def test_without_takers_the_producer_settles_at_once():
    ledger = Ledger(INPUTS, frozenset({"consumption"}))
    settled: list[str] = []
    ledger.publish("consumption", "1", "result", on_taken=lambda: settled.append("1"))
    assert settled == ["1"]


def test_daily_totals_synced_before_the_meter_stream_fails_loudly(tap_config, simulator):
    tap = TapWattiVahti(
        config=tap_config(start_date="2025-06-10", end_date="2025-06-11"), parse_env_config=False
    )
    with pytest.raises(LedgerOrderError, match="before 'consumption' was synced"):
        tap.streams["daily_totals"].sync()
    assert simulator.requests("meterdata") == []


def test_daily_totals_without_a_meter_stream_says_why_it_emits_nothing(
    tap_config, run_tap, catalog_selecting, caplog
):
    config = tap_config(start_date="2025-06-10", end_date="2025-06-11")
    with caplog.at_level(logging.WARNING):
        run = run_tap(config, catalog=catalog_selecting(config, "daily_totals"))
    assert [m for m in run.messages if m["type"] == "RECORD"] == []
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.startswith(
        "The daily_totals stream is selected but neither consumption nor production is"
    )
    assert "Select consumption" in warning
