"""The hourly WattiVahti fleet on Apache Airflow 3 (orchestrate/airflow/README.md).

Every hour, one mapped task per shard runs ``orchestrate/run_shard``:
``meltano run --state-id-suffix SHARD tap-wattivahti target-influxdb`` with that shard's
accounts file, in a Meltano run folder of the shard's own (shards that start together in one
project folder would otherwise break each other's runs). The shards come from a JSON file,
``{"SHARD": "ACCOUNTS_FILE", ...}`` (accounts files relative to the project folder), read when
the DAG run starts, so a shard added to the file runs at the next hour without a DAG change.
Scheduling, retries, the cap on concurrent shards (the pool) and the choice of worker are
Airflow's.

Settings, from the environment of the scheduler and the workers:

- ``WATTIVAHTI_PROJECT_DIR``: the Meltano project (default: this repository).
- ``WATTIVAHTI_SHARDS_FILE``: the shards file (default: ``shards.json`` in the project).
- ``WATTIVAHTI_MELTANO``: the Meltano to run (default: the project's ``.venv/bin/meltano``).
- ``WATTIVAHTI_POOL``: the Airflow pool that caps concurrent shards (default: ``wattivahti``).
- ``WATTIVAHTI_RETRY_DELAY_SECONDS``: the wait before a failed shard's retry (default 300, the
  age at which Meltano treats a killed run as stale; shorter waits may find the state ID blocked).

Everything else a ``meltano run`` reads (``MELTANO_DATABASE_URI``,
``WATTIVAHTI_TOKEN_DATABASE_URI``, ``INFLUXDB_*``, ...) passes through from the worker's
environment.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag, task

PROJECT = Path(os.environ.get("WATTIVAHTI_PROJECT_DIR", Path(__file__).resolve().parents[3]))
SHARDS_FILE = Path(os.environ.get("WATTIVAHTI_SHARDS_FILE", PROJECT / "shards.json"))
MELTANO = os.environ.get("WATTIVAHTI_MELTANO", str(PROJECT / ".venv" / "bin" / "meltano"))
POOL = os.environ.get("WATTIVAHTI_POOL", "wattivahti")
RETRY_DELAY = timedelta(seconds=float(os.environ.get("WATTIVAHTI_RETRY_DELAY_SECONDS", "300")))
RUN_SHARD = Path(__file__).resolve().parents[2] / "run_shard"
#: The characters of an account name, not starting with a dot: a shard names a state ID suffix
#: and its folder under .meltano/shards/.
SHARD_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def read_shards(path: Path, project: Path) -> list[dict[str, str]]:
    """The environment of each shard's run, from the shards file; one clear error when it is bad."""
    hint = f'The shards file {path} must be a JSON object {{"SHARD": "ACCOUNTS_FILE", ...}}'
    try:
        shards = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"Cannot read the shards file {path}: {exc}. {hint}.") from exc
    if not isinstance(shards, dict) or not shards:
        raise ValueError(f"{hint}, with at least one shard.")
    out = []
    for shard, accounts_file in shards.items():
        if not SHARD_NAME.fullmatch(shard) or not isinstance(accounts_file, str):
            raise ValueError(
                f"{hint}: shard {shard!r} needs a name of letters, digits, `_ . -` (not starting "
                "with `.`) and the path of its accounts file."
            )
        out.append(
            {
                "WATTIVAHTI_SHARD": shard,
                "WATTIVAHTI_ACCOUNTS_FILE": str(project / accounts_file),
                "WATTIVAHTI_PROJECT_DIR": str(project),
                "WATTIVAHTI_MELTANO": MELTANO,
            }
        )
    return out


@dag(
    dag_id="wattivahti_fleet",
    schedule="@hourly",
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,  # the tap catches up from its bookmarks, not from missed DAG runs
    max_active_runs=1,  # a shard never overlaps its own previous hour
    default_args={"retries": 2, "retry_delay": RETRY_DELAY},
    tags=["wattivahti", "meltano"],
)
def wattivahti_fleet() -> None:
    @task
    def shards() -> list[dict[str, str]]:
        return read_shards(SHARDS_FILE, PROJECT)

    BashOperator.partial(
        task_id="meltano_run",
        # (a command ending in .sh would be read as a template file)
        bash_command=f'exec "{RUN_SHARD}"',
        cwd=str(PROJECT),
        append_env=True,  # the worker's MELTANO_DATABASE_URI, token database, InfluxDB ...
        pool=POOL,
        map_index_template="{{ task.env['WATTIVAHTI_SHARD'] }}",
    ).expand(env=shards())


wattivahti_fleet()
