"""The InfluxDB target: settings and sinks (filled in by the target issue)."""

from __future__ import annotations

from singer_sdk import typing as th
from singer_sdk.target_base import Target


class TargetInfluxDB(Target):
    """Singer target for InfluxDB."""

    name = "target-influxdb"
    config_jsonschema = th.PropertiesList(
        th.Property(
            "url",
            th.StringType,
            default="http://localhost:8086",
            title="URL",
            description="InfluxDB server URL.",
        ),
    ).to_dict()
