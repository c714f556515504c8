"""The price simulators stand in for Elering and ENTSO-E: these tests pin the facts of
docs/prices.md that the simulators serve, over plain HTTP (no tap code)."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ElementTree
from datetime import date, datetime, time, timedelta, timezone

import requests

from tests.price_simulators import (
    CET,
    EIC_CODES,
    GO_LIVE,
    PUBLICATION_NS,
    EleringSimulator,
    EntsoeSimulator,
    market_midnight,
)

UTC = timezone.utc
NS = {"d": PUBLICATION_NS}


def elering_get(sim: EleringSimulator, start: str, end: str) -> requests.Response:
    return requests.get(sim.url + "/api/nps/price", params={"start": start, "end": end}, timeout=10)


def entsoe_get(sim: EntsoeSimulator, start: str, end: str, **extra: str) -> requests.Response:
    code = EIC_CODES["FI"]
    params = {
        "securityToken": sim.token,
        "documentType": "A44",
        "in_Domain": code,
        "out_Domain": code,
        "periodStart": start,
        "periodEnd": end,
        **extra,
    }
    return requests.get(sim.url, params=params, timeout=10)


def test_elering_lists_all_four_areas_in_unix_seconds_with_both_ends_inclusive(elering):
    answer = elering_get(elering, "2025-11-02T22:00:00.000Z", "2025-11-02T23:00:00.000Z")
    body = answer.json()
    assert body["success"] is True
    assert sorted(body["data"]) == ["ee", "fi", "lt", "lv"]
    stamps = [row["timestamp"] for row in body["data"]["fi"]]
    start = int(datetime(2025, 11, 2, 22, tzinfo=UTC).timestamp())
    # The quarter hour that ends at `start` and the one that starts at `end` come along.
    assert stamps == [start - 900 + 900 * i for i in range(6)]


def test_elering_serves_hours_before_the_go_live_and_a_duplicate_twice(elering):
    elering.duplicates = {GO_LIVE - timedelta(hours=2)}
    answer = elering_get(elering, "2025-09-30T18:00:00.000Z", "2025-09-30T22:30:00.000Z")
    stamps = [row["timestamp"] for row in answer.json()["data"]["fi"]]
    hours = [int((GO_LIVE - timedelta(hours=h)).timestamp()) for h in range(5, 0, -1)]
    doubled = [*hours[:3], hours[3], *hours[3:]]
    assert stamps == doubled + [int(GO_LIVE.timestamp()) + 900 * i for i in range(3)]


def test_next_day_appears_at_14_cet_the_day_before(elering):
    day = date(2025, 11, 12)
    elering.now = datetime.combine(day - timedelta(days=1), time(13, 59), tzinfo=CET)
    # The periods touching these instants: the day's first quarter hour to its last.
    start = market_midnight(day) + timedelta(minutes=15)
    end = market_midnight(day + timedelta(days=1)) - timedelta(minutes=15)
    texts = f"{start:%Y-%m-%dT%H:%M:%S.000Z}", f"{end:%Y-%m-%dT%H:%M:%S.000Z}"
    assert elering_get(elering, *texts).json()["data"]["fi"] == []
    elering.now += timedelta(minutes=1)
    assert len(elering_get(elering, *texts).json()["data"]["fi"]) == 96


def test_entsoe_a03_leaves_out_points_equal_to_the_one_before(entsoe):
    answer = entsoe_get(entsoe, "202511022300", "202511032300")
    assert answer.status_code == 200
    root = ElementTree.fromstring(answer.content)  # noqa: S314 - the simulator's answer
    [series] = root.findall("d:TimeSeries", NS)
    assert series.findtext("d:curveType", namespaces=NS) == "A03"
    [period] = series.findall("d:Period", NS)
    assert period.findtext("d:resolution", namespaces=NS) == "PT15M"
    points = period.findall("d:Point", NS)
    assert 48 < len(points) < 96
    prices = [p.findtext("d:price.amount", namespaces=NS) for p in points]
    assert all(a != b for a, b in itertools.pairwise(prices))
    entsoe.curve_type = "A01"
    answer = entsoe_get(entsoe, "202511022300", "202511032300")
    assert answer.text.count("<Point>") == 96


def test_entsoe_answers_whole_market_days_with_both_resolutions_around_the_go_live(entsoe):
    answer = entsoe_get(entsoe, "202509302100", "202509302300")
    root = ElementTree.fromstring(answer.content)  # noqa: S314 - the simulator's answer
    periods = root.findall("d:TimeSeries/d:Period", NS)
    starts = [p.findtext("d:timeInterval/d:start", namespaces=NS) for p in periods]
    resolutions = [p.findtext("d:resolution", namespaces=NS) for p in periods]
    intervals = list(zip(starts, resolutions, strict=True))
    assert intervals == [("2025-09-29T22:00Z", "PT60M"), ("2025-09-30T22:00Z", "PT15M")]


def test_entsoe_refuses_more_than_a_year_a_bad_token_and_has_no_data_before_publication(entsoe):
    too_long = entsoe_get(entsoe, "202401010000", "202501010100")
    assert too_long.status_code == 400
    assert "<code>999</code>" in too_long.text
    assert "larger than maximum allowed period 'P1Y'" in too_long.text
    assert entsoe_get(entsoe, "202401010000", "202501010000").status_code == 200
    bad = entsoe_get(entsoe, "202511022300", "202511032300", securityToken="nope")
    assert bad.status_code == 401
    entsoe.now = datetime(2025, 11, 1, tzinfo=UTC)
    early = entsoe_get(entsoe, "202511022300", "202511032300")
    assert early.status_code == 200
    assert early.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Acknowledgement_')
    assert "<code>999</code><text>No matching data found for Data item" in early.text
    assert all("securityToken" not in entry.params for entry in entsoe.requests())
