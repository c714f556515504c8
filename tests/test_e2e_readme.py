"""The README's recipes, run as written: an earlier script's .env, the schedule, the state
commands and a state backend, the production selection, the InfluxQL queries, the DST repair."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from tests.meltano_project import STATE_ID, MeltanoRunner, make_project
from tests.readme import README, backfill_command
from tests.servers import REPO_ROOT
from tests.simulator import HELSINKI, SEED_METERING_POINT, local_midnight_utc

UTC = timezone.utc
OCTOBER = (date(2025, 10, 1), date(2025, 11, 1))


def window(start: date, stop: date) -> dict[str, str]:
    return {
        "TAP_WATTIVAHTI_START_DATE": local_midnight_utc(start).isoformat(),
        "TAP_WATTIVAHTI_END_DATE": local_midnight_utc(stop).isoformat(),
    }


def assert_ok(result) -> None:
    assert result.returncode == 0, result.output[-6000:]


@pytest.fixture
def dotenv_project(meltano_project: Path, tmp_path: Path) -> Path:
    """A project folder of its own (meltano.yml and .env may change) sharing the installed
    plugins of the session's project."""
    project = make_project(tmp_path / "project")
    (project / ".meltano").symlink_to(meltano_project / ".meltano", target_is_directory=True)
    return project


def test_an_earlier_scripts_env_file_drives_the_pipeline_into_a_v2_server(
    dotenv_project, simulator, empty_victoria_metrics, tmp_path
):
    """`cp .env.example .env`, filled in as the earlier script's users have it (InfluxDB 2.x
    variables; VictoriaMetrics stands in for InfluxDB 2.x's /api/v2/write)."""
    token_file = tmp_path / "my_token.txt"
    token_file.write_text(simulator.issue_refresh_token() + "\n")
    example = (REPO_ROOT / ".env.example").read_text()
    filled = {
        "INFLUXDB_URL": empty_victoria_metrics.url,
        "INFLUXDB_TOKEN": "my-influx-token-Qw3",
        "REFRESH_TOKEN_FILE": str(token_file),
    }
    for name, value in filled.items():
        example, count = re.subn(rf"^{name}=.*$", f"{name}={value}", example, flags=re.M)
        assert count == 1, name
    (dotenv_project / ".env").write_text(example)
    simulator.available_until = local_midnight_utc(date(2025, 6, 2))
    meltano = MeltanoRunner(
        dotenv_project,
        {
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
            "TAP_WATTIVAHTI_API_URL": simulator.api_url,
            "TAP_WATTIVAHTI_TOKEN_URL": simulator.token_url,
            **window(date(2025, 6, 1), date(2025, 6, 2)),
        },
    )
    simulator.metering_points["1234567"].production = True
    # The README's way to add production: `meltano select`, which edits meltano.yml.
    assert_ok(meltano("select", "tap-wattivahti", "production", "*"))
    result = meltano.run_pipeline()
    assert_ok(result)
    assert "with API v2" in result.output
    assert "my-influx-token-Qw3" not in result.output
    samples = empty_victoria_metrics.samples()
    kwh = samples[("electricity_consumption_consumption_kwh", "metering_point=1234567")]
    wh = samples[("electricity_consumption_consumption_wh", "metering_point=1234567")]
    start, stop = local_midnight_utc(date(2025, 6, 1)), local_midnight_utc(date(2025, 6, 2))
    truth = simulator.truth(SEED_METERING_POINT, start, stop)
    assert kwh == {int(i.timestamp()): v / 1000 for i, v in truth.items()}
    assert wh == {int(i.timestamp()): float(v) for i, v in truth.items()}
    produced = samples[("electricity_production_production_kwh", "metering_point=1234567")]
    assert len(produced) == 96
    assert token_file.read_text().strip() in simulator.valid_refresh_tokens()


def test_schedule_run_and_state_commands(meltano, simulator, influxdb1, influx_database):
    simulator.available_until = local_midnight_utc(date(2025, 6, 2))
    result = meltano(
        "schedule",
        "run",
        "wattivahti-to-influxdb-hourly",
        env=window(date(2025, 6, 1), date(2025, 6, 2)),
    )
    assert_ok(result)
    assert len(influxdb1.points(influx_database, "electricity_consumption")) == 96
    listed = meltano("state", "list")
    assert_ok(listed)
    assert STATE_ID in listed.stdout.split()
    state = meltano.state()
    [partition] = state["singer_state"]["bookmarks"]["consumption"]["partitions"]
    assert partition["context"] == {"metering_point": SEED_METERING_POINT}
    assert partition["replication_key"] == "timestamp"
    assert partition["replication_key_value"] == "2025-06-01T20:45:00+00:00"
    assert list(partition["days"]) == ["2025-06-01"]  # the settlement window's day marks


