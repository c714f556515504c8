"""Records against the simulator: DST-exact instants, exact numbers, sorting, partitions."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tests.simulator import (
    FALL_DAY_2025,
    SEED_METERING_POINT,
    MeteringPoint,
    Simulator,
    local_midnight_utc,
)

UTC = timezone.utc
QUARTER = timedelta(minutes=15)


def stamps(records):
    return [datetime.fromisoformat(r["timestamp"]) for r in records]


def test_fall_dst_day_lands_all_100_values_on_distinct_utc_instants(tap_config, run_tap, simulator):
    run = run_tap(tap_config(start_date="2025-10-26", end_date="2025-10-27"))
    records = run.records()
    day_start, day_stop = local_midnight_utc(FALL_DAY_2025), local_midnight_utc(date(2025, 10, 27))
    assert len(records) == 100
    assert stamps(records) == [day_start + QUARTER * i for i in range(100)]
    assert sum(Decimal(str(r["consumption_kwh"])) for r in records) == Decimal("24.510")
    assert sum(r["consumption_wh"] for r in records) == 24510.0
    by_instant = {r["timestamp"]: r["consumption_kwh"] for r in records}
    # The bill: 03:00-03:45 first at UTC+3 (00:00Z...), then again at UTC+2 (01:00Z...).
    assert [by_instant[f"2025-10-26T00:{m:02d}:00+00:00"] for m in (0, 15, 30, 45)] == [
        0.102,
        0.098,
        0.101,
        0.108,
    ]
    assert [by_instant[f"2025-10-26T01:{m:02d}:00+00:00"] for m in (0, 15, 30, 45)] == [
        0.116,
        0.096,
        0.106,
        0.093,
    ]
    truth = simulator.truth(SEED_METERING_POINT, day_start, day_stop)
    assert {i: r["consumption_wh"] for i, r in zip(stamps(records), records, strict=True)} == truth


def test_spring_dst_day_has_92_quarter_hours_without_a_gap_in_utc(tap_config, run_tap):
    run = run_tap(tap_config(start_date="2025-03-30", end_date="2025-03-31"))
    instants = stamps(run.records())
    assert len(instants) == 92
    start = local_midnight_utc(date(2025, 3, 30))
    assert instants == [start + QUARTER * i for i in range(92)]
    assert instants[12] == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)  # 04:00+03:00 after 02:45


def test_records_carry_exact_floats_including_integer_zeros(tap_config, run_tap, catalog_selecting):
    solar = MeteringPoint("5555555", production=True)
    with Simulator([solar]) as sim:
        catalog_run = run_tap(
            tap_config(sim, start_date="2025-06-10T00:00:00", end_date="2025-06-10T08:00:00"),
            catalog=None,
        )
        assert catalog_run.records("production") == []  # not selected by default
        tap_run = run_tap(
            tap_config(
                sim,
                start_date="2025-06-10T00:00:00",
                end_date="2025-06-10T08:00:00",
                resolution="PT15MIN",
            ),
            catalog=catalog_selecting(tap_config(sim), "production"),
        )
        truth = sim.truth(
            "5555555",
            datetime(2025, 6, 9, 21, tzinfo=UTC),
            datetime(2025, 6, 10, 5, tzinfo=UTC),
            measurement_type=6,
        )
    records = tap_run.records("production")
    assert len(records) == 32
    night = records[0]
    assert night == {
        "metering_point": "5555555",
        "timestamp": "2025-06-09T21:00:00+00:00",
        "resolution": "PT15MIN",
        "production_kwh": 0.0,
        "production_wh": 0.0,
    }
    assert all(type(r["production_kwh"]) is float for r in records)
    assert all(type(r["production_wh"]) is float for r in records)
    assert {i: r["production_wh"] for i, r in zip(stamps(records), records, strict=True)} == truth
    assert all(r["production_wh"] == round(r["production_kwh"] * 1000) for r in records)


def test_wh_is_kwh_times_1000_exactly(tap_config, run_tap, simulator):
    run = run_tap(tap_config(start_date="2025-10-26T03:00:00", end_date="2025-10-26T04:00:00"))
    first = run.records()[0]
    assert first["consumption_kwh"] == 0.102
    assert first["consumption_wh"] == 102.0  # not 102.00000000000001
    assert repr(first["consumption_wh"]) == "102.0"


def test_each_metering_point_is_a_sorted_partition_with_its_own_bookmark(tap_config, run_tap):
    points = [MeteringPoint("1234567"), MeteringPoint("7654321", switch_date=date(2025, 6, 5))]
    with Simulator(points) as sim:
        run = run_tap(
            tap_config(
                sim,
                metering_points=["1234567, 7654321"],
                start_date="2025-06-04T00:00:00",
                end_date="2025-06-06T00:00:00",
            )
        )
    for code, expected in (("1234567", 192), ("7654321", 24 + 96)):
        records = [r for r in run.records() if r["metering_point"] == code]
        instants = stamps(records)
        assert len(records) == expected
        assert instants == sorted(set(instants))  # sorted, no timestamp twice
        assert run.bookmark(code) == records[-1]["timestamp"]
    assert run.bookmark("7654321") == "2025-06-05T20:45:00+00:00"


def test_unexpected_shapes_are_warned_by_time_and_never_merged(
    tap_config, run_tap, simulator, caplog
):
    moved = {}

    def odd(values):
        moved.update(values[40])
        gap = {**values[40], "time": "2025-03-30T03:15:00"}  # counted in the API's sum
        return [*values[:40], gap, *values[41:], values[41]]  # and 11:15 sent twice

    simulator.edit_values = odd
    with caplog.at_level(logging.INFO):
        run = run_tap(tap_config(start_date="2025-03-30", end_date="2025-03-31"))
    records = run.records()
    assert len(records) == 91
    assert len({r["timestamp"] for r in records}) == 91
    assert moved["time"] == "2025-03-30T11:00:00"
    assert "2025-03-30T08:00:00+00:00" not in {r["timestamp"] for r in records}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("2025-03-30T03:15:00" in w and "spring-forward gap" in w for w in warnings)
    assert any("2025-03-30T11:15:00" in w and "was sent 2 times" in w for w in warnings)
    [sum_check] = [w for w in warnings if w.startswith("Sum check")]
    emitted = sum(Decimal(str(r["consumption_kwh"])) for r in records)
    api_sum = emitted + Decimal(str(moved["quantity"]))
    assert f"the API's sum is {api_sum} kWh, the values kept sum to {emitted} kWh" in sum_check


@pytest.mark.parametrize("labels", ["clock", "shifted"])
@pytest.mark.parametrize(
    ("point", "day", "periods"),
    [
        pytest.param(MeteringPoint(SEED_METERING_POINT), date(2025, 3, 30), 92, id="15min"),
        pytest.param(  # hourly, as in the 2023 answer a public client keeps as a fixture
            MeteringPoint("7654321", switch_date=date(2030, 1, 1)), date(2023, 3, 26), 23, id="1h"
        ),
    ],
)
def test_spring_dst_day_lands_every_value_at_its_instant_whichever_way_it_is_labelled(
    tap_config, run_tap, caplog, point, day, periods, labels
):
    begin, end = local_midnight_utc(day), local_midnight_utc(day + timedelta(days=1))
    with Simulator([point], spring_labels=labels) as sim:
        sim.available_until = end + timedelta(days=1)
        config = tap_config(
            sim, start_date=day.isoformat(), end_date=(day + timedelta(2)).isoformat()
        )
        with caplog.at_level(logging.INFO):
            first = run_tap(config)
        truth = sim.expected_points(point.code, begin, end + timedelta(days=1))
        logged = list(caplog.records)
        with caplog.at_level(logging.INFO):
            again = run_tap({**config, "correction_interval_hours": 0}, state=first.state)
    stored = {
        datetime.fromisoformat(r["timestamp"]): (r["resolution"], int(r["consumption_wh"]))
        for r in first.records()
    }
    assert stored == truth
    assert len([i for i in stored if begin <= i < end]) == periods
    spring, _ = first.records("daily_totals")
    assert (spring["date"], spring["periods"], spring["missing_periods"]) == (
        day.isoformat(),
        periods,
        0,
    )
    assert again.records() == again.records("daily_totals") == []  # no false hole asked again
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    [choice] = [r.getMessage() for r in logged if f": {day} " in r.getMessage()]  # once
    if labels == "clock":
        assert choice.endswith(f"{day} follows the clock (no value labelled in the hour the "
                               "clocks skip): placed by label.")  # fmt: skip
    else:
        step = "05:45" if periods == 92 else "05:00"
        last = "06:45" if periods == 92 else "06:00"
        assert (
            f"{day} is shifted (values labelled 03:00\u2013{step} belong to 04:00\u2013{last}"
            in choice
        )
        assert choice.endswith("placed by position.")
