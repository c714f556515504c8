"""The InfluxQL Grafana dashboard (grafana/dashboards/electricity-influxql.json): every panel query
runs on a real InfluxDB 1.x, after one sync of the simulator through the tap and the target (in
this process, with the shipped meltano.yml's measurement names; the costs and bills with the
README's example terms), the way Grafana sends it (tests/grafana.py), and its numbers are the
simulator's truth (the costs and bills computed in tests/bills.py).

The Flux dashboard (electricity.json) is not run: no InfluxDB 2.x can run here.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from tap_wattivahti.tap import TapWattiVahti
from target_influxdb.target import TargetInfluxDB

from tests.bills import (
    Terms,
    as_read,
    expected_bill,
    expected_costs,
    per_day,
    per_hour,
    readme_terms,
)
from tests.fixtures import catalog_selecting
from tests.grafana import TimeRange, interpolate, interval, panel_time_range, to_rows, transform
from tests.hub import project_plugin
from tests.price_simulators import EleringSimulator
from tests.servers import REPO_ROOT, InfluxDB1, influxdb1_binary
from tests.simulator import (
    CONSUMPTION,
    HELSINKI,
    PRODUCTION,
    SEED_METERING_POINT,
    MeteringPoint,
    Simulator,
    local_midnight_utc,
)

UTC = timezone.utc
DASHBOARD = REPO_ROOT / "grafana" / "dashboards" / "electricity-influxql.json"
DATASOURCES = REPO_ROOT / "grafana" / "provisioning" / "datasources" / "influxdb.yml"
SECOND_POINT = "7654321"
ALL = [SEED_METERING_POINT, SECOND_POINT]
FIRST_DAY, DAYS = date(2025, 9, 29), 35  # to 2025-11-02: three months, both DST-free edges
SYNCED_STOP = local_midnight_utc(FIRST_DAY + timedelta(DAYS))
FALL_DAY = date(2025, 10, 26)
# A hole WattiVahti never fills (the simulator leaves it out of every series): two quarter hours
# on 2025-10-14, local 13:15-13:45, so the incomplete-days panel has a day to show.
HOLE_DAY = date(2025, 10, 14)
HOLE = [local_midnight_utc(HOLE_DAY) + timedelta(hours=13, minutes=m) for m in (15, 30)]
KINDS = {"Consumption": CONSUMPTION, "Production": PRODUCTION}
PRICE_PANEL = "Spot price today and tomorrow (c/kWh, VAT excluded)"
HOUR_COST = "Cost per hour (EUR, VAT included)"
DAY_COST = "Cost per day, Finnish time (EUR, VAT included)"
BILLS = "Monthly bills"
COST_LINES = {"Energy": "energy", "Transfer": "transfer", "Tax": "tax", "VAT": "vat"}
TESTED_PANELS = {
    "Consumption and production per quarter hour (kWh)",
    "Per hour (kWh)",
    "Per day, Finnish time (kWh)",
    "Per month, Finnish time (kWh)",
    "Daily totals",
    "Incomplete days",
    PRICE_PANEL,
    HOUR_COST,
    DAY_COST,
    BILLS,
}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panel(title: str) -> dict[str, Any]:
    return next(p for p in dashboard()["panels"] if p["title"] == title)


class Synced:
    """The simulator's data in a database of the session's InfluxDB 1.x."""

    def __init__(
        self, sim: Simulator, elering: EleringSimulator, influx: InfluxDB1, database: str
    ) -> None:
        self.sim = sim
        self.elering = elering
        self.influx = influx
        self.database = database

    def query(
        self, title: str, time_range: TimeRange, points: list[str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Alias (or refId) → the series each query of the panel gives, as Grafana asks."""
        shown = panel(title)
        return {
            target.get("alias", target["refId"]): self.influx.query(
                interpolate(target["query"], shown, time_range, {"metering_point": points}),
                self.database,
            )
            for target in shown["targets"]
        }

    def truth(self, kind: str, start: datetime, stop: datetime, points: list[str]) -> float:
        """kWh of ``points`` in [start, stop) (production: of those that produce)."""
        if kind == "Production":
            points = [p for p in points if self.sim.metering_points[p].production]
        return sum(self.sim.truth_kwh(p, start, stop, KINDS[kind]) for p in points)

    def quarters(self, point: str) -> dict[datetime, int]:
        """The synced consumption quarter hours (Wh) of ``point``."""
        return self.sim.truth(point, local_midnight_utc(FIRST_DAY), SYNCED_STOP)

    def prices(self) -> dict:
        return self.elering.truth("FI", local_midnight_utc(FIRST_DAY), SYNCED_STOP)

    def cost_lines(self, points: list[str], per: Any) -> dict[datetime, dict[str, float]]:
        """Hour or local day (``per``) → the cost lines of ``points``' consumption, in EUR."""
        terms, prices = Terms.from_readme(), self.prices()
        summed: dict[datetime, dict[str, float]] = defaultdict(
            lambda: dict.fromkeys(COST_LINES, 0.0)
        )
        for point in points:
            for at, lines in per(expected_costs(self.quarters(point), prices, terms)).items():
                for alias, name in COST_LINES.items():
                    summed[at][alias] += float(getattr(lines, name))
        return dict(summed)


