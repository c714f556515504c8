"""The price sources and the price book against the simulated Elering and ENTSO-E (over real
HTTP): what each source's quirks turn into, and how few requests a run costs."""

from __future__ import annotations

import itertools
import logging
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from tap_wattivahti.errors import TapWattiVahtiError
from tap_wattivahti.prices.base import Price, PriceSource
from tap_wattivahti.prices.book import PriceBook
from tap_wattivahti.prices.elering import EleringSource
from tap_wattivahti.prices.entsoe import EntsoeSource
from tap_wattivahti.prices.sources import open_book
from tap_wattivahti.settings import Settings
from tap_wattivahti.timeutil import local_midnight
from tap_wattivahti.transport import Http

from tests.price_simulators import (
    CET,
    EIC_CODES,
    GO_LIVE,
    HOUR,
    QUARTER,
    EntsoeSimulator,
    PriceSimulator,
    TruePrice,
)
from tests.simulator import HELSINKI, Fault

UTC = timezone.utc
LOGGER = logging.getLogger("test-prices")
FAST = {"retry_wait_seconds": 0.05, "max_retries": 3, "request_timeout_seconds": 10}


def http() -> Http:
    return Http(timeout_seconds=10, max_retries=3, retry_wait_seconds=0.05, logger=LOGGER)


def source_of(sim: PriceSimulator) -> PriceSource:
    if isinstance(sim, EntsoeSimulator):
        return EntsoeSource(sim.url, sim.token, http())
    return EleringSource(sim.url, http())


def found(prices: list[Price]) -> dict[datetime, TruePrice]:
    """Prices as the simulators' truth holds them."""
    return {p.start: TruePrice(p.resolution, p.eur_mwh) for p in prices}


def day_span(day: date) -> tuple[datetime, datetime]:
    """A local (Finnish) day as UTC instants."""
    return local_midnight(day, HELSINKI), local_midnight(day + timedelta(days=1), HELSINKI)


@pytest.fixture(params=["elering", "entsoe"])
def market(request: pytest.FixtureRequest) -> PriceSimulator:
    """Each simulated source in turn."""
    return request.getfixturevalue(request.param)


# ----------------------------------------------------------------------------- the market's facts
def test_go_live_hourly_then_quarter_hours_with_the_first_finnish_hour_hourly(market):
    start, stop = day_span(date(2025, 9, 30))[0], day_span(date(2025, 10, 1))[1]
    prices = source_of(market).fetch("FI", start, stop)
    assert found(prices) == market.truth("FI", start, stop)
    hourly = [p for p in prices if p.resolution == "PT1H"]
    quarters = [p for p in prices if p.resolution == "PT15MIN"]
    assert len(hourly) == 24 + 1
    assert len(quarters) == 23 * 4
    # Finnish 2025-10-01 00:00-01:00 is 21:00-22:00Z: still the last hourly period.
    first_finnish_hour = local_midnight(date(2025, 10, 1), HELSINKI)
    assert hourly[-1].start == first_finnish_hour == GO_LIVE - HOUR
    assert quarters[0].start == GO_LIVE
    assert [p.stop for p in prices[:-1]] == [p.start for p in prices[1:]]  # no gap, no overlap


@pytest.mark.parametrize(
    ("day", "resolution", "periods"),
    [
        (date(2025, 3, 30), "PT1H", 23),
        (date(2024, 10, 27), "PT1H", 25),
        (date(2026, 3, 29), "PT15MIN", 92),
        (date(2025, 10, 26), "PT15MIN", 100),
    ],
)
def test_both_dst_days_have_every_period_at_its_own_instant(market, day, resolution, periods):
    start, stop = day_span(day)
    prices = source_of(market).fetch("FI", start, stop)
    assert len(prices) == periods
    assert {p.resolution for p in prices} == {resolution}
    assert found(prices) == market.truth("FI", start, stop)
    assert prices[0].start == start
    assert prices[-1].stop == stop


def test_negative_and_zero_prices_are_kept_as_they_are(market):
    start, stop = day_span(date(2025, 11, 1))[0], day_span(date(2025, 11, 30))[1]
    prices = source_of(market).fetch("EE", start, stop)
    assert found(prices) == market.truth("EE", start, stop)
    assert all(isinstance(p.eur_mwh, Decimal) for p in prices)
    assert any(p.eur_mwh < 0 for p in prices)
    assert any(p.eur_mwh == 0 for p in prices)


