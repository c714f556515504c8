"""End to end: the real `meltano run tap-wattivahti target-influxdb` on the shipped meltano.yml,
against the WattiVahti simulator and a real InfluxDB 1.x. Every test reads back what is stored."""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from tests.meltano_project import STATE_ID, MeltanoRunner
from tests.servers import InfluxDB1, influxdb1_binary
from tests.simulator import HELSINKI, SEED_METERING_POINT, Fault, Simulator, local_midnight_utc

UTC = timezone.utc
MEASUREMENT = "electricity_consumption"


def stored(influx: InfluxDB1, database: str) -> dict[datetime, tuple[str, float, float]]:
    """UTC instant → (resolution, kWh, Wh) of every stored consumption point of the seed point."""
    points = influx.points(database, MEASUREMENT)
    assert {p["metering_point"] for p in points} <= {SEED_METERING_POINT}
    return {
        datetime.fromtimestamp(p["time"], UTC): (
            p["resolution"],
            p["consumption_kwh"],
            p["consumption_wh"],
        )
        for p in points
    }


def expected(sim: Simulator, start: datetime, stop: datetime) -> dict[datetime, tuple]:
    return {
        instant: (resolution, wh / 1000, float(wh))
        for instant, (resolution, wh) in sim.expected_points(
            SEED_METERING_POINT, start, stop
        ).items()
    }


def assert_ok(result) -> None:
    assert result.returncode == 0, result.output[-6000:]


def window(start: date, stop: date) -> dict[str, str]:
    """The tap's start_date/end_date as a user sets them, for whole local days."""
    return {
        "TAP_WATTIVAHTI_START_DATE": local_midnight_utc(start).isoformat(),
        "TAP_WATTIVAHTI_END_DATE": local_midnight_utc(stop).isoformat(),
    }


def bookmark(meltano: MeltanoRunner, state_id: str = STATE_ID) -> datetime:
    value = meltano.bookmarks(state_id)[SEED_METERING_POINT]
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_first_sync_then_incremental_then_nothing_new(
    meltano, simulator, influxdb1, influx_database
):
    env = window(date(2025, 6, 8), date(2025, 6, 11))
    simulator.available_until = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)  # 12:00 local
    assert_ok(meltano.run_pipeline(env=env))
    first = stored(influxdb1, influx_database)
    start = local_midnight_utc(date(2025, 6, 8))
    assert first == expected(simulator, start, simulator.available_until)
    assert len(first) == 2 * 96 + 48
    assert bookmark(meltano) == datetime(2025, 6, 10, 8, 45, tzinfo=UTC)

    # Six more hours arrive: the next run asks, once, from local midnight of the day of the
    # bookmark less the 2-hour lookback.
    simulator.available_until = datetime(2025, 6, 10, 15, 0, tzinfo=UTC)
    simulator.clear_log()
    assert_ok(meltano.run_pipeline(env=env))
    starts = [r.params["start"] for r in simulator.requests("meterdata")]
    assert len(starts) == 1
    assert datetime.fromisoformat(starts[0]).astimezone(UTC) == local_midnight_utc(
        date(2025, 6, 10)
    )
    second = stored(influxdb1, influx_database)
    assert second == expected(simulator, start, simulator.available_until)
    assert len(second) == len(first) + 24
    assert bookmark(meltano) == datetime(2025, 6, 10, 14, 45, tzinfo=UTC)

    # Nothing new: the same points, the same values, the same bookmark; and with the same
    # settings Meltano reuses the tap's catalog instead of starting it for a discovery.
    third = meltano("--log-level=debug", "run", "tap-wattivahti", "target-influxdb", env=env)
    assert_ok(third)
    assert "Using cached catalog file" in third.output
    assert "--discover" not in third.output
    assert stored(influxdb1, influx_database) == second
    assert bookmark(meltano) == datetime(2025, 6, 10, 14, 45, tzinfo=UTC)


