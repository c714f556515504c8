"""The fleet on Apache Airflow 3 (orchestrate/airflow/README.md): the real `airflow dags test` of
the hourly DAG, from Airflow's own virtual environment (orchestrate/airflow/setup, which
scripts/test runs) with its own sqlite database, over two shards of the fleet fixture
(tests/fleet.py): real `meltano run`s, the WattiVahti simulator, InfluxDB 1.x and PostgreSQL.
One DAG run covers both shards and Airflow's retry of a failing one; then a household moves to
the other shard with its bookmarks."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest

from tests.meltano_project import MELTANO, STATE_ID, base_environment
from tests.servers import REPO_ROOT
from tests.simulator import Fault

AIRFLOW = REPO_ROOT / "orchestrate" / "airflow" / "airflow"
AIRFLOW_VENV = REPO_ROOT / ".cache" / "airflow-venv"


def airflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AIRFLOW), *args], env=env, capture_output=True, text=True, check=False, timeout=600
    )


def test_the_dag_lands_every_shard_and_airflow_retries_a_failing_one(fleet, tmp_path):
    if not (AIRFLOW_VENV / "bin" / "airflow").exists():
        pytest.fail(
            f"Airflow is not installed in {AIRFLOW_VENV}: run orchestrate/airflow/setup "
            "(scripts/test runs it).",
            pytrace=False,
        )
    shards = {
        "shard-a": fleet.accounts_file("shard-a.json", {"a1": ["3000501"], "a2": ["3000502"]}),
        "shard-b": fleet.accounts_file("shard-b.json", {"b1": ["3000601"]}),
    }
    shards_file = tmp_path / "shards.json"
    shards_file.write_text(json.dumps(shards), encoding="utf-8")
    # shard-b's first try: its metering point answers 503 to both of the tap's attempts, so that
    # `meltano run` fails; Airflow's retry then finds WattiVahti answering again.
    fleet.sim.inject(*[Fault("503", metering_point="3000601")] * 2)
    home = tmp_path / "airflow"
    env = {
        # Airflow's settings are the test's alone: none of a developer's AIRFLOW_* variables
        **{k: v for k, v in base_environment().items() if not k.startswith("AIRFLOW")},
        **fleet.env,
        "TAP_WATTIVAHTI_MAX_RETRIES": "1",
        "AIRFLOW_HOME": str(home),
        "WATTIVAHTI_PROJECT_DIR": str(fleet.machines[0].project),
        "WATTIVAHTI_SHARDS_FILE": str(shards_file),
        "WATTIVAHTI_MELTANO": MELTANO,
        "WATTIVAHTI_RETRY_DELAY_SECONDS": "1",  # the DAG's 300 s, shortened for the test
    }
    migrated = airflow("db", "migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    tested = airflow("dags", "test", "wattivahti_fleet", env=env)
    output = tested.stdout + tested.stderr
    assert tested.returncode == 0, output[-8000:]

    codes = ["3000501", "3000502", "3000601"]
    assert fleet.stored() == fleet.truth(codes)
    shard_a, shard_b = f"{STATE_ID}:shard-a", f"{STATE_ID}:shard-b"
    landed = fleet.bookmarks()
    landed_a, landed_b = landed[shard_a], landed[shard_b]
    assert set(landed_a) == {"3000501", "3000502"}
    assert set(landed_b) == {"3000601"}
    assert fleet.sim.pending_faults() == 0
    # the first try's error, in the task's log
    assert "did not answer metering point 3000601" in output
    assert "after 2 attempts (HTTP 503 Service Unavailable)" in output
    # Meltano's runs: shard-b failed once, then Airflow's retry ran it again.
    # (dags test runs the mapped tasks one after another, in either order)
    runs: dict[str, list[str]] = {}
    for job_name, state in fleet.sql("SELECT job_name, state FROM runs ORDER BY started_at"):
        runs.setdefault(job_name, []).append(state)
    assert runs == {shard_a: ["SUCCESS"], shard_b: ["FAIL", "SUCCESS"]}
    with closing(sqlite3.connect(home / "airflow.db")) as db:
        tasks = db.execute(
            "SELECT rendered_map_index, state, try_number, pool FROM task_instance"
            " WHERE task_id = 'meltano_run' ORDER BY map_index"
        ).fetchall()
        [dag_run] = db.execute("SELECT state FROM dag_run").fetchall()
    assert tasks == [
        ("shard-a", "success", 1, "wattivahti"),
        ("shard-b", "success", 2, "wattivahti"),
    ]
    assert dag_run == ("success",)
    # Each shard ran in a Meltano run folder of its own.
    project = fleet.machines[0].project
    for shard in shards:
        assert (project / ".meltano" / "shards" / shard / "run" / "tap-wattivahti").is_dir()

    # Moving household a2 to shard-b keeps its bookmark, and shard-b its own (README, "Running a
    # fleet").
    machine = fleet.machines[0]
    moved = subprocess.run(
        [sys.executable, str(REPO_ROOT / "orchestrate" / "move_bookmarks.py"), shard_a, shard_b,
         "3000502"],
        cwd=machine.project, env=machine.environment(), capture_output=True, text=True,
        check=False, timeout=300,
    )  # fmt: skip
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert f"Moved the bookmarks of 3000502 from {shard_a} to {shard_b}." in moved.stdout
    assert fleet.bookmarks() == {
        shard_a: {"3000501": landed_a["3000501"]},
        shard_b: {**landed_b, "3000502": landed_a["3000502"]},
    }
