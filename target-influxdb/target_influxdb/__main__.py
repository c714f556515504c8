"""Run the target with `python -m target_influxdb`."""

from __future__ import annotations

from target_influxdb.target import TargetInfluxDB

TargetInfluxDB.cli()
