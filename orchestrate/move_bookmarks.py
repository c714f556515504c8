"""Move households' bookmarks from one shard's state to another's (README, "Running a fleet").

    .venv/bin/python orchestrate/move_bookmarks.py SRC_STATE_ID DST_STATE_ID METERING_POINT...

Run it in the Meltano project, with the shards' runs stopped (the DAG paused). Meltano's own
`meltano state merge` replaces lists instead of merging them, and each stream's partitions are one
list, so it would drop the bookmarks the destination already has; `meltano state copy` and
`meltano state move` replace the whole state. This moves only the named metering points'
partitions, in every stream, through `meltano state export` and `meltano state import` (which
writes both states in one transaction on the system database).
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


def meltano(*args: str, stdin: str | None = None) -> str:
    # the arguments are fixed; the state IDs go in the JSON on stdin (no shell)
    done = subprocess.run(  # noqa: S603
        [MELTANO, *args], input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"`meltano {' '.join(args)}` failed:\n{done.stderr[-3000:]}")
    return done.stdout


def main(argv: list[str]) -> None:
    if len(argv) < 3:
        sys.exit(__doc__)
    src_id, dst_id, *codes = argv
    states = json.loads(meltano("state", "export"))
    if src_id not in states:
        sys.exit(f"There is no state {src_id}; `meltano state list` lists the state IDs.")
    src = states[src_id]
    dst = states.setdefault(dst_id, {"completed": {}, "partial": {}})
    found = set()
    for layer in ("completed", "partial"):  # partial: what an unfinished run has stored
        src[layer], dst[layer] = src.get(layer) or {}, dst.get(layer) or {}
        found |= move_partitions(src[layer], dst[layer], set(codes))
    missing = sorted(set(codes) - found)
    if missing:
        sys.exit(
            f"No bookmarks of metering point(s) {', '.join(missing)} in {src_id}; nothing was "
            f"changed. `meltano state get STATE_ID` shows which state holds them."
        )
    meltano("state", "import", stdin=json.dumps({src_id: src, dst_id: dst}))
    print(f"Moved the bookmarks of {', '.join(sorted(found))} from {src_id} to {dst_id}.")


if __name__ == "__main__":
    main(sys.argv[1:])