def test_a_hole_in_the_prices_is_left_out_never_zero(market):
    start, stop = day_span(date(2025, 10, 16))
    hole = {start + timedelta(hours=13) + QUARTER * i for i in range(8)}
    market.missing |= hole
    prices = source_of(market).fetch("FI", start, stop)
    assert len(prices) == 96 - 8
    assert not hole & {p.start for p in prices}
    assert found(prices) == market.truth("FI", start, stop)


def test_tomorrow_appears_at_its_publication_instant(market):
    today = date(2025, 11, 12)
    start, stop = day_span(today)[0], day_span(today + timedelta(days=1))[1]
    market.now = datetime.combine(today, time(13, 59), tzinfo=CET)
    before = source_of(market).fetch("FI", start, stop)
    market.now = datetime.combine(today, time(14, 0), tzinfo=CET)
    after = source_of(market).fetch("FI", start, stop)
    # Before 14:00 CET: today, and the Finnish first hour of tomorrow (the end of today's CET day).
    assert before[-1].stop == datetime.combine(today + timedelta(days=1), time(0), tzinfo=CET)
    assert len(before) == 96 + 4
    assert len(after) == 2 * 96
    assert found(after) == market.truth("FI", start, stop)


def test_429_waits_as_long_as_retry_after_says(market):
    market.inject(Fault("429", retry_after=1), "503")
    start, stop = day_span(date(2025, 6, 10))
    prices = source_of(market).fetch("FI", start, stop)
    first, second, third = market.requests()
    assert [r.status for r in (first, second, third)] == [429, 503, 200]
    assert second.at - first.at >= 1.0  # the simulator's clock: a busy machine only adds to it
    assert found(prices) == market.truth("FI", start, stop)


def test_dropped_connections_and_answers_past_the_deadline_are_retried(market, caplog):
    market.inject("drop", Fault("delay", seconds=1.5))
    quick = Http(timeout_seconds=1, max_retries=3, retry_wait_seconds=0.05, logger=LOGGER)
    source = (
        EntsoeSource(market.url, market.token, quick)
        if isinstance(market, EntsoeSimulator)
        else EleringSource(market.url, quick)
    )
    start, stop = day_span(date(2025, 6, 10))
    with caplog.at_level(logging.WARNING):
        assert found(source.fetch("FI", start, stop)) == market.truth("FI", start, stop)
    name = "ENTSO-E" if isinstance(market, EntsoeSimulator) else "Elering"
    assert [r.getMessage() for r in caplog.records] == [
        f"{name} price request (FI) failed (connection failed); retry 1 of 3 in "
        f"{caplog.records[0].args[-1]:.1f} s.",
        f"{name} price request (FI) failed (timed out); retry 2 of 3 in "
        f"{caplog.records[1].args[-1]:.1f} s.",
    ]
    # The delayed answer reaches the server's log only once it is sent, after the client gave up.
    statuses = [r.status for r in market.requests()]
    assert statuses[0] == -1
    assert 200 in statuses[1:]


def test_retries_are_bounded_and_end_with_one_paragraph_naming_source_and_url(market):
    market.inject("503", "502", "500", "503")
    with pytest.raises(TapWattiVahtiError) as failure:
        source_of(market).fetch("FI", *day_span(date(2025, 6, 10)))
    message = str(failure.value)
    name = "ENTSO-E" if isinstance(market, EntsoeSimulator) else "Elering"
    assert message.startswith(f"{name} did not answer GET {market.url}")
    assert "after 4 attempts (HTTP 503 Service Unavailable)" in message
    assert "run the tap again later" in message
    assert len(market.requests()) == 4


# ----------------------------------------------------------------------------- Elering
def test_elering_ends_are_inclusive_and_duplicates_dropped(elering):
    start, stop = day_span(date(2025, 11, 3))
    elering.duplicates = {start + HOUR, stop - QUARTER}
    prices = EleringSource(elering.url, http()).fetch("FI", start, stop)
    [asked] = elering.requests()
    assert asked.params == {"start": "2025-11-02T22:00:00.000Z", "end": "2025-11-03T22:00:00.000Z"}
    assert len(prices) == 96
    assert found(prices) == elering.truth("FI", start, stop)


