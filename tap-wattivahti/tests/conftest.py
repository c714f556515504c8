"""Fixtures of the tap's tests: configs pointing at the simulator, in-process and CLI runs.

The shared ``simulator`` fixture (tests/fixtures.py) serves the WattiVahti API over real HTTP.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tap_wattivahti.tap import TapWattiVahti

from tests import fixtures
from tests.simulator import Simulator

# Small waits keep the retry tests fast; the behaviour is the same as with the defaults.
FAST_RETRIES = {"retry_wait_seconds": 0.05, "max_retries": 3}


@dataclass
class Run:
    """The Singer messages of one tap run."""

    messages: list[dict[str, Any]]
    stderr: str = ""
    returncode: int = 0
    stdout: str = ""

    def error_paragraph(self) -> str:
        """The one error paragraph of a failed run, after checking it failed without traceback."""
        assert self.returncode == 1, self.stderr
        assert "Traceback" not in self.stderr
        [paragraph] = [line for line in self.stderr.splitlines() if "error:" in line]
        return paragraph

    def records(self, stream: str = "consumption") -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def state(self) -> dict[str, Any]:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}

    def bookmark(self, code: str, stream: str = "consumption") -> str | None:
        partitions = self.state.get("bookmarks", {}).get(stream, {}).get("partitions", [])
        for partition in partitions:
            if partition["context"] == {"metering_point": code}:
                return partition.get("replication_key_value")
        return None


@pytest.fixture
def catalog_selecting():
    """Build the tap's catalog for a config with exactly the named streams selected."""
    return fixtures.catalog_selecting


@pytest.fixture
def without_write_override() -> tuple[str, ...]:
    """A command prefix that runs the tap without root's power to write anywhere: as root, file
    modes do not stop writes (CAP_DAC_OVERRIDE), so the tap runs without that capability and a
    folder without write permission refuses it, as for any other user."""
    if os.geteuid() != 0:
        return ()
    return ("setpriv", "--inh-caps=-dac_override", "--bounding-set=-dac_override", "--")


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    """Where the tap keeps its refresh token in this test."""
    return tmp_path / "tokens" / "refresh_token.txt"


@pytest.fixture
def tap_config(simulator: Simulator, token_file: Path):
    """Build a config for the simulator; the first run seeds the token file."""

    def make(sim: Simulator = simulator, **extra: Any) -> dict[str, Any]:
        settings = {"refresh_token_file": str(token_file), **FAST_RETRIES, **extra}
        return sim.tap_config(**settings)

    return make


@pytest.fixture
def run_tap():
    """Run the tap in this process and collect its Singer messages."""

    def run(
        config: dict[str, Any],
        state: dict[str, Any] | None = None,
        catalog: dict[str, Any] | None = None,
    ) -> Run:
        tap = TapWattiVahti(config=config, state=state, catalog=catalog, parse_env_config=False)
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            tap.sync_all()
        return Run([json.loads(line) for line in buffer.getvalue().splitlines()])

    return run


def _singer_message(line: str) -> dict[str, Any] | None:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) and "type" in message else None


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without settings that would leak into a tap run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_WATTIVAHTI_", "WATTIVAHTI_")) and k not in ("LOGLEVEL",)
    }
    env.update(extra)
    return env


@pytest.fixture
def start_cli(tmp_path: Path):
    """Start ``python -m tap_wattivahti`` as a separate process with a config file."""
    counter = iter(range(1000))

    def start(
        config: dict[str, Any],
        *args: str,
        state: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        wrap: Sequence[str] = (),
    ) -> TapProcess:
        """Start with ``config`` (and ``state``); ``env`` adds environment variables, ``wrap``
        is a command prefix (e.g. one that changes the privileges)."""
        number = next(counter)
        config_path = tmp_path / f"config-{number}.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        command = [sys.executable, "-m", "tap_wattivahti", "--config", str(config_path), *args]
        if state is not None:
            state_path = tmp_path / f"state-{number}.json"
            state_path.write_text(json.dumps(state), encoding="utf-8")
            command += ["--state", str(state_path)]
        return TapProcess(
            subprocess.Popen(
                [*wrap, *command],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=clean_env(**(env or {})),
                cwd=tmp_path,
            )
        )

    return start


@dataclass
class TapProcess:
    """A tap started as a separate process."""

    process: subprocess.Popen[str]

    def finish(self, timeout: float = 120) -> Run:
        """Wait for the tap and collect its output (killed, and failing, after ``timeout``)."""
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise
        messages = [m for m in map(_singer_message, stdout.splitlines()) if m is not None]
        return Run(messages, stderr, self.process.returncode, stdout)


@pytest.fixture
def run_cli(start_cli):
    """Run ``python -m tap_wattivahti`` as a separate process with a config file."""

    def run(
        config: dict[str, Any],
        *args: str,
        state: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        wrap: Sequence[str] = (),
    ) -> Run:
        """Run with ``config`` (and ``state``); ``env`` adds environment variables."""
        return start_cli(config, *args, state=state, env=env, wrap=wrap).finish(timeout)

    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In test_core.py, the SDK's datetime check of ``_sdc_deleted_at`` has no value to check on
    a first run: its warning ("No records were available to test") is let through for that field
    alone (test_withdrawn.py checks the deletion records' timestamps)."""
    for item in items:
        if item.name.endswith("._sdc_deleted_at]"):
            item.add_marker(
                pytest.mark.filterwarnings("ignore:No records were available to test.:UserWarning")
            )