def test_moving_state_to_a_shared_backend_keeps_the_bookmark(meltano, simulator, tmp_path):
    """README: `meltano state get … > state.json` on the old store, `meltano state set --force`
    with the new backend; the next run then continues from the bookmark."""
    simulator.available_until = local_midnight_utc(date(2025, 6, 2))
    env = window(date(2025, 6, 1), date(2025, 6, 3))
    assert_ok(meltano.run_pipeline(env=env))
    state_json = meltano("state", "get", STATE_ID)
    assert_ok(state_json)
    shared = {"MELTANO_STATE_BACKEND_URI": (tmp_path / "shared-state").as_uri()}
    assert_ok(meltano("state", "set", "--force", STATE_ID, state_json.stdout, env=shared))
    simulator.available_until = local_midnight_utc(date(2025, 6, 3))
    simulator.clear_log()
    assert_ok(meltano.run_pipeline(env={**env, **shared}))
    [request] = simulator.requests("meterdata")
    assert datetime.fromisoformat(request.params["start"]).astimezone(UTC) == local_midnight_utc(
        date(2025, 6, 1)
    )
    assert list((tmp_path / "shared-state").rglob("*.json"))
    moved = json.loads(meltano("state", "get", STATE_ID, env=shared).stdout)
    value = moved["singer_state"]["bookmarks"]["consumption"]["partitions"][0]
    assert value["replication_key_value"] == "2025-06-02T20:45:00+00:00"


def _readme_influxql() -> list[str]:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_readme_influxql_daily_and_monthly_totals(meltano, simulator, influxdb1, influx_database):
    start, stop = (local_midnight_utc(d) for d in OCTOBER)
    simulator.available_until = stop
    assert_ok(meltano.run_pipeline(env=window(*OCTOBER)))
    daily_query, monthly_query = [q for q in _readme_influxql() if "electricity_consumption" in q]
    daily = influxdb1.query(daily_query, influx_database)[0]["values"]
    assert len(daily) == 31
    for epoch, kwh in daily:
        day_start = datetime.fromtimestamp(epoch, UTC)
        next_day = local_midnight_utc((day_start.astimezone(HELSINKI) + timedelta(days=1)).date())
        truth = simulator.truth_kwh(SEED_METERING_POINT, day_start, next_day)
        assert abs(kwh - truth) < 0.0005
    assert dict(daily)[int(local_midnight_utc(date(2025, 10, 26)).timestamp())] == pytest.approx(
        24.510, abs=0.0005
    )
    [monthly] = influxdb1.query(monthly_query, influx_database)
    assert monthly["tags"] == {"metering_point": SEED_METERING_POINT}
    assert monthly["values"][0][1] == pytest.approx(
        simulator.truth_kwh(SEED_METERING_POINT, start, stop), abs=0.001
    )


def test_readme_dst_repair_fixes_what_the_earlier_script_stored(
    meltano, simulator, influxdb1, influx_database
):
    """The earlier script put both occurrences of the repeated hour on the first one's instants;
    the README's bounded backfill puts every value at its own instant."""
    day = date(2025, 10, 26)
    simulator.available_until = local_midnight_utc(date(2025, 10, 27))
    truth = simulator.truth(
        SEED_METERING_POINT, local_midnight_utc(day), local_midnight_utc(date(2025, 10, 27))
    )
    lines = []
    for instant, wh in truth.items():
        local = instant.astimezone(HELSINKI).replace(tzinfo=None)
        wrong = local.replace(tzinfo=HELSINKI, fold=0).astimezone(UTC)  # the bug
        lines.append(
            f"electricity_consumption,metering_point={SEED_METERING_POINT} "
            f'consumption_kwh={wh / 1000},consumption_wh={float(wh)},resolution="PT15MIN" '
            f"{int(wrong.timestamp())}"
        )
    requests.post(
        f"{influxdb1.url}/write",
        params={"db": influx_database, "precision": "s"},
        data="\n".join(lines),
        timeout=10,
    ).raise_for_status()
    assert len(influxdb1.points(influx_database, "electricity_consumption")) == 96

    env, command = backfill_command("dst-repair")
    assert_ok(meltano(*command, env=env))
    points = influxdb1.points(influx_database, "electricity_consumption")
    assert len(points) == 100
    assert sum(p["consumption_kwh"] for p in points) == pytest.approx(24.510, abs=0.0005)
    assert not meltano.state()  # the hourly job's state is untouched
