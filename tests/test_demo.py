"""The README's second quick-start command works: the demo runs end to end and checks itself."""

from __future__ import annotations

import subprocess
import sys

from tests.servers import REPO_ROOT


def test_demo_syncs_october_2025_and_every_day_and_price_matches_the_simulators():
    result = subprocess.run(
        [sys.executable, "-m", "tests.demo"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = result.stdout
    assert "Every day matches the simulator's truth." in out
    assert "2025-10-26        100       24.510       24.510  ok" in out
    assert "Incremental run: meltano run took" in out
    assert "Bookmark: {'1234567': '2025-10-30T21:45:00+00:00'}" in out
    assert (
        "Spot prices: 1156 quarter hours in electricity_price (100 on the fall DST day), equal "
        "to the Elering simulator's."
    ) in out
    assert "and 0 price request(s)" in out.split("Incremental run:")[1]