def test_fall_dst_month_total_matches_the_simulator_to_the_watt_hour(
    meltano, simulator, influxdb1, influx_database
):
    start, stop = local_midnight_utc(date(2025, 10, 1)), local_midnight_utc(date(2025, 11, 1))
    simulator.available_until = stop
    assert_ok(meltano.run_pipeline(env=window(date(2025, 10, 1), date(2025, 11, 1))))
    points = stored(influxdb1, influx_database)
    assert len(points) == 31 * 96 + 4
    month_total = sum(kwh for _, kwh, _ in points.values())
    assert abs(month_total - simulator.truth_kwh(SEED_METERING_POINT, start, stop)) < 0.001
    dst_day = influxdb1.query(
        f'SELECT count("consumption_kwh"), sum("consumption_kwh") FROM "{MEASUREMENT}" '
        "WHERE time >= '2025-10-25T21:00:00Z' AND time < '2025-10-26T22:00:00Z'",
        influx_database,
    )[0]["values"][0]
    assert dst_day[1] == 100
    assert abs(dst_day[2] - 24.510) < 0.0005
    # The repeated hour: first occurrence at UTC+3, second at UTC+2, each at its own instant.
    repeated = [points[datetime(2025, 10, 26, 0, 0, tzinfo=UTC) + timedelta(minutes=15 * i)][1]
                for i in range(8)]  # fmt: skip
    assert repeated == [0.102, 0.098, 0.101, 0.108, 0.116, 0.096, 0.106, 0.093]


def _set_bookmark(meltano: MeltanoRunner, value: datetime, state_id: str = STATE_ID) -> None:
    state = {
        "singer_state": {
            "bookmarks": {
                "consumption": {
                    "partitions": [
                        {
                            "context": {"metering_point": SEED_METERING_POINT},
                            "replication_key": "timestamp",
                            "replication_key_value": value.isoformat(),
                        }
                    ]
                }
            }
        }
    }
    assert_ok(meltano("state", "set", "--force", state_id, json.dumps(state)))


def test_outage_catch_up_fetches_every_missed_day(meltano, simulator, influxdb1, influx_database):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    simulator.available_until = now.replace(minute=now.minute - now.minute % 15)
    old = simulator.available_until - timedelta(days=14)
    _set_bookmark(meltano, old)
    # No start_date: its default (now - 7 days) must not cut the 14 missed days short. The state
    # (of an earlier version: only the bookmark) also makes this run re-read the settlement
    # window, the 7 local days before the bookmark's day.
    assert_ok(meltano.run_pipeline())
    points = stored(influxdb1, influx_database)
    first = local_midnight_utc(old.astimezone(HELSINKI).date() - timedelta(days=7))
    assert min(points) == first
    assert points == expected(simulator, first, simulator.available_until)
    assert len(points) == (simulator.available_until - first) // timedelta(minutes=15)
    assert bookmark(meltano) == simulator.available_until - timedelta(minutes=15)


def test_state_clear_and_an_earlier_start_date_backfill(
    meltano, simulator, influxdb1, influx_database
):
    simulator.available_until = local_midnight_utc(date(2025, 6, 11))
    assert_ok(meltano.run_pipeline(env=window(date(2025, 6, 9), date(2025, 6, 11))))
    assert len(stored(influxdb1, influx_database)) == 2 * 96
    # An earlier start_date alone does not move an existing bookmark back ...
    assert_ok(meltano.run_pipeline(env=window(date(2025, 6, 1), date(2025, 6, 11))))
    points = stored(influxdb1, influx_database)
    assert len(points) == 2 * 96
    assert min(points) == local_midnight_utc(date(2025, 6, 9))
    # ... clearing the state does.
    assert_ok(meltano("state", "clear", "--force", STATE_ID))
    assert not meltano.state()
    assert_ok(meltano.run_pipeline(env=window(date(2025, 6, 1), date(2025, 6, 11))))
    start = local_midnight_utc(date(2025, 6, 1))
    assert stored(influxdb1, influx_database) == expected(
        simulator, start, simulator.available_until
    )
    assert bookmark(meltano) == datetime(2025, 6, 10, 20, 45, tzinfo=UTC)


def test_full_refresh_backfills_from_start_date(meltano, simulator, influxdb1, influx_database):
    simulator.available_until = local_midnight_utc(date(2025, 6, 11))
    assert_ok(meltano.run_pipeline(env=window(date(2025, 6, 9), date(2025, 6, 11))))
    result = meltano.run_pipeline("--full-refresh", env=window(date(2025, 6, 3), date(2025, 6, 11)))
    assert_ok(result)
    start = local_midnight_utc(date(2025, 6, 3))
    assert stored(influxdb1, influx_database) == expected(
        simulator, start, simulator.available_until
    )
    assert bookmark(meltano) == datetime(2025, 6, 10, 20, 45, tzinfo=UTC)


