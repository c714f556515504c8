"""Resolution ``auto``: 15-minute values where they exist, hourly before, never both, cheaply."""

from __future__ import annotations

import logging
import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from tests.simulator import MeteringPoint, Simulator, local_midnight_utc

UTC = timezone.utc


def points(records):
    """What the records store: UTC instant → (resolution, Wh), as ``expected_points`` gives."""
    stored = {}
    for record in records:
        instant = datetime.fromisoformat(record["timestamp"])
        assert instant not in stored
        stored[instant] = (record["resolution"], int(record["consumption_wh"]))
    return stored


def steps(sim):
    return [(r.params["start"], r.params["stop"], r.params["resultStep"]) for r in sim.requests()
            if r.kind == "meterdata"]  # fmt: skip


def backfill(tap_config, run_tap, point, first_day, stop_day, **settings):
    """Sync ``[first_day, stop_day)`` of ``point``: the run, the expected points, the requests."""
    with Simulator([point]) as sim:
        run = run_tap(tap_config(sim, start_date=first_day.isoformat(),
                                 end_date=stop_day.isoformat(), **settings))  # fmt: skip
        start, stop = local_midnight_utc(first_day), local_midnight_utc(stop_day)
        return run, sim.expected_points(point.code, start, stop), steps(sim), sim


def test_window_straddling_the_switch_gives_hourly_then_15_minute_values(tap_config, run_tap):
    point = MeteringPoint("7654321", switch_date=date(2024, 5, 15))
    run, expected, requested, _ = backfill(
        tap_config, run_tap, point, date(2024, 5, 1), date(2024, 6, 1)
    )
    stored = points(run.records())
    assert stored == expected
    switch = local_midnight_utc(date(2024, 5, 15))
    assert {res for i, (res, _) in stored.items() if i < switch} == {"PT1H"}
    assert {res for i, (res, _) in stored.items() if i >= switch} == {"PT15MIN"}
    assert len(stored) == 14 * 24 + 17 * 96
    assert requested == [
        ("2024-05-01T00:00:00+03:00", "2024-06-01T00:00:00+03:00", "PT15MIN"),
        ("2024-05-01T00:00:00+03:00", "2024-05-15T00:00:00+03:00", "PT1H"),
    ]


def test_hour_overlapping_the_first_15_minute_value_is_not_emitted(tap_config, run_tap, caplog):
    switch = datetime(2024, 5, 15, 7, 15, tzinfo=UTC)  # 10:15 local
    point = MeteringPoint("7654321", switch_at=switch)
    with Simulator([point]) as sim, caplog.at_level(logging.INFO):
        run = run_tap(tap_config(sim, start_date="2024-05-15", end_date="2024-05-16"))
        expected = sim.expected_points(
            "7654321", local_midnight_utc(date(2024, 5, 15)), local_midnight_utc(date(2024, 5, 16))
        )
    stored = points(run.records())
    assert stored == expected
    hourly = sorted(i for i, (res, _) in stored.items() if res == "PT1H")
    quarters = sorted(i for i, (res, _) in stored.items() if res == "PT15MIN")
    assert hourly[-1] == datetime(2024, 5, 15, 6, tzinfo=UTC)  # 09:00-10:00 local, ends first
    assert quarters[0] == switch
    assert datetime(2024, 5, 15, 7, tzinfo=UTC) not in stored  # 10:00-11:00 would double 10:15+
    [overlap] = [r for r in caplog.records if r.getMessage().startswith("Sum check")]
    assert overlap.levelname == "INFO"  # explained by the rule, not a data problem
    assert overlap.getMessage().startswith("Sum check, metering point 7654321, consumption PT1H")
    overlapping_hour = datetime(2024, 5, 15, 7, tzinfo=UTC)
    wh = sum(
        sim.quarter_wh("7654321", 1, overlapping_hour + timedelta(minutes=15 * i)) for i in range(4)
    )
    kwh = Decimal(wh) / 1000
    assert f"1 value(s) ({kwh} kWh) overlapping the first 15-minute value" in overlap.getMessage()


def test_three_year_backfill_costs_one_request_per_window_plus_logarithmic_probes(
    tap_config, run_tap
):
    point = MeteringPoint("7654321", switch_date=date(2023, 1, 1))
    run, expected, requested, sim = backfill(
        tap_config, run_tap, point, date(2021, 1, 1), date(2024, 1, 1)
    )
    token_requests = len(sim.requests("token"))
    windows = 36
    probes = math.ceil(math.log2(windows))
    assert windows < len(requested) <= windows + 1 + probes
    hourly = [r for r in requested if r[2] == "PT1H"]
    assert len(hourly) == 24  # one per hourly month, never a second request for the same window
    assert len({(a, b) for a, b, step in requested if step == "PT15MIN" and a[8:10] == "01"}) == 13
    assert token_requests == 1
    records = run.records()
    assert points(records) == expected
    assert len(records) == 2 * 365 * 24 + 365 * 96
    assert run.bookmark("7654321") == "2023-12-31T21:45:00+00:00"