def sync(
    sim: Simulator,
    start: datetime,
    stop: datetime,
    target_config: dict,
    folder: Path,
    elering: EleringSimulator | None = None,
) -> None:
    """One sync of the simulator's consumption, production and daily totals (and with
    ``elering``, its spot prices, and the costs and monthly bills of the README's example terms)
    from ``start`` to ``stop`` through the tap and the target (in this process), with the shipped
    meltano.yml's measurement names."""
    prices: dict[str, Any] = {"elering_url": elering.url} if elering is not None else {}
    if prices:  # the costs need the prices: the README's example terms
        prices.update(readme_terms())
    config = sim.tap_config(
        refresh_token_file=str(folder / "token.txt"),
        start_date=start.isoformat(),
        end_date=stop.isoformat(),
        **prices,
    )
    priced = ("spot_prices", "costs", "monthly_bills") if prices else ()
    streams = ("consumption", "production", "daily_totals", *priced)
    singer = io.StringIO()
    with redirect_stdout(singer):
        catalog = catalog_selecting(config, *streams)
        TapWattiVahti(config=config, catalog=catalog, parse_env_config=False).sync_all()
    measurements = project_plugin("target-influxdb")["config"]["measurements"]
    singer.seek(0)
    with redirect_stdout(io.StringIO()):
        TargetInfluxDB(
            config={**target_config, "measurements": measurements}, parse_env_config=False
        ).listen(singer)