def test_bounded_backfill_with_a_state_id_suffix_leaves_the_hourly_state_alone(
    meltano, simulator, influxdb1, influx_database
):
    simulator.available_until = local_midnight_utc(date(2025, 6, 11))
    assert_ok(meltano.run_pipeline(env=window(date(2025, 6, 10), date(2025, 6, 11))))
    hourly_state = meltano.state()
    backfill = window(date(2025, 5, 1), date(2025, 5, 8))
    assert_ok(meltano.run_pipeline("--state-id-suffix", "backfill-2025-05", env=backfill))
    assert meltano.state() == hourly_state
    assert bookmark(meltano, f"{STATE_ID}:backfill-2025-05") == datetime(
        2025, 5, 7, 20, 45, tzinfo=UTC
    )
    points = stored(influxdb1, influx_database)
    may = expected(
        simulator, local_midnight_utc(date(2025, 5, 1)), local_midnight_utc(date(2025, 5, 8))
    )
    june = expected(simulator, local_midnight_utc(date(2025, 6, 10)), simulator.available_until)
    assert points == may | june


def test_influxdb_stopped_mid_run_keeps_state_and_the_next_run_fills_everything(
    meltano, simulator, tmp_path
):
    (tmp_path / "influx").mkdir()
    influx = InfluxDB1(influxdb1_binary(), tmp_path / "influx")
    influx.start()
    try:
        influx.create_database("electricity")
        env = {
            "INFLUXDB_URL": influx.url,
            "TARGET_INFLUXDB_DATABASE": "electricity",
            "TARGET_INFLUXDB_BATCH_SIZE_ROWS": "500",
            "TARGET_INFLUXDB_MAX_RETRIES": "2",
            "TARGET_INFLUXDB_RETRY_INTERVAL": "0",
            "TAP_WATTIVAHTI_WINDOW_DAYS": "3",
            **window(date(2025, 5, 1), date(2025, 6, 1)),
        }
        simulator.available_until = local_midnight_utc(date(2025, 5, 3))
        assert_ok(meltano.run_pipeline(env=env))
        state_before = meltano.state()
        assert bookmark(meltano) == datetime(2025, 5, 2, 20, 45, tzinfo=UTC)

        # The rest of May arrives; InfluxDB goes away while the run is loading it.
        simulator.available_until = local_midnight_utc(date(2025, 6, 1))
        simulator.clear_log()
        simulator.inject(*[Fault("delay", seconds=0.3) for _ in range(12)])
        run = meltano.popen("run", "tap-wattivahti", "target-influxdb", env=env)
        deadline = time.monotonic() + 60
        while len(simulator.requests("meterdata")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        influx.stop()
        _, stderr = run.communicate(timeout=300)
        assert run.returncode != 0, stderr[-3000:]
        assert meltano.state() == state_before

        influx.start()
        assert_ok(meltano.run_pipeline(env=env))
        start = local_midnight_utc(date(2025, 5, 1))
        points = influx.points("electricity", MEASUREMENT)
        assert len(points) == 31 * 96
        assert len({p["time"] for p in points}) == len(points)
        total = sum(p["consumption_kwh"] for p in points)
        truth = simulator.truth_kwh(SEED_METERING_POINT, start, simulator.available_until)
        assert abs(total - truth) < 0.001
        assert bookmark(meltano) == datetime(2025, 5, 31, 20, 45, tzinfo=UTC)
    finally:
        influx.stop()


def test_refresh_token_rotates_across_runs_and_stays_usable(meltano, simulator, tmp_path):
    token_file = Path(meltano.env["REFRESH_TOKEN_FILE"])
    simulator.available_until = local_midnight_utc(date(2025, 6, 2))
    env = window(date(2025, 6, 1), date(2025, 6, 2))
    seen = [token_file.read_text().strip()]
    for _ in range(3):
        assert_ok(meltano.run_pipeline(env=env))
        current = token_file.read_text().strip()
        assert current not in seen
        assert simulator.refresh_token_status(seen[-1]) == "used"
        assert simulator.refresh_token_status(current) == "valid"
        assert token_file.stat().st_mode & 0o777 == 0o600
        seen.append(current)
    assert len(simulator.requests("token")) == 3


def test_two_overlapping_runs_for_one_state_id_do_not_double_or_corrupt(
    meltano, simulator, influxdb1, influx_database
):
    simulator.available_until = local_midnight_utc(date(2025, 6, 11))
    env = {**window(date(2025, 6, 1), date(2025, 6, 11)), "TAP_WATTIVAHTI_WINDOW_DAYS": "2"}
    simulator.inject(*[Fault("delay", seconds=1.5) for _ in range(5)])
    first = meltano.popen("run", "tap-wattivahti", "target-influxdb", env=env)
    deadline = time.monotonic() + 60
    while not simulator.requests("token") and time.monotonic() < deadline:
        time.sleep(0.05)
    second = meltano.run_pipeline(env=env)
    assert second.returncode != 0
    assert "already running" in second.output
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-3000:]
    start = local_midnight_utc(date(2025, 6, 1))
    assert stored(influxdb1, influx_database) == expected(
        simulator, start, simulator.available_until
    )
    assert bookmark(meltano) == datetime(2025, 6, 10, 20, 45, tzinfo=UTC)
    assert len(simulator.requests("token")) == 1


