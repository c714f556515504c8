"""Helpers for the target's tests: run the target in-process or as a command, on real servers."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from target_influxdb.target import TargetInfluxDB

DATA = Path(__file__).parent / "data"

# Fast retries, so that tests of failures do not wait for the production backoff.
FAST_RETRIES = {"max_retries": 2, "retry_interval": 0.05, "timeout": 5}


def singer_text(source: str | Path | Iterable[dict[str, Any]]) -> str:
    """Singer input from a ``.singer`` file (name in tests/data or a path), text, or messages."""
    if isinstance(source, Path):
        return source.read_text(encoding="utf-8")
    if isinstance(source, str):
        path = DATA / source
        return path.read_text(encoding="utf-8") if source.endswith(".singer") else source
    return "".join(json.dumps(message) + "\n" for message in source)


@dataclass
class Loaded:
    """What an in-process run printed: its STATE messages and its log."""

    states: list[dict[str, Any]]
    records: list[logging.LogRecord]

    @property
    def log(self) -> str:
        return "\n".join(record.getMessage() for record in self.records)

    def warnings(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= logging.WARNING]


@pytest.fixture
def load(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Callable[..., Loaded]:
    """Run the target in this process on some Singer input; return its STATE messages and log."""

    def run(config: dict[str, Any], source: str | Path | Iterable[dict[str, Any]]) -> Loaded:
        caplog.clear()
        caplog.set_level(logging.INFO)
        capsys.readouterr()
        target = TargetInfluxDB(config=config)
        target.listen(io.StringIO(singer_text(source)))
        out = capsys.readouterr().out
        states = [json.loads(line) for line in out.splitlines() if line.strip()]
        return Loaded(states, list(caplog.records))

    return run


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m target_influxdb --config <file>`` as Meltano does, input on stdin."""

    def run(
        config: dict[str, Any],
        source: str | Path | Iterable[dict[str, Any]],
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        config_file = tmp_path / "config.json"
        config_file.write_text(json.dumps(config), encoding="utf-8")
        return subprocess.run(
            [sys.executable, "-m", "target_influxdb", "--config", str(config_file)],
            input=singer_text(source),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def v1_config(influxdb1: Any, influx_database: str) -> dict[str, Any]:
    """Settings for a fresh database on the session's InfluxDB 1.x."""
    return {"url": influxdb1.url, "database": influx_database, **FAST_RETRIES}


@pytest.fixture
def v2_config(empty_victoria_metrics: Any) -> dict[str, Any]:
    """Settings for the session's (emptied) VictoriaMetrics through /api/v2/write."""
    return {
        "url": empty_victoria_metrics.url,
        "bucket": "electricity",
        "org": "wattivahti",
        "token": "vm-ignores-this-token",
        **FAST_RETRIES,
    }