@pytest.fixture(scope="module")
def synced(influxdb1: InfluxDB1, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    """One sync: two metering points (the seed one also produces), consumption, production,
    daily totals, spot prices, costs and monthly bills, 2025-09-29 to 2025-11-02 local time, with
    a hole on 2025-10-14."""
    points = [MeteringPoint(SEED_METERING_POINT, production=True), MeteringPoint(SECOND_POINT)]
    start, stop = local_midnight_utc(FIRST_DAY), local_midnight_utc(FIRST_DAY + timedelta(DAYS))
    database = "dashboards"
    influxdb1.create_database(database)
    with Simulator(points, available_until=stop) as sim, EleringSimulator() as elering:
        sim.missing.update(HOLE)
        target_config = {"url": influxdb1.url, "database": database}
        sync(sim, start, stop, target_config, tmp_path_factory.mktemp("dash"), elering)
        yield Synced(sim, elering, influxdb1, database)
    influxdb1.drop_database(database)


def by_time(series: list[dict[str, Any]]) -> dict[datetime, float]:
    [only] = series
    return {datetime.fromtimestamp(t, UTC): value for t, value in only["values"]}


def test_every_panel_is_tested_and_uses_the_influxql_data_source():
    panels = dashboard()["panels"]
    assert {p["title"] for p in panels} == TESTED_PANELS
    provisioned = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    [influxql] = [d for d in provisioned if d["jsonData"].get("version") == "InfluxQL"]
    uses = [p["datasource"] for p in panels]
    uses += [t["datasource"] for p in panels for t in p["targets"]]
    uses += [v["datasource"] for v in dashboard()["templating"]["list"]]
    assert {d["uid"] for d in uses} == {influxql["uid"]}
    # InfluxDB 2.x: the bucket is the database of its InfluxQL API, the token goes in a header.
    assert influxql["url"] == "http://influxdb:8086"
    assert influxql["jsonData"]["dbName"] == "${INFLUXDB_BUCKET}"
    assert influxql["jsonData"]["httpHeaderName1"] == "Authorization"
    assert influxql["secureJsonData"]["httpHeaderValue1"] == "Token ${INFLUXDB_TOKEN}"


def test_the_metering_point_variable_lists_the_synced_points(synced):
    [variable] = dashboard()["templating"]["list"]
    [series] = synced.influx.query(variable["query"], synced.database)
    assert [value for _, value in series["values"]] == ALL


def test_quarter_hour_panel_on_the_fall_dst_day(synced):
    title = "Consumption and production per quarter hour (kWh)"
    day = TimeRange.days(FALL_DAY, 1)
    assert interval(panel(title), day) == "15m"
    answers = synced.query(title, day, [SEED_METERING_POINT])
    consumption = by_time(answers["Consumption"])
    truth = synced.sim.truth(SEED_METERING_POINT, day.start, day.end)
    assert len(consumption) == 100
    assert consumption == pytest.approx({i: wh / 1000 for i, wh in truth.items()})
    assert sum(consumption.values()) == pytest.approx(24.510, abs=0.0005)
    production = by_time(answers["Production"])
    produced = synced.sim.truth(SEED_METERING_POINT, day.start, day.end, PRODUCTION)
    assert production == pytest.approx({i: wh / 1000 for i, wh in produced.items()})
    assert sum(production.values()) > 1


def test_quarter_hour_panel_sums_per_hour_over_a_month(synced):
    title = "Consumption and production per quarter hour (kWh)"
    month = TimeRange.days(FIRST_DAY, DAYS)
    assert interval(panel(title), month) == "1h"
    consumption = by_time(synced.query(title, month, ALL)["Consumption"])
    assert len(consumption) == DAYS * 24 + 1
    for hour in list(consumption)[::97]:
        expected = synced.truth("Consumption", hour, hour + timedelta(hours=1), ALL)
        assert consumption[hour] == pytest.approx(expected, abs=1e-9), hour
    total = synced.truth("Consumption", month.start, month.end, ALL)
    assert sum(consumption.values()) == pytest.approx(total, abs=0.001)


def test_hour_panel_on_the_fall_dst_day_has_25_hours(synced):
    day = TimeRange.days(FALL_DAY, 1)
    answers = synced.query("Per hour (kWh)", day, ALL)
    for kind, series in answers.items():
        hours = by_time(series)
        assert len(hours) == 25
        for hour, kwh in hours.items():
            expected = synced.truth(kind, hour, hour + timedelta(hours=1), ALL)
            assert kwh == pytest.approx(expected, abs=1e-9), (kind, hour)


def test_day_panel_gives_local_days_with_the_bills_fall_day(synced):
    month = TimeRange.days(FIRST_DAY, DAYS)
    for points in ([SEED_METERING_POINT], ALL):
        answers = synced.query("Per day, Finnish time (kWh)", month, points)
        for kind, series in answers.items():
            days = by_time(series)
            assert [d.astimezone(HELSINKI).date() for d in days] == [
                FIRST_DAY + timedelta(n) for n in range(DAYS)
            ]
            for start, kwh in days.items():
                stop = local_midnight_utc(start.astimezone(HELSINKI).date() + timedelta(1))
                assert kwh == pytest.approx(synced.truth(kind, start, stop, points), abs=1e-6)
    seed = synced.query("Per day, Finnish time (kWh)", month, [SEED_METERING_POINT])
    fall_day = by_time(seed["Consumption"])[local_midnight_utc(FALL_DAY)]
    assert fall_day == pytest.approx(24.510, abs=0.0005)


def test_month_panel_groups_the_days_by_local_month(synced):
    title = "Per month, Finnish time (kWh)"
    month = TimeRange.days(FIRST_DAY, DAYS)
    transformations = panel(title)["transformations"]
    edges = {
        "2025-09": (FIRST_DAY, date(2025, 10, 1)),
        "2025-10": (date(2025, 10, 1), date(2025, 11, 1)),
        "2025-11": (date(2025, 11, 1), FIRST_DAY + timedelta(DAYS)),
    }
    for kind, series in synced.query(title, month, ALL).items():
        months = transform(to_rows(series, kind), transformations)
        got = {row["Time"]: row[f"{kind} (sum)"] for row in months}
        expected = {
            name: synced.truth(kind, local_midnight_utc(a), local_midnight_utc(b), ALL)
            for name, (a, b) in edges.items()
        }
        assert got == pytest.approx(expected, abs=1e-6), kind


def test_daily_totals_and_incomplete_days_panels(synced):
    month = TimeRange.days(FIRST_DAY, DAYS)
    totals = synced.query("Daily totals", month, ALL)["A"]
    incomplete = synced.query("Incomplete days", month, ALL)["A"]
    rows: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for series in totals:
        key = (series["tags"]["metering_point"], series["tags"]["kind"])
        for values in series["values"]:
            row = dict(zip(series["columns"], values, strict=True))
            rows[key][row["date"]] = row
    assert set(rows) == {(p, "consumption") for p in ALL} | {(SEED_METERING_POINT, "production")}
    fall = rows[(SEED_METERING_POINT, "consumption")][FALL_DAY.isoformat()]
    assert fall["kwh"] == pytest.approx(24.510, abs=0.0005)
    assert (fall["periods"], fall["expected_periods"], fall["complete"]) == (100, 100, True)
    for (point, kind), days in rows.items():
        for name, row in days.items():
            first = date.fromisoformat(name)
            expected = synced.sim.truth_kwh(
                point,
                local_midnight_utc(first),
                local_midnight_utc(first + timedelta(1)),
                KINDS[kind.capitalize()],
            )
            assert row["kwh"] == pytest.approx(expected, abs=0.0005), (point, kind, name)
    # The only incomplete day is the hole's, in every series: 2 of its 96 quarter hours missing.
    listed = {}
    for series in incomplete:
        [values] = series["values"]
        row = dict(zip(series["columns"], values, strict=True))
        listed[series["tags"]["metering_point"], series["tags"]["kind"]] = (
            row["date"],
            row["periods"],
            row["missing_periods"],
            row["expected_periods"],
            row["complete"],
        )
    assert listed == dict.fromkeys(rows, (HOLE_DAY.isoformat(), 94, 2, 96, False))


def test_cost_per_hour_stacks_energy_transfer_tax_and_vat_over_the_fall_dst_day(synced):
    shown = panel(HOUR_COST)
    assert shown["fieldConfig"]["defaults"]["unit"] == "currencyEUR"
    assert shown["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"] == "normal"
    day = TimeRange.days(FALL_DAY, 1)
    for points in ([SEED_METERING_POINT], ALL):
        answers = synced.query(HOUR_COST, day, points)
        assert list(answers) == list(COST_LINES)
        truth = synced.cost_lines(points, per_hour)
        for alias, series in answers.items():
            hours = by_time(series)
            assert len(hours) == 25
            expected = {h: v[alias] for h, v in truth.items() if day.start <= h <= day.end}
            assert hours == pytest.approx(expected, abs=1e-9), alias


def test_cost_per_day_gives_the_local_days_of_three_months(synced):
    assert panel(DAY_COST)["options"]["stacking"] == "normal"
    month = TimeRange.days(FIRST_DAY, DAYS)
    answers = synced.query(DAY_COST, month, ALL)
    assert list(answers) == list(COST_LINES)
    truth = synced.cost_lines(ALL, per_day)
    assert [d.astimezone(HELSINKI).date() for d in truth] == [
        FIRST_DAY + timedelta(n) for n in range(DAYS)
    ]
    for alias, series in answers.items():
        expected = {d: v[alias] for d, v in truth.items()}
        assert by_time(series) == pytest.approx(expected, abs=1e-9), alias


def bill_rows(series: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(metering point, kind, month) → the table row."""
    rows = {}
    for one in series:
        for values in one["values"]:
            row = dict(zip(one["columns"], values, strict=True))
            rows[one["tags"]["metering_point"], one["tags"]["kind"], row["month"]] = row
    return rows


def test_monthly_bills_table_gives_each_months_bill(synced):
    months = {name: date.fromisoformat(f"{name}-01") for name in ("2025-09", "2025-10", "2025-11")}
    rows = bill_rows(synced.query(BILLS, TimeRange.days(FIRST_DAY, DAYS), ALL)["A"])
    assert set(rows) == {(p, "consumption", name) for p in ALL for name in months}
    terms, prices = Terms.from_readme(), synced.prices()
    for (point, _, name), row in rows.items():
        expected = expected_bill(synced.quarters(point), prices, months[name], terms)
        assert row == pytest.approx(as_read(expected), abs=1e-9), (point, name)
    # The meter's hole of 2025-10-14 leaves October incomplete: two of its 2980 periods missing.
    october = rows[SEED_METERING_POINT, "consumption", "2025-10"]
    counts = ("expected_periods", "periods", "priced_periods", "complete")
    assert [october[c] for c in counts] == [2980, 2978, 2978, False]
    # A week inside October shows October's bill, which began before the week.
    week = synced.query(BILLS, TimeRange.days(date(2025, 10, 20), 7), ALL)["A"]
    assert set(bill_rows(week)) == {(p, "consumption", "2025-10") for p in ALL}


# Least privilege on InfluxDB 1.x (README, "Least privilege"): the target needs only WRITE on its
# database, and every query of the dashboard runs as a user with only READ.
PASSWORD = "dash-b0ard-pa55"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    """An InfluxDB 1.x with authentication, the README's users, and a week loaded by the
    target as the write-only user."""
    server = InfluxDB1(influxdb1_binary(), tmp_path_factory.mktemp("secured"), auth=True)
    server.start()
    try:
        server.create_user("admin", PASSWORD, admin=True)
        server.create_database("electricity")
        server.create_user("wattivahti", PASSWORD, grants={"electricity": "WRITE"})
        server.create_user("grafana", PASSWORD, grants={"electricity": "READ"})
        start = local_midnight_utc(FALL_DAY - timedelta(days=3))
        stop = local_midnight_utc(FALL_DAY + timedelta(days=4))
        points = [MeteringPoint(SEED_METERING_POINT, production=True)]
        with Simulator(points, available_until=stop) as sim:
            writer = {"database": "electricity", "username": "wattivahti", "password": PASSWORD}
            sync(sim, start, stop, {"url": server.url, **writer}, tmp_path_factory.mktemp("s"))
        yield server
    finally:
        server.stop()


def query_as(server: InfluxDB1, user: str, query: str) -> requests.Response:
    return requests.post(
        f"{server.url}/query",
        data={"q": query, "db": "electricity", "epoch": "s"},
        auth=(user, PASSWORD),
        timeout=30,
    )


def test_every_dashboard_query_runs_as_a_read_only_user(secured):
    week = TimeRange.days(FALL_DAY - timedelta(days=3), 7)
    [variable] = dashboard()["templating"]["list"]
    queries = [("variable", variable["query"])] + [
        (shown["title"], interpolate(t["query"], shown, week, {"metering_point": ALL}))
        for shown in dashboard()["panels"]
        for t in shown["targets"]
    ]
    answered = {}
    for title, query in queries:
        response = query_as(secured, "grafana", query)
        assert response.status_code == 200, (title, response.text)
        [result] = response.json()["results"]
        assert "error" not in result, (title, result)
        answered[title] = sum(len(s["values"]) for s in result.get("series", []))
    assert answered["variable"] == 1  # the metering point the target wrote
    assert answered["Per day, Finnish time (kWh)"] >= 7
    assert answered["Daily totals"] >= 6


def test_the_read_only_user_cannot_write_and_the_write_only_user_cannot_read(secured):
    write = requests.post(
        f"{secured.url}/write",
        params={"db": "electricity"},
        data=b"electricity_consumption consumption_kwh=1 1761436800",
        auth=("grafana", PASSWORD),
        timeout=30,
    )
    assert write.status_code == 403
    read = query_as(secured, "wattivahti", 'SELECT * FROM "electricity_consumption" LIMIT 1')
    assert read.status_code == 403
    assert "not authorized" in read.json()["error"]


def test_the_write_only_user_deletes_the_points_of_withdrawn_values(secured):
    """InfluxQL's DELETE needs WRITE only: the target's user removes a value WattiVahti withdrew."""
    when = local_midnight_utc(FALL_DAY) + timedelta(hours=5)
    record = {
        "metering_point": SEED_METERING_POINT,
        "timestamp": when.isoformat(),
        "_sdc_deleted_at": "2025-10-28T06:00:00+00:00",
    }
    properties = {"metering_point": {}, "timestamp": {"format": "date-time"}}  # no _sdc_ column
    schema = {"type": "SCHEMA", "stream": "consumption", "schema": {"properties": properties}}
    schema["key_properties"] = ["metering_point", "timestamp"]
    singer = "".join(
        json.dumps(message) + "\n"
        for message in (schema, {"type": "RECORD", "stream": "consumption", "record": record})
    )
    config = {
        "url": secured.url,
        "database": "electricity",
        "username": "wattivahti",
        "password": PASSWORD,
        "measurements": project_plugin("target-influxdb")["config"]["measurements"],
    }
    at = f'SELECT * FROM "electricity_consumption" WHERE time = {int(when.timestamp())}s'
    assert len(secured.query(at, "electricity")) == 1
    with redirect_stdout(io.StringIO()):
        TargetInfluxDB(config=config, parse_env_config=False).listen(io.StringIO(singer))
    assert secured.query(at, "electricity") == []


@pytest.mark.parametrize(
    ("now", "hours", "quarters"),
    [
        # The fall DST day is tomorrow: 96 quarter hours today, 100 tomorrow.
        (datetime(2025, 10, 25, 12, tzinfo=HELSINKI), 0, 96 + 100),
        # The day before the 15-minute go-live: hourly today, and tomorrow's first Finnish hour.
        (datetime(2025, 9, 30, 9, tzinfo=HELSINKI), 24 + 1, 92),
    ],
)
def test_price_panel_shows_today_and_tomorrow_in_cents_without_vat(synced, now, hours, quarters):
    shown = panel(PRICE_PANEL)
    assert shown["fieldConfig"]["defaults"]["unit"] == "suffix: c/kWh"
    assert "WITHOUT VAT" in shown["description"]
    days = panel_time_range(shown, now, HELSINKI)
    today = now.astimezone(HELSINKI).date()
    assert days == TimeRange.days(today, 2)  # whatever the dashboard's own range is
    [target] = shown["targets"]
    [series] = synced.influx.query(interpolate(target["query"], shown, days, {}), synced.database)
    assert series["tags"] == {"area": "FI"}
    cents = by_time([series])
    truth = synced.elering.truth("FI", days.start, days.end)
    assert cents == pytest.approx({i: float(p.eur_mwh) / 10 for i, p in truth.items()})
    resolutions = [p.resolution for p in truth.values()]
    assert (resolutions.count("PT1H"), resolutions.count("PT15MIN")) == (hours, quarters)
