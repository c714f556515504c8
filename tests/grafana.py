"""What Grafana does with an InfluxQL panel before and after the query, for the dashboard tests.

Grafana itself does not run here (no Docker engine, no Debian package). The tests send each panel's
query to a real InfluxDB 1.x after doing what Grafana does first — substitute `$timeFilter`,
`$__interval` and the template variables — and then apply the panel's transformations. Only
the parts the dashboard uses are implemented; anything else makes the test fail, so a panel
cannot use a macro or transformation that these tests do not follow. The rules are Grafana's:
- `$timeFilter` is `time >= <from>ms and time <= <to>ms` (epoch milliseconds);
- `${__from}` and `${__to}` are the same two instants in epoch milliseconds (without the unit);
- `$__interval` is the time range divided by the panel's max data points, rounded to one of
  Grafana's steps, at least the panel's minimum interval, written like `15m`, `1h`, `1d`;
- a multi-value variable inside a regex is `(a|b)` with each value regex-escaped, one value alone
  is just that value (escaped);
- `convertFieldType` to string formats a time with a moment.js format in the given time zone;
  `groupBy` groups rows by the `groupby` fields and aggregates the others;
- a panel's relative time `timeFrom: "+<n>d/d"` is from now to the start of the n-th next day,
  and its time shift `timeShift: "<k>d/d"` moves both ends k days back, `from` rounded down to
  the start of its day and `to` up to the end of its day (Grafana's `applyPanelTimeOverrides`,
  the dashboard's time zone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.simulator import local_midnight_utc

# Grafana's interval rounding: (below this many ms, use this many ms).
_ROUNDING = [
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000),
    (3_500, 2_000), (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000),
    (45_000, 30_000), (90_000, 60_000), (210_000, 120_000), (450_000, 300_000),
    (750_000, 600_000), (1_050_000, 900_000), (1_500_000, 1_200_000), (2_700_000, 1_800_000),
    (5_400_000, 3_600_000), (9_000_000, 7_200_000), (16_200_000, 10_800_000),
    (32_400_000, 21_600_000), (86_400_000, 43_200_000), (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
]  # fmt: skip
_YEAR_MS = 31_536_000_000
_UNITS = {"y": 31_536_000, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_MOMENT_TOKENS = {"YYYY": "%Y", "MM": "%m", "DD": "%d"}


def round_interval(milliseconds: float) -> int:
    return next((step for limit, step in _ROUNDING if milliseconds < limit), _YEAR_MS)


def _seconds(text: str) -> int:
    match = re.fullmatch(r"(\d+)([ydhms])", text)
    if match is None:
        raise AssertionError(f"an interval these tests do not read: {text}")
    return int(match[1]) * _UNITS[match[2]]


def _interval_text(seconds: int) -> str:
    """Grafana's secondsToHms: the largest unit, whole."""
    for unit, size in _UNITS.items():
        if seconds >= size:
            return f"{seconds // size}{unit}"
    raise ValueError(f"interval below a second: {seconds}")


def _regex_escape(value: str) -> str:
    return re.sub(r"([\\^$*+?.()|\[\]{}/])", r"\\\1", value)


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    @classmethod
    def days(cls, first: date, count: int) -> TimeRange:
        """Whole local days as Grafana's picker gives them: to the last millisecond."""
        end = local_midnight_utc(first + timedelta(days=count)) - timedelta(milliseconds=1)
        return cls(local_midnight_utc(first), end)

    def milliseconds(self) -> tuple[int, int]:
        return int(self.start.timestamp() * 1000), int(self.end.timestamp() * 1000)


def panel_time_range(panel: dict[str, Any], now: datetime, zone: ZoneInfo) -> TimeRange:
    """The time range Grafana gives a panel with a relative time and a time shift at ``now``."""
    relative = re.fullmatch(r"\+(\d+)d/d", panel["timeFrom"])
    shift = re.fullmatch(r"(\d+)d/d", panel["timeShift"])
    if relative is None or shift is None:
        raise AssertionError(f"a time override these tests do not follow: {panel['title']}")
    local = now.astimezone(zone)
    end = _day_start(local + timedelta(days=int(relative[1])), zone)
    back = timedelta(days=int(shift[1]))
    start = _day_start(local - back, zone)
    end = _day_start(end - back, zone) + timedelta(days=1) - timedelta(milliseconds=1)
    return TimeRange(start, end)


def _day_start(instant: datetime, zone: ZoneInfo) -> datetime:
    day = instant.astimezone(zone).date()
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def interval(panel: dict[str, Any], time_range: TimeRange) -> str:
    start, end = time_range.milliseconds()
    milliseconds = round_interval((end - start) / panel["maxDataPoints"])
    if "interval" in panel:
        milliseconds = max(milliseconds, _seconds(panel["interval"]) * 1000)
    return _interval_text(milliseconds // 1000)


def interpolate(
    query: str, panel: dict[str, Any], time_range: TimeRange, variables: dict[str, list[str]]
) -> str:
    """``query`` as Grafana sends it to InfluxDB."""
    start, end = time_range.milliseconds()
    query = query.replace("$timeFilter", f"time >= {start}ms and time <= {end}ms")
    query = query.replace("${__from}", str(start)).replace("${__to}", str(end))
    if "$__interval" in query:
        query = query.replace("$__interval", interval(panel, time_range))
    for name, values in variables.items():
        escaped = [_regex_escape(v) for v in values]
        value = escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
        query = query.replace(f"${name}", value)
    if re.search(r"\$[\w{]", query):
        raise AssertionError(f"a macro or variable these tests do not know: {query}")
    return query


Rows = list[dict[str, Any]]


def to_rows(series: list[dict[str, Any]], alias: str) -> Rows:
    """One InfluxQL answer (epoch seconds) as Grafana's frame rows: Time and the aliased value."""
    return [{"Time": values[0], alias: values[1]} for s in series for values in s["values"]]


def transform(rows: Rows, transformations: list[dict[str, Any]]) -> Rows:
    for step in transformations:
        options = step["options"]
        if step["id"] == "convertFieldType":
            for conversion in options["conversions"]:
                rows = [_convert(row, conversion) for row in rows]
        elif step["id"] == "groupBy":
            rows = _group_by(rows, options["fields"])
        else:
            raise AssertionError(f"a transformation these tests do not follow: {step['id']}")
    return rows


def _convert(row: dict[str, Any], conversion: dict[str, Any]) -> dict[str, Any]:
    assert conversion["destinationType"] == "string"
    field = conversion["targetField"]
    pattern = conversion["dateFormat"]
    for token, code in _MOMENT_TOKENS.items():
        pattern = pattern.replace(token, code)
    local = datetime.fromtimestamp(row[field], ZoneInfo(conversion["timezone"]))
    return {**row, field: local.strftime(pattern)}


def _group_by(rows: Rows, fields: dict[str, dict[str, Any]]) -> Rows:
    keys = [name for name, f in fields.items() if f["operation"] == "groupby"]
    sums = [name for name, f in fields.items() if f["operation"] == "aggregate"]
    assert all(fields[name]["aggregations"] == ["sum"] for name in sums)
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        group = groups.setdefault(key, dict(zip(keys, key, strict=True)))
        for name in sums:
            if name in row:
                group[f"{name} (sum)"] = group.get(f"{name} (sum)", 0) + row[name]
    return list(groups.values())