def test_selected_production_lands_in_its_own_measurement(
    meltano, simulator, influxdb1, influx_database
):
    simulator.metering_points[SEED_METERING_POINT].production = True
    simulator.available_until = local_midnight_utc(date(2025, 6, 2))
    env = {
        **window(date(2025, 6, 1), date(2025, 6, 2)),
        "TAP_WATTIVAHTI__SELECT": json.dumps(["consumption.*", "production.*"]),
    }
    assert_ok(meltano.run_pipeline(env=env))
    assert len(stored(influxdb1, influx_database)) == 96
    production = influxdb1.points(influx_database, "electricity_production")
    assert len(production) == 96
    truth = simulator.truth_kwh(
        SEED_METERING_POINT,
        local_midnight_utc(date(2025, 6, 1)),
        local_midnight_utc(date(2025, 6, 2)),
        measurement_type=6,
    )
    assert abs(sum(p["production_kwh"] for p in production) - truth) < 0.001
    assert {p["metering_point"] for p in production} == {SEED_METERING_POINT}


def test_login_command_through_meltano_then_a_first_run(
    meltano, simulator, influxdb1, influx_database
):
    token_file = Path(meltano.env["REFRESH_TOKEN_FILE"])
    token_file.unlink()
    env = {"WATTIVAHTI_USERNAME": simulator.username, "WATTIVAHTI_PASSWORD": simulator.password}
    login = meltano("invoke", "tap-wattivahti:login", env=env)
    assert login.returncode == 0, login.output[-3000:]
    assert str(token_file) in login.output
    assert simulator.password not in login.output
    token = token_file.read_text().strip()
    assert simulator.refresh_token_status(token) == "valid"
    assert token not in login.output
    assert token_file.stat().st_mode & 0o777 == 0o600

    simulator.available_until = local_midnight_utc(date(2025, 6, 2))
    assert_ok(meltano.run_pipeline(env=window(date(2025, 6, 1), date(2025, 6, 2))))
    assert len(stored(influxdb1, influx_database)) == 96
    assert simulator.refresh_token_status(token) == "used"


def test_wrong_password_through_meltano_fails_clearly(meltano, simulator):
    token_file = Path(meltano.env["REFRESH_TOKEN_FILE"])
    token_file.unlink()
    env = {"WATTIVAHTI_USERNAME": simulator.username, "WATTIVAHTI_PASSWORD": "wrong"}
    login = meltano("invoke", "tap-wattivahti:login", env=env)
    assert login.returncode != 0
    assert "wrong" not in login.output.replace("wrong password", "")
    assert not token_file.exists()


def test_no_secret_reaches_the_output_even_at_debug_level(meltano, simulator):
    simulator.available_until = local_midnight_utc(date(2025, 6, 2))
    simulator.inject(Fault("503"), Fault("429", retry_after=0))
    password = "influx-pw-Zq81x"
    env = {
        **window(date(2025, 6, 1), date(2025, 6, 2)),
        "TAP_WATTIVAHTI_LOGLEVEL": "debug",
        "TAP_WATTIVAHTI_RETRY_WAIT_SECONDS": "0",
        "TARGET_INFLUXDB_LOGLEVEL": "debug",
        "TARGET_INFLUXDB_USERNAME": "writer",
        "TARGET_INFLUXDB_PASSWORD": password,
    }
    result = meltano("--log-level=debug", "run", "tap-wattivahti", "target-influxdb", env=env)
    assert_ok(result)
    assert "retry" in result.output  # the faults were really hit and logged
    secrets = [password, *simulator._refresh_tokens, *simulator._access_tokens]
    assert len(secrets) >= 4
    leaked = [secret for secret in secrets if secret in result.output]
    assert leaked == []
    assert "Bearer" not in result.output


def test_a_missing_token_file_fails_the_run_with_the_login_hint(meltano, simulator):
    token_file = Path(meltano.env["REFRESH_TOKEN_FILE"])
    token_file.unlink()
    result = meltano.run_pipeline(env=window(date(2025, 6, 1), date(2025, 6, 2)))
    assert result.returncode == 1
    assert f"the token file {token_file} does not exist" in result.output
    assert "wattivahti-login" in result.output
    assert "Traceback" not in result.output
    assert not meltano.state()
