"""The spot_prices stream through the tap: up to the end of tomorrow, one request per run, holes
named and asked again, tomorrow picked up once published, nothing asked with price_source none."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from tap_wattivahti.timeutil import local_midnight

from tests.price_simulators import CET, GO_LIVE, TruePrice
from tests.simulator import HELSINKI

UTC = timezone.utc
QUARTER = timedelta(minutes=15)
OCTOBER = {"start_date": "2025-10-13", "end_date": "2025-10-20"}


@pytest.fixture
def priced(tap_config, elering, catalog_selecting):
    """A config and catalog with consumption and spot_prices selected, prices from ``elering``."""

    def make(**settings):
        config = tap_config(elering_url=elering.url, **settings)
        return config, catalog_selecting(config, "consumption", "spot_prices")

    return make


def prices_of(run) -> dict[datetime, TruePrice]:
    return {
        datetime.fromisoformat(r["timestamp"]): TruePrice(
            r["resolution"], Decimal(str(r["price_eur_mwh"]))
        )
        for r in run.records("spot_prices")
    }


def partition(run) -> dict:
    [only] = run.state["bookmarks"]["spot_prices"]["partitions"]
    return only


def run_again(run_tap, elering, caplog, config, catalog, before, end_date: str):
    """The run after ``before``, up to ``end_date``, with a fresh log: it and its one request."""
    elering.clear_log()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        run = run_tap({**config, "end_date": end_date}, state=before.state, catalog=catalog)
    [request] = elering.requests()
    return run, request


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_run_emits_the_sources_prices_with_one_request(priced, run_tap, elering, simulator):
    config, catalog = priced(**OCTOBER)
    run = run_tap(config, catalog=catalog)
    start, stop = (
        local_midnight(date(2025, 10, 13), HELSINKI),
        local_midnight(date(2025, 10, 20), HELSINKI),
    )
    assert prices_of(run) == elering.truth("FI", start, stop)
    assert len(run.records("spot_prices")) == 7 * 96
    assert {r["area"] for r in run.records("spot_prices")} == {"FI"}
    assert {r["source"] for r in run.records("spot_prices")} == {"elering"}
    assert len(elering.requests()) == 1
    assert partition(run)["replication_key_value"] == (stop - QUARTER).isoformat()
    assert "owed" not in partition(run)
    assert len(run.records("consumption")) == 7 * 96  # the meter data as before


def test_the_first_finnish_hour_of_the_go_live_day_is_hourly(priced, run_tap):
    config, catalog = priced(start_date="2025-10-01", end_date="2025-10-02")
    records = run_tap(config, catalog=catalog).records("spot_prices")
    assert [r["resolution"] for r in records] == ["PT1H"] + ["PT15MIN"] * 92
    assert records[0]["timestamp"] == (GO_LIVE - timedelta(hours=1)).isoformat()


def test_a_hole_is_named_never_zero_asked_again_and_emitted_when_it_arrives(
    priced, run_tap, elering, caplog
):
    hole = {local_midnight(date(2025, 10, 16), HELSINKI) + timedelta(hours=13) + QUARTER * i
            for i in range(6)}  # fmt: skip
    elering.missing = set(hole)
    config, catalog = priced(**OCTOBER)
    with caplog.at_level(logging.INFO):
        first = run_tap(config, catalog=catalog)
    assert not hole & set(prices_of(first))
    assert len(first.records("spot_prices")) == 7 * 96 - 6
    [warning] = warnings(caplog)
    assert warning.startswith("Spot prices FI (elering): 6 past period(s) have no price at the")
    assert "2025-10-16 13:00\u201314:30 (6 quarter hours)" in warning
    assert "No record was emitted for them (never a 0)" in warning
    owed = [[min(hole).isoformat(), (max(hole) + QUARTER).isoformat()]]
    assert partition(first)["owed"] == owed

    # Still missing: named again, still owed, and asked within the run's one request.
    second, request = run_again(run_tap, elering, caplog, config, catalog, first, "2025-10-21")
    assert request.params["start"] == min(hole).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert len(second.records("spot_prices")) == 96
    assert "2025-10-16 13:00\u201314:30 (6 quarter hours)" in warnings(caplog)[0]
    assert partition(second)["owed"] == owed

    # Filled at the source: emitted, no longer owed, no warning.
    elering.missing.clear()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        third = run_tap({**config, "end_date": "2025-10-22"}, state=second.state, catalog=catalog)
    filled = prices_of(third)
    assert set(filled) == hole | set(elering.truth("FI", *_day(date(2025, 10, 21))))
    assert {at: filled[at] for at in hole} == elering.truth("FI", min(hole), max(hole) + QUARTER)
    assert warnings(caplog) == []
    assert "owed" not in partition(third)
    assert (
        partition(third)["replication_key_value"]
        == (local_midnight(date(2025, 10, 22), HELSINKI) - QUARTER).isoformat()
    )


def test_an_owed_span_is_asked_until_it_leaves_the_settlement_window(
    priced, run_tap, elering, caplog
):
    # correction_days 2: the window of a run that ends on 2025-10-19 begins on 2025-10-17.
    old, hole = (local_midnight(date(2025, 10, d), HELSINKI) + timedelta(hours=3) for d in (16, 18))
    elering.missing = {old, hole}
    config, catalog = priced(correction_days=2, **OCTOBER)
    with caplog.at_level(logging.INFO):
        first = run_tap(config, catalog=catalog)
    [warning] = warnings(caplog)
    assert "2025-10-16 03:00\u201303:15 (1 quarter hour), 2025-10-18 03:00" in warning
    assert warning.endswith(
        "those from 2025-10-17T00:00:00+03:00 on are asked again by every run while inside the "
        "settlement window (correction_days = 2), earlier ones are not."
    )
    assert partition(first)["owed"] == [[hole.isoformat(), (hole + QUARTER).isoformat()]]

    # Three days on: asked once more (still missing, named), then it leaves the window.
    second, request = run_again(run_tap, elering, caplog, config, catalog, first, "2025-10-23")
    later = {**config, "end_date": "2025-10-23"}
    assert request.params["start"] == hole.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    [warning] = warnings(caplog)
    assert "1 past period(s) have no price at the source: 2025-10-18 03:00" in warning
    assert warning.endswith("earlier ones are not.")
    assert "owed" not in partition(second)
    assert len(second.records("spot_prices")) == 3 * 96

    # A state that still owes a span now outside the window (correction_days lowered): named once.
    caplog.clear()
    owing = {**partition(second), "owed": [[old.isoformat(), (old + QUARTER).isoformat()]]}
    state = {"bookmarks": {"spot_prices": {"partitions": [owing]}}}
    with caplog.at_level(logging.INFO):
        third = run_tap(later, state=state, catalog=catalog)
    assert warnings(caplog) == [
        "Spot prices FI: 2025-10-16 03:00\u201303:15 (1 quarter hour) left the settlement window "
        "without a price and will not be asked again."
    ]
    assert third.records("spot_prices") == []
    assert "owed" not in partition(third)


def test_a_run_that_fills_only_older_periods_leaves_the_bookmark_where_it_was(
    priced, run_tap, elering
):
    hole = local_midnight(date(2025, 10, 18), HELSINKI) + timedelta(hours=7)
    elering.missing = {hole}
    config, catalog = priced(**OCTOBER)
    first = run_tap(config, catalog=catalog)
    bookmark = partition(first)["replication_key_value"]
    elering.missing.clear()
    second = run_tap(config, state=first.state, catalog=catalog)  # nothing newer to emit
    assert [r["timestamp"] for r in second.records("spot_prices")] == [hole.isoformat(), bookmark]
    assert partition(second)["replication_key_value"] == bookmark
    assert "owed" not in partition(second)


def test_tomorrow_published_between_two_runs_is_emitted_by_the_second(
    priced, run_tap, elering, caplog
):
    # The tap's today (Finnish), and the source's clock on that date: before 14:00 CET the next
    # market day is not published, from 14:00 it is.
    today = datetime.now(HELSINKI).date()
    elering.now = datetime.combine(today, time(13, 30), tzinfo=CET)
    config, catalog = priced(start_date=today.isoformat())
    with caplog.at_level(logging.INFO):
        first = run_tap(config, catalog=catalog)
    # Published: up to the end of the CET day, which is 01:00 of the Finnish tomorrow.
    end_of_market_day = datetime.combine(today + timedelta(days=1), time(0), tzinfo=CET)
    assert max(prices_of(first)) == end_of_market_day.astimezone(UTC) - QUARTER
    assert warnings(caplog) == []  # tomorrow is not missing: it is not published yet
    assert "owed" not in partition(first)

    elering.now = datetime.combine(today, time(14, 5), tzinfo=CET)
    second = run_tap(config, state=first.state, catalog=catalog)
    end_of_tomorrow = local_midnight(today + timedelta(days=2), HELSINKI)
    assert prices_of(second) == elering.truth("FI", end_of_market_day, end_of_tomorrow)
    assert len(prices_of(second)) == 23 * 4
    assert partition(second)["replication_key_value"] == (end_of_tomorrow - QUARTER).isoformat()


def test_price_source_none_asks_nothing_and_says_so_once(priced, run_tap, elering, caplog):
    config, catalog = priced(price_source="none", **OCTOBER)
    with caplog.at_level(logging.INFO):
        run = run_tap(config, catalog=catalog)
    assert run.records("spot_prices") == []
    assert elering.requests() == []
    said = [
        r.getMessage() for r in caplog.records if "price_source setting is none" in r.getMessage()
    ]
    assert said == [
        "The price_source setting is none: spot_prices asks for no price and emits nothing."
    ]
    assert len(run.records("consumption")) == 7 * 96


def test_prices_are_not_asked_when_spot_prices_is_not_selected(
    tap_config, run_tap, elering, catalog_selecting
):
    config = tap_config(elering_url=elering.url, **OCTOBER)
    run = run_tap(config)  # the tap's default selection: consumption and daily_totals
    assert run.records("spot_prices") == []
    assert elering.requests() == []
    assert run_tap(config, catalog=catalog_selecting(config, "spot_prices")).records("spot_prices")


def test_a_failing_source_moves_no_bookmark_past_prices_not_received(
    priced, run_cli, elering, tmp_path
):
    config, catalog = priced(max_retries=1, **OCTOBER)
    state = {"bookmarks": {"spot_prices": {"partitions": [{
        "context": {"area": "FI"}, "replication_key": "timestamp",
        "replication_key_value": "2025-10-15T20:45:00+00:00",
        "owed": [["2025-10-14T10:00:00+00:00", "2025-10-14T10:15:00+00:00"]],
    }]}}}  # fmt: skip
    elering.inject("503", "503")
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(catalog), encoding="utf-8")
    run = run_cli(config, "--catalog", str(catalog_file), state=state)
    paragraph = run.error_paragraph()
    assert paragraph.startswith(f"tap-wattivahti: error: Elering did not answer GET {elering.url}")
    assert "after 2 attempts (HTTP 503 Service Unavailable)" in paragraph
    assert run.records("spot_prices") == []
    kept = [m["value"] for m in run.messages if m["type"] == "STATE"]
    prices = [s["bookmarks"].get("spot_prices") for s in kept if "spot_prices" in s["bookmarks"]]
    assert all(p == state["bookmarks"]["spot_prices"] for p in prices)


def test_entsoe_prices_through_the_tap(tap_config, run_tap, entsoe, catalog_selecting):
    config = tap_config(
        price_source="entsoe", entsoe_url=entsoe.url, entsoe_token=entsoe.token, **OCTOBER
    )
    run = run_tap(config, catalog=catalog_selecting(config, "spot_prices"))
    start, stop = _day(date(2025, 10, 13))[0], _day(date(2025, 10, 19))[1]
    assert prices_of(run) == entsoe.truth("FI", start, stop)
    assert {r["source"] for r in run.records("spot_prices")} == {"entsoe"}
    assert len(entsoe.requests()) == 1


def test_the_stream_is_described_as_the_contract_says(tap_config, catalog_selecting):
    catalog = catalog_selecting(tap_config(), "consumption")
    [entry] = [e for e in catalog["streams"] if e["tap_stream_id"] == "spot_prices"]
    top = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
    assert list(top["table-key-properties"]) == ["area", "timestamp"]
    assert top["valid-replication-keys"] == ["timestamp"]
    assert top["selected-by-default"] is False
    properties = entry["schema"]["properties"]
    assert set(properties) == {"area", "timestamp", "resolution", "price_eur_mwh", "source"}
    assert properties["price_eur_mwh"]["type"] == ["number"]
    assert properties["resolution"]["enum"] == ["PT15MIN", "PT1H"]
    assert properties["source"]["enum"] == ["elering", "entsoe"]


def _day(day: date) -> tuple[datetime, datetime]:
    return local_midnight(day, HELSINKI), local_midnight(day + timedelta(days=1), HELSINKI)
