"""A good Singer citizen: the tap's output piped into target-jsonl from the package index.

target-jsonl 0.1.4 (singer-python based, the newest release) runs in an isolated tool
environment made by ``uv tool run``, with this interpreter, so nothing of the workspace leaks in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest

from tests.simulator import FALL_DAY_2025, SEED_METERING_POINT, local_midnight_utc

TARGET_JSONL = "target-jsonl==0.1.4"


def test_every_record_lands_in_target_jsonl(tap_config, simulator, tmp_path):
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` names itself in $UV
    if uv is None:
        pytest.fail("uv is needed to run target-jsonl in its own tool environment", pytrace=False)
    config = tmp_path / "tap.json"
    config.write_text(json.dumps(tap_config(start_date="2025-10-25", end_date="2025-10-28")))
    target_config = tmp_path / "target.json"
    output = tmp_path / "out"
    output.mkdir()
    target_config.write_text(json.dumps({"destination_path": str(output),
                                         "do_timestamp_file": False}))  # fmt: skip
    tap = subprocess.Popen(
        [sys.executable, "-m", "tap_wattivahti", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    target = subprocess.run(
        [
            uv,
            "tool",
            "run",
            "--python",
            sys.executable,
            "--from",
            TARGET_JSONL,
            "target-jsonl",
            "--config",
            str(target_config),
        ],
        stdin=tap.stdout,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert tap.stdout is not None
    tap.stdout.close()
    assert tap.wait(timeout=60) == 0
    assert target.returncode == 0, target.stderr

    lines = (output / "consumption.jsonl").read_text().splitlines()
    landed = [json.loads(line, parse_float=Decimal) for line in lines]
    start = local_midnight_utc(date(2025, 10, 25))
    stop = local_midnight_utc(date(2025, 10, 28))
    truth = simulator.truth(SEED_METERING_POINT, start, stop)
    assert len(landed) == 96 + 100 + 96 == len(truth)
    assert sum(r["consumption_kwh"] for r in landed) == Decimal(sum(truth.values())) / 1000
    assert {r["timestamp"]: int(r["consumption_wh"]) for r in landed} == {
        instant.isoformat(): wh for instant, wh in truth.items()
    }
    fall_start = local_midnight_utc(FALL_DAY_2025).isoformat()
    fall_stop = local_midnight_utc(date(2025, 10, 27)).isoformat()
    fall_day = [r for r in landed if fall_start <= r["timestamp"] < fall_stop]
    assert len(fall_day) == 100
    assert sum(r["consumption_kwh"] for r in fall_day) == Decimal("24.510")
    final_state = json.loads(target.stdout.strip().splitlines()[-1])
    partition = final_state["bookmarks"]["consumption"]["partitions"][0]
    assert partition["replication_key_value"] == "2025-10-27T21:45:00+00:00"