def test_elering_spacing_tells_an_hourly_day_after_the_go_live(elering):
    day = date(2025, 11, 5)
    elering.hourly_days = {day}
    start, stop = day_span(day)
    prices = EleringSource(elering.url, http()).fetch("FI", start, stop)
    cet_midnight = datetime.combine(day, time(0), tzinfo=CET).astimezone(UTC)
    # The Finnish day's first hour belongs to the CET day before: quarter hours.
    assert {p.resolution for p in prices if p.start < cet_midnight} == {"PT15MIN"}
    assert {p.resolution for p in prices if p.start >= cet_midnight} == {"PT1H"}
    assert found(prices) == elering.truth("FI", start, stop)


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ("html", "with an answer that is not JSON (an error page?) (HTTP 200"),
        ("refused", "with success: false (HTTP 200"),
        (Fault("200", body='{"success": true, "data": {"fi": "none"}}'), "data.fi that is not a"),
        (Fault("200", body='{"success": true, "data": {"fi": [{"timestamp": 1759300200, '
               '"price": 1}, {"timestamp": 1759300200, "price": 2}]}}'), "two prices for the"),
    ],
)  # fmt: skip
def test_an_elering_answer_of_the_wrong_shape_is_one_clear_paragraph(elering, fault, problem):
    elering.inject(fault)
    with pytest.raises(TapWattiVahtiError) as failure:
        EleringSource(elering.url, http()).fetch("FI", *day_span(date(2025, 10, 1)))
    message = str(failure.value)
    assert message.startswith(f"Elering answered GET {elering.url}/api/nps/price?start=2025-09-")
    assert problem in message
    assert "Check the elering_url setting (the default is https://dashboard.elering.ee)" in message
    assert len(elering.requests()) == 1  # a wrong answer is not retried


# ----------------------------------------------------------------------------- ENTSO-E
def test_entsoe_a03_omitted_points_are_filled_to_the_period_end(entsoe):
    start, stop = day_span(date(2025, 11, 3))
    source = EntsoeSource(entsoe.url, entsoe.token, http())
    prices = source.fetch("FI", start, stop)
    assert found(prices) == entsoe.truth("FI", start, stop)
    # The simulator left out every point equal to the one before it: many, as real answers do.
    repeated = sum(a.eur_mwh == b.eur_mwh for a, b in itertools.pairwise(prices))
    assert repeated > 10
    entsoe.curve_type = "A01"
    assert source.fetch("FI", start, stop) == prices


def test_entsoe_one_document_may_hold_both_resolutions(entsoe):
    start, stop = day_span(date(2025, 9, 29))[0], day_span(date(2025, 10, 3))[1]
    entsoe.hourly_too = {date(2025, 10, 2)}  # an hourly series beside that day's quarter hours
    prices = EntsoeSource(entsoe.url, entsoe.token, http()).fetch("FI", start, stop)
    assert len(entsoe.requests()) == 1
    assert found(prices) == entsoe.truth("FI", start, stop)  # the quarter hours win
    assert {p.resolution for p in prices if p.start < GO_LIVE} == {"PT1H"}
    assert {p.resolution for p in prices if p.start >= GO_LIVE} == {"PT15MIN"}


def test_entsoe_no_matching_data_is_no_prices_not_an_error(entsoe):
    entsoe.now = datetime(2025, 11, 1, 12, tzinfo=UTC)
    start, stop = day_span(date(2025, 11, 5))
    assert EntsoeSource(entsoe.url, entsoe.token, http()).fetch("FI", start, stop) == []
    assert [r.status for r in entsoe.requests()] == [200]


def test_entsoe_bad_token_is_one_error_naming_entsoe_token_without_the_token(entsoe):
    secret = "wrong-0000-1111-2222-333344445555"
    with pytest.raises(TapWattiVahtiError) as failure:
        EntsoeSource(entsoe.url, secret, http()).fetch("FI", *day_span(date(2025, 11, 5)))
    message = str(failure.value)
    assert message.startswith(f"ENTSO-E refused the security token for GET {entsoe.url}?")
    assert "(HTTP 401 Unauthorized)" in message
    assert "Set the entsoe_token setting" in message
    assert secret not in message
    assert "securityToken" not in message
    assert [r.status for r in entsoe.requests()] == [401]  # not retried


