"""The shipped Meltano project, run for real: `meltano install` once, then `meltano run` per test.

The project (meltano.yml with the two local plugins) is copied into a temporary folder, so tests
neither read a developer's `.env` nor touch the repository's `.meltano/`. Each test gets its own
system database (state), token file and InfluxDB database through environment variables, exactly
the way a user configures the project. The plugins are installed once per test run: every
pytest-xdist worker's copy of the project runs them (``installed_once`` in tests/fixtures.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.servers import REPO_ROOT

MELTANO = str(Path(sys.executable).with_name("meltano"))
STATE_ID = "prod:tap-wattivahti-to-target-influxdb"
PLUGIN_FOLDERS = ("tap-wattivahti", "target-influxdb")


def make_project(folder: Path, plugins_from: Path | None = None) -> Path:
    """A copy of the shipped project in ``folder`` (the plugin folders are symlinked); with
    ``plugins_from``, it runs the plugins installed in that project (a machine with the same
    install: its `.meltano/` holds links to them, and its own run folder, logs and database)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "meltano.yml", folder / "meltano.yml")
    for name in PLUGIN_FOLDERS:
        link = folder / name
        if not link.exists():
            link.symlink_to(REPO_ROOT / name, target_is_directory=True)
    if plugins_from is not None:
        (folder / ".meltano").mkdir()
        for kind in ("extractors", "loaders"):
            (folder / ".meltano" / kind).symlink_to(plugins_from / ".meltano" / kind)
    return folder


def base_environment() -> dict[str, str]:
    """The process environment without any setting a developer may have exported."""
    prefixes = ("TAP_", "TARGET_", "MELTANO_", "INFLUXDB_", "WATTIVAHTI_")
    names = {"REFRESH_TOKEN_FILE", "INITIAL_SYNC_DAYS", "SYNC_BUFFER_HOURS"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k not in names}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    # `meltano install` creates the plugins' environments with uv: compiled bytecode spares every
    # plugin start the compilation of its imports (see scripts/bootstrap.sh).
    env["UV_COMPILE_BYTECODE"] = "1"
    return env


def install(project: Path) -> subprocess.CompletedProcess[str]:
    """`meltano install` (plugin virtual environments under ``project/.meltano``)."""
    return subprocess.run(
        [MELTANO, "install"],
        cwd=project,
        env=base_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def partition_bookmarks(state: dict[str, Any], stream: str = "consumption") -> dict[str, str]:
    """Metering point → replication key value of one stream's partitions in a Meltano state."""
    stream_state = state.get("singer_state", {}).get("bookmarks", {}).get(stream, {})
    return {
        p["context"]["metering_point"]: p["replication_key_value"]
        for p in stream_state.get("partitions", [])
        if "replication_key_value" in p
    }


@dataclass
class Result:
    """One finished command: exit code, output, and how long it took."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class MeltanoRunner:
    """Runs meltano commands in a project with a per-test environment."""

    project: Path
    env: dict[str, str] = field(default_factory=dict)

    def environment(self, **overrides: str) -> dict[str, str]:
        env = base_environment()
        env.update(self.env)
        env.update(overrides)
        return env

    def __call__(
        self,
        *args: str,
        timeout: float = 300,
        input_text: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Result:
        started = time.monotonic()
        completed = subprocess.run(
            [MELTANO, *args],
            cwd=self.project,
            env=self.environment(**(env or {})),
            capture_output=True,
            text=True,
            input=input_text,
            check=False,
            timeout=timeout,
        )
        return Result(
            list(args),
            completed.returncode,
            completed.stdout,
            completed.stderr,
            time.monotonic() - started,
        )

    def popen(
        self, *args: str, env: dict[str, str] | None = None, output: IO[str] | None = None
    ) -> subprocess.Popen[str]:
        """Start meltano; its output goes to pipes, or to ``output`` (a file) when given."""
        return subprocess.Popen(
            [MELTANO, *args],
            cwd=self.project,
            env=self.environment(**(env or {})),
            stdout=output or subprocess.PIPE,
            stderr=subprocess.STDOUT if output else subprocess.PIPE,
            text=True,
        )

    def run_pipeline(self, *extra: str, env: dict[str, str] | None = None) -> Result:
        return self("run", *extra, "tap-wattivahti", "target-influxdb", env=env)

    def state(self, state_id: str = STATE_ID) -> dict[str, Any] | None:
        """The stored state of ``state_id`` (None when there is none)."""
        result = self("state", "get", state_id)
        if result.returncode != 0 or not result.stdout.strip():
            return None
        return json.loads(result.stdout)

    def bookmarks(self, state_id: str = STATE_ID, stream: str = "consumption") -> dict[str, str]:
        """Metering point → replication key value of one stream's partitions."""
        return partition_bookmarks(self.state(state_id) or {}, stream)