def test_switch_already_known_for_later_windows_costs_one_request_each(tap_config, run_tap):
    with Simulator() as sim:  # the seed point switched on 2023-01-01
        run_tap(tap_config(sim, start_date="2024-01-01", end_date="2024-04-01"))
        assert [step for _, _, step in steps(sim)] == ["PT15MIN"] * 3


def test_forced_resolutions_ask_only_for_that_step(tap_config, run_tap):
    point = MeteringPoint("7654321", switch_date=date(2024, 5, 15))
    with Simulator([point]) as sim:
        hourly = run_tap(
            tap_config(sim, start_date="2024-05-14", end_date="2024-05-16", resolution="PT1H")
        )
        assert [step for _, _, step in steps(sim)] == ["PT1H"]
        sim.clear_log()
        quarters = run_tap(
            tap_config(sim, start_date="2024-05-14", end_date="2024-05-16", resolution="PT15MIN")
        )
        assert [step for _, _, step in steps(sim)] == ["PT15MIN"]
    assert [r["resolution"] for r in hourly.records()] == ["PT1H"] * 48
    assert [r["resolution"] for r in quarters.records()] == ["PT15MIN"] * 96
    assert quarters.records()[0]["timestamp"] == "2024-05-14T21:00:00+00:00"
    assert sum(r["consumption_wh"] for r in hourly.records()[24:]) == sum(
        r["consumption_wh"] for r in quarters.records()
    )


def test_meter_without_15_minute_values_stays_hourly(tap_config, run_tap):
    point = MeteringPoint("7654321", switch_date=date(2030, 1, 1))
    with Simulator([point]) as sim:
        run = run_tap(tap_config(sim, start_date="2024-01-01", end_date="2024-07-01"))
        requested = steps(sim)
    assert len([r for r in requested if r[2] == "PT1H"]) == 6
    assert len(requested) <= 6 + 1 + math.ceil(math.log2(6))
    records = run.records()
    assert {r["resolution"] for r in records} == {"PT1H"}
    start, stop = local_midnight_utc(date(2024, 1, 1)), local_midnight_utc(date(2024, 7, 1))
    hours = (stop - start) // timedelta(hours=1)
    assert hours == 182 * 24 - 1  # the spring-forward day has 23 hours
    assert [datetime.fromisoformat(r["timestamp"]) for r in records] == [
        start + timedelta(hours=i) for i in range(hours)
    ]


def test_hours_stored_hourly_stay_hourly_when_their_quarter_hours_come_later(tap_config, run_tap):
    """Quarter hours absent at the first fetch come later, all but the :00 one: the hourly point
    of that hour would stay beside them in InfluxDB and count twice, so the hours stay hourly."""
    switch_day = date(2025, 6, 10)
    point = MeteringPoint("7654321", switch_date=switch_day)
    day = local_midnight_utc(switch_day)
    dropped = {day + timedelta(minutes=15 * i) for i in range(8)}  # 00:00-02:00 local

    def drop_quarters(tsv):
        if all(entry["time"].endswith(":00:00") for entry in tsv):
            return tsv  # hourly answers are whole
        kept = [e for e in tsv if datetime.fromisoformat(e["time"] + "+03:00") not in dropped]
        return kept

    with Simulator([point]) as sim:
        sim.available_until = day + timedelta(days=2)
        sim.edit_values = drop_quarters
        config = tap_config(sim, start_date="2025-06-08", end_date="2025-06-12",
                            correction_interval_hours=0)  # fmt: skip
        first = run_tap(config)
        dropped = {day}  # the operator publishes all but the 00:00 quarter hour
        second = run_tap(config, state=first.state)
        truth = sim.truth(point.code, day, day + timedelta(days=1))
    stored: dict[datetime, tuple[str, int]] = {}
    for record in first.records() + second.records():  # point identity: the later write wins
        stored[datetime.fromisoformat(record["timestamp"])] = (
            record["resolution"], int(record["consumption_wh"])
        )  # fmt: skip
    of_day = {i: v for i, v in stored.items() if day <= i < day + timedelta(days=1)}
    assert [of_day[day + timedelta(hours=h)][0] for h in (0, 1)] == ["PT1H", "PT1H"]
    assert min(i for i, (res, _) in of_day.items() if res == "PT15MIN") == day + timedelta(hours=2)
    for instant, (resolution, _) in of_day.items():
        if resolution == "PT1H":
            inside = [i for i in of_day if instant < i < instant + timedelta(hours=1)]
            assert inside == [], f"quarter hours beside the hourly point at {instant}"
    assert sum(wh for _, wh in of_day.values()) == sum(truth.values())
    assert [r for r in second.records() if day <= datetime.fromisoformat(r["timestamp"])] == []
    [partition] = second.state["bookmarks"]["consumption"]["partitions"]
    assert partition["hours_until"] == (day + timedelta(hours=2)).isoformat()