def test_entsoe_token_stays_out_of_debug_logs_and_messages(entsoe, caplog):
    caplog.set_level(logging.DEBUG)
    entsoe.inject("503")
    source = EntsoeSource(entsoe.url, entsoe.token, http())
    source.fetch("FI", *day_span(date(2025, 11, 5)))
    entsoe.inject("truncated")
    with pytest.raises(TapWattiVahtiError) as failure:
        source.fetch("FI", *day_span(date(2025, 11, 6)))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET /api?securityToken=***&documentType=A44" in logged  # urllib3's DEBUG line
    assert "ENTSO-E price request (FI) failed (HTTP 503 Service Unavailable)" in logged
    assert entsoe.token not in logged
    assert entsoe.token not in str(failure.value)
    assert "with XML that does not parse" in str(failure.value)


def test_entsoe_takes_named_zones_and_any_eic_code(entsoe):
    start, stop = day_span(date(2025, 11, 5))
    source = EntsoeSource(entsoe.url, entsoe.token, http())
    assert source.fetch("LT", start, stop) == source.fetch(EIC_CODES["LT"], start, stop)
    assert [r.params["in_Domain"] for r in entsoe.requests()] == [EIC_CODES["LT"]] * 2
    with pytest.raises(TapWattiVahtiError, match="'SE3' is not a bidding zone price_source entsoe"):
        source.fetch("SE3", start, stop)


def test_entsoe_more_than_a_year_is_refused_by_the_source_itself(entsoe):
    # What the one-year split protects from: the simulator refuses as the platform does.
    source = EntsoeSource(entsoe.url, entsoe.token, http())
    with pytest.raises(ValueError, match="at most 365 days"):
        source.fetch("FI", datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC))
    assert entsoe.requests() == []


# ----------------------------------------------------------------------------- the book
def book_for(sim: PriceSimulator, **settings: Any) -> PriceBook:
    config = {"metering_points": ["1234567"], **FAST, **settings}
    if isinstance(sim, EntsoeSimulator):
        config |= {"price_source": "entsoe", "entsoe_url": sim.url, "entsoe_token": sim.token}
    else:
        config |= {"elering_url": sim.url}
    return open_book(Settings.from_config(config), LOGGER)


def test_an_hourly_run_costs_one_request_per_area(market):
    today = date(2025, 11, 20)
    settlement = day_span(today - timedelta(days=8))[0], day_span(today)[1]
    tomorrow = day_span(today)[0], day_span(today + timedelta(days=1))[1]
    book = book_for(market)
    book.want("FI", *settlement)  # e.g. the costs of the meter data's settlement window
    book.want("EE", *tomorrow)
    for_stream = book.prices("FI", *tomorrow)  # the price stream asks first
    for_costs = book.prices("FI", *settlement)
    assert book.requests == len(market.requests()) == 1
    assert for_stream == _as_prices(market.truth("FI", *tomorrow))
    assert for_costs == _as_prices(market.truth("FI", *settlement))
    assert book.prices("FI", *settlement) == for_costs
    assert book.requests == 1  # served from what was fetched
    book.prices("EE", *tomorrow)
    assert book.requests == 2


def test_the_book_fetches_only_what_it_has_not_fetched(elering):
    book = book_for(elering)
    first = day_span(date(2025, 11, 10))
    book.prices("FI", *first)
    wider = first[0] - timedelta(days=2), first[1] + timedelta(days=1)
    prices = book.prices("FI", *wider)
    assert prices == _as_prices(elering.truth("FI", *wider))
    asked = [(r.params["start"], r.params["end"]) for r in elering.requests()]
    # What is missing on both sides fits one request, which spans the day fetched before too.
    assert asked == [
        ("2025-11-09T22:00:00.000Z", "2025-11-10T22:00:00.000Z"),
        ("2025-11-07T22:00:00.000Z", "2025-11-11T22:00:00.000Z"),
    ]
    assert book.requests == 2


