"""Move households' bookmarks from one shard's state to another's (README, "Running a fleet").

    .venv/bin/python scripts/move_bookmarks.py SRC_STATE_ID DST_STATE_ID METERING_POINT...

Run it in the Meltano project, with the shards' runs stopped (the DAG paused). Meltano's own
`meltano state merge` replaces lists instead of merging them, and each stream's partitions are one
list, so it would drop the bookmarks the destination already has; `meltano state copy` and
`meltano state move` replace the whole state. This moves only the named metering points'
partitions, in every stream, through `meltano state get` and `meltano state set`: the
destination is written first, so a failure in between leaves a bookmark in both states, never in
neither.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

#: The Meltano installed beside this Python (the project's .venv).
MELTANO = str(Path(sys.executable).with_name("meltano"))


def move_partitions(src: dict[str, Any], dst: dict[str, Any], codes: set[str]) -> set[str]:
    """Move the partitions of metering points ``codes`` from ``src`` to ``dst`` (in place,
    replacing any the destination had for them); returns the metering points found."""
    found: set[str] = set()
    for stream, entry in src.get("singer_state", {}).get("bookmarks", {}).items():
        partitions = entry.get("partitions", [])
        leaving = [p for p in partitions if p.get("context", {}).get("metering_point") in codes]
        if not leaving:
            continue
        entry["partitions"] = [p for p in partitions if p not in leaving]
        bookmarks = dst.setdefault("singer_state", {}).setdefault("bookmarks", {})
        staying = [
            p
            for p in bookmarks.setdefault(stream, {}).get("partitions", [])
            if p.get("context", {}).get("metering_point") not in codes
        ]
        bookmarks[stream]["partitions"] = staying + leaving
        found |= {p["context"]["metering_point"] for p in leaving}
    return found


def meltano(*args: str) -> str:
    # the arguments are the state IDs the user gave, passed as a list (no shell)
    done = subprocess.run([MELTANO, *args], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.exit(f"`meltano {' '.join(args[:2])}` failed:\n{done.stderr[-3000:]}")
    return done.stdout


def main(argv: list[str]) -> None:
    if len(argv) < 3:
        sys.exit(__doc__)
    src_id, dst_id, *codes = argv
    src = json.loads(meltano("state", "get", src_id) or "{}")
    dst = json.loads(meltano("state", "get", dst_id) or "{}")
    found = move_partitions(src, dst, set(codes))
    missing = sorted(set(codes) - found)
    if missing:
        sys.exit(
            f"No bookmarks of metering point(s) {', '.join(missing)} in {src_id}; nothing was "
            "changed. `meltano state get` shows which state holds them."
        )
    meltano("state", "set", "--force", dst_id, json.dumps(dst))
    meltano("state", "set", "--force", src_id, json.dumps(src))
    print(f"Moved the bookmarks of {', '.join(sorted(found))} from {src_id} to {dst_id}.")


if __name__ == "__main__":
    main(sys.argv[1:])