def test_a_backfill_asks_in_windows_of_the_sources_longest_span(market):
    start, stop = day_span(date(2023, 11, 1))[0], day_span(date(2025, 11, 30))[1]
    book = book_for(market)
    prices = book.prices("FI", start, stop)
    spans = _asked_spans(market)
    assert spans[0][0] == start
    assert spans[-1][1] == stop
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    longest = timedelta(days=365) if isinstance(market, EntsoeSimulator) else timedelta(31, 3600)
    assert all(stop - start <= longest for start, stop in spans)
    assert book.requests == len(spans) == -(-(stop - start) // longest)
    assert prices == _as_prices(market.truth("FI", start, stop))


def test_the_year_limit_crossed_costs_entsoe_two_requests_without_a_refusal(entsoe):
    start, stop = day_span(date(2024, 11, 20))[0], day_span(date(2025, 11, 25))[1]
    book = book_for(entsoe)
    book.prices("FI", start, stop)
    assert [r.status for r in entsoe.requests()] == [200, 200]
    assert book.requests == 2


def test_price_source_none_never_asks(elering):
    settings = Settings.from_config({"metering_points": ["1"], "price_source": "none"})
    book = open_book(settings, LOGGER)
    book.want("FI", *day_span(date(2025, 11, 10)))
    assert book.prices("FI", *day_span(date(2025, 11, 10))) == {}
    assert book.requests == 0
    assert elering.requests() == []


def _as_prices(truth: dict[datetime, TruePrice]) -> dict[datetime, Price]:
    return {at: Price(at, p.resolution, p.eur_mwh) for at, p in truth.items()}


def _asked_spans(sim: PriceSimulator) -> list[tuple[datetime, datetime]]:
    spans = []
    for entry in sim.requests():
        if isinstance(sim, EntsoeSimulator):
            begin, end = entry.params["periodStart"], entry.params["periodEnd"]
            spans.append((_entsoe_time(begin), _entsoe_time(end)))
        else:
            spans.append((_iso(entry.params["start"]), _iso(entry.params["end"])))
    return spans


def _entsoe_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H%M").replace(tzinfo=UTC)


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_999_that_is_not_no_data_is_an_error_with_the_platforms_reason(entsoe):
    class Greedy(EntsoeSource):
        max_span = timedelta(days=800)

    start, stop = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
    with pytest.raises(TapWattiVahtiError) as failure:
        Greedy(entsoe.url, entsoe.token, http()).fetch("FI", start, stop)
    message = str(failure.value)
    assert message.startswith(f"ENTSO-E refused GET {entsoe.url}?documentType=A44&")
    assert (
        ": HTTP 400 Bad Request: reason 999: Provided time interval (2024-01-01T00:00Z" in message
    )
    assert "Check the price_area and entsoe_url settings." in message


# ----------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("settings", "paragraph"),
    [
        (
            {"price_source": "nordpool"},
            "The price_source setting 'nordpool' is not a price source: set it to elering, "
            "entsoe or none (none asks for no price at all).",
        ),
        (
            {"price_area": "10YFI-1--------U"},
            "The price_area setting '10YFI-1--------U' is not a bidding zone price_source "
            "elering has prices for: set price_area to FI, EE, LV or LT, or choose another "
            "price_source.",
        ),
        (
            {"price_source": "entsoe", "price_area": "SE3", "entsoe_token": "x"},
            "The price_area setting 'SE3' is not a bidding zone price_source entsoe has prices "
            "for: set price_area to FI, EE, LV, LT or a bidding zone's 16-character EIC code, or "
            "choose another price_source.",
        ),
        (
            {"price_source": "entsoe"},
            "The price_source setting is entsoe, but entsoe_token is not set. Set the "
            "entsoe_token setting",
        ),
        (
            {"elering_url": "dashboard.elering.ee"},
            "The elering_url setting 'dashboard.elering.ee' is not an http(s) URL",
        ),
    ],
)
def test_bad_price_settings_are_one_paragraph_before_any_output(
    tap_config, run_cli, settings, paragraph
):
    run = run_cli(tap_config(**settings))
    assert run.error_paragraph().startswith(f"tap-wattivahti: error: {paragraph}")
    assert run.messages == []


def test_price_settings_are_read_with_their_defaults():
    settings = Settings.from_config({"metering_points": ["1"], "price_area": " ee "}).prices
    assert settings.source == "elering"
    assert settings.area == "EE"
    assert settings.elering_url == "https://dashboard.elering.ee"
    assert settings.entsoe_url == "https://web-api.tp.entsoe.eu/api"
    entsoe = Settings.from_config(
        {"metering_points": ["1"], "price_source": "entsoe", "entsoe_token": "t"}
    ).prices
    assert (entsoe.source, entsoe.area, entsoe.entsoe_token) == ("entsoe", "FI", "t")
