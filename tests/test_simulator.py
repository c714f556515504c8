"""The simulator stands in for the real API: these tests pin the facts of docs/wattivahti-api.md."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.simulator import (
    API_SCOPE,
    CLIENT_ID,
    HELSINKI,
    LOGIN_SCOPE,
    REDIRECT_URI,
    SEED_METERING_POINT,
    Fault,
    MeteringPoint,
    Simulator,
    local_midnight_utc,
    parse_api_time,
)

UTC = timezone.utc
QUARTER_HOUR = timedelta(minutes=15)


def refresh(sim: Simulator, token: str, scope: str = API_SCOPE) -> requests.Response:
    return requests.post(
        sim.token_url,
        data={
            "client_id": CLIENT_ID,
            "scope": scope,
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_info": "1",
        },
        timeout=10,
    )


def access_token(sim: Simulator) -> str:
    answer = refresh(sim, sim.issue_refresh_token())
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def meterdata(
    sim: Simulator,
    start: str,
    stop: str,
    step: str = "PT15MIN",
    code: str = SEED_METERING_POINT,
    measurement_type: int = 1,
    token: str | None = None,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or access_token(sim)}"}
    params = {
        "meteringPointCode": code,
        "measurementType": measurement_type,
        "start": start,
        "stop": stop,
        "resultStep": step,
    }
    return requests.get(f"{sim.api_url}/meterdata2", params=params, headers=headers, timeout=10)


def tsv(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    data = response.json(parse_float=Decimal)
    return data["getconsumptionsresult"]["consumptiondata"]["timeseries"]["values"]["tsv"]


def test_fall_day_has_100_quarters_with_the_repeated_hour_as_pairs(simulator):
    values = tsv(meterdata(simulator, "2025-10-26T00:00:00", "2025-10-27T00:00:00"))
    assert len(values) == 100
    repeated = [v for v in values if v["time"][11:13] == "03"]
    assert [v["time"][11:16] for v in repeated] == [
        "03:00", "03:00", "03:15", "03:15", "03:30", "03:30", "03:45", "03:45",
    ]  # fmt: skip
    # The bill in docs/wattivahti-api.md: first occurrences 0.102, 0.098, 0.101, 0.108 kWh, second
    # occurrences 0.116, 0.096, 0.106, 0.093 kWh; the day sums to 24.510 kWh.
    quantities = [v["quantity"] for v in repeated]
    assert quantities[0::2] == [
        Decimal("0.102"),
        Decimal("0.098"),
        Decimal("0.101"),
        Decimal("0.108"),
    ]
    assert quantities[1::2] == [
        Decimal("0.116"),
        Decimal("0.096"),
        Decimal("0.106"),
        Decimal("0.093"),
    ]
    assert sum(v["quantity"] for v in values) == Decimal("24.510")
    # Outside the repeated hour the naive times run in order with no repeats.
    others = [v["time"] for v in values if v["time"][11:13] != "03"]
    assert others == sorted(set(others))


def test_fall_day_pairs_are_first_then_second_occurrence_in_the_ground_truth(simulator):
    first = datetime(2025, 10, 26, 0, 0, tzinfo=UTC)  # 03:00 at UTC+3
    second = datetime(2025, 10, 26, 1, 0, tzinfo=UTC)  # 03:00 at UTC+2
    assert first.astimezone(HELSINKI).strftime("%H:%M%z") == "03:00+0300"
    assert second.astimezone(HELSINKI).strftime("%H:%M%z") == "03:00+0200"
    truth = simulator.truth(SEED_METERING_POINT, first, second + timedelta(hours=1))
    assert [truth[first + timedelta(minutes=15 * i)] for i in range(4)] == [102, 98, 101, 108]
    assert [truth[second + timedelta(minutes=15 * i)] for i in range(4)] == [116, 96, 106, 93]


def test_spring_day_has_92_quarters_and_no_03_hour(simulator):
    values = tsv(meterdata(simulator, "2025-03-30T00:00:00", "2025-03-31T00:00:00"))
    assert len(values) == 92
    assert not [v for v in values if v["time"][11:13] == "03"]
    assert values[11]["time"] == "2025-03-30T02:45:00"
    assert values[12]["time"] == "2025-03-30T04:00:00"


def test_spring_day_with_shifted_labels_is_labelled_as_the_2023_answer_a_client_keeps():
    """The fixture's labels: 00, 01, 02, 03, 04, 05, 07, …: the three hours after the jump
    (01:00-04:00 UTC) carry the winter offset's labels; values and sums are unchanged."""
    with Simulator(spring_labels="shifted") as sim:
        hours = tsv(meterdata(sim, "2023-03-26T00:00:00", "2023-03-27T00:00:00", "PT1H"))
        quarters = tsv(meterdata(sim, "2025-03-30T00:00:00", "2025-03-31T00:00:00"))
        fall = tsv(meterdata(sim, "2025-10-26T00:00:00", "2025-10-27T00:00:00"))
    with Simulator() as sim:
        clock = tsv(meterdata(sim, "2023-03-26T00:00:00", "2023-03-27T00:00:00", "PT1H"))
        clock_fall = tsv(meterdata(sim, "2025-10-26T00:00:00", "2025-10-27T00:00:00"))
    assert [int(v["time"][11:13]) for v in hours] == [0, 1, 2, 3, 4, 5, *range(7, 24)]
    assert [v["quantity"] for v in hours] == [v["quantity"] for v in clock]
    assert len(quarters) == 92
    assert [v["time"][11:16] for v in quarters[12:28]] == [
        f"{h:02d}:{m:02d}" for h in (3, 4, 5, 7) for m in (0, 15, 30, 45)
    ]
    assert fall == clock_fall  # only the spring day moves


def test_ordinary_day_has_96_quarters_and_24_hours(simulator):
    assert len(tsv(meterdata(simulator, "2025-06-10T00:00:00", "2025-06-11T00:00:00"))) == 96
    hourly = tsv(meterdata(simulator, "2025-06-10T00:00:00", "2025-06-11T00:00:00", "PT1H"))
    assert len(hourly) == 24


def test_hourly_values_are_sums_of_quarters_also_on_the_fall_day(simulator):
    quarters = tsv(meterdata(simulator, "2025-10-26T00:00:00", "2025-10-27T00:00:00"))
    hours = tsv(meterdata(simulator, "2025-10-26T00:00:00", "2025-10-27T00:00:00", "PT1H"))
    assert len(hours) == 25
    assert [h["time"][11:16] for h in hours[3:5]] == ["03:00", "03:00"]
    assert hours[3]["quantity"] == Decimal("0.409")  # 102 + 98 + 101 + 108 Wh
    assert hours[4]["quantity"] == Decimal("0.411")  # 116 + 96 + 106 + 93 Wh
    assert sum(h["quantity"] for h in hours) == sum(q["quantity"] for q in quarters)


def test_offset_and_naive_window_bounds_mean_the_same_instants(simulator):
    naive = tsv(meterdata(simulator, "2025-10-26T00:00:00", "2025-10-26T06:00:00"))
    aware = tsv(meterdata(simulator, "2025-10-25T21:00:00Z", "2025-10-26T04:00:00+00:00"))
    assert naive == aware
    assert len(aware) == 7 * 4  # 00:00-06:00 local on the fall day is seven hours
    # Stop is exclusive, start inclusive.
    one = tsv(meterdata(simulator, "2025-06-10T12:00:00+03:00", "2025-06-10T12:15:00+03:00"))
    assert [v["time"] for v in one] == ["2025-06-10T12:00:00"]


def test_parse_api_time_handles_the_gap_and_the_repeated_hour():
    assert parse_api_time("2025-10-26T03:00:00") == datetime(2025, 10, 26, 0, 0, tzinfo=UTC)
    assert parse_api_time("2025-03-30T03:30:00") == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    assert parse_api_time("2025-03-30T01:00:00Z") == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)


def test_15_minute_values_exist_only_from_the_switch_date():
    point = MeteringPoint("7654321", switch_date=date(2024, 5, 15))
    with Simulator([point]) as sim:
        token = access_token(sim)
        before = tsv(
            meterdata(
                sim, "2024-05-01T00:00:00", "2024-05-15T00:00:00", code="7654321", token=token
            )
        )
        assert before == []
        straddling = tsv(
            meterdata(
                sim, "2024-05-14T00:00:00", "2024-05-16T00:00:00", code="7654321", token=token
            )
        )
        assert len(straddling) == 96
        assert straddling[0]["time"] == "2024-05-15T00:00:00"
        hourly = tsv(
            meterdata(
                sim, "2024-05-14T00:00:00", "2024-05-16T00:00:00", "PT1H", "7654321", token=token
            )
        )
        assert len(hourly) == 48
        expected = sim.expected_points(
            "7654321",
            local_midnight_utc(date(2024, 5, 14)),
            local_midnight_utc(date(2024, 5, 16)),
        )
        assert [res for res, _ in expected.values()].count("PT1H") == 24
        assert [res for res, _ in expected.values()].count("PT15MIN") == 96


def test_tail_of_available_data_has_null_quantities_left_out_of_the_sum(simulator):
    simulator.available_until = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)  # 12:00 local
    answer = meterdata(simulator, "2025-06-10T00:00:00", "2025-06-11T00:00:00")
    values = tsv(answer)
    assert len(values) == 96
    nulls = [v for v in values if v["quantity"] is None]
    assert len(nulls) == 48
    assert nulls[0]["time"] == "2025-06-10T12:00:00"
    total = answer.json(parse_float=Decimal)["getconsumptionsresult"]["consumptiondata"]["sum"]
    assert total["quantity"] == sum(v["quantity"] for v in values if v["quantity"] is not None)
    truth = simulator.truth_kwh(
        SEED_METERING_POINT,
        datetime(2025, 6, 9, 21, tzinfo=UTC),
        datetime(2025, 6, 10, 21, tzinfo=UTC),
    )
    assert Decimal(str(truth)) == total["quantity"]
    hourly = tsv(meterdata(simulator, "2025-06-10T00:00:00", "2025-06-11T00:00:00", "PT1H"))
    assert sum(1 for v in hourly if v["quantity"] is None) == 12


def test_zero_quantities_are_json_integers():
    point = MeteringPoint("5555555", production=True)
    with Simulator([point]) as sim:
        answer = meterdata(sim, "2025-06-10T00:00:00", "2025-06-10T03:00:00", code="5555555",
                           measurement_type=6)  # fmt: skip
        assert answer.status_code == 200
        assert '"quantity": 0,' in answer.text
        assert '"quantity": 0.0' not in answer.text
        values = tsv(answer)
        assert {type(v["quantity"]) for v in values} == {int}


def test_answer_has_sum_block_and_spot_data(simulator):
    answer = meterdata(simulator, "2025-06-10T00:00:00", "2025-06-10T06:00:00")
    body = answer.json(parse_float=Decimal)["getconsumptionsresult"]
    data = body["consumptiondata"]
    assert data["meteringpointcode"] == SEED_METERING_POINT
    assert data["sum"]["unit"] == "kWh"
    assert data["sum"]["quantity"] == sum(v["quantity"] for v in tsv(answer))
    assert data["timeseries"]["resolution"] == "PT15MIN"
    spot = body["spotdata"]["timeseries"]["values"]["tsv"]
    assert len(spot) == 6
    assert {v["unit"] for v in spot} == {"EUR/MWh"}


def test_meterdata_rejects_missing_and_expired_access_tokens(simulator):
    url = f"{simulator.api_url}/meterdata2"
    params = {
        "meteringPointCode": SEED_METERING_POINT,
        "measurementType": 1,
        "start": "2025-06-10T00:00:00",
        "stop": "2025-06-10T01:00:00",
        "resultStep": "PT15MIN",
    }
    assert requests.get(url, params=params, timeout=10).status_code == 401
    token = access_token(simulator)
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(url, params=params, headers=headers, timeout=10).status_code == 200
    simulator.expire_access_tokens()
    assert requests.get(url, params=params, headers=headers, timeout=10).status_code == 401


def test_access_tokens_expire_after_expires_in():
    with Simulator(access_token_lifetime=0) as sim:
        answer = refresh(sim, sim.issue_refresh_token())
        assert answer.json()["expires_in"] == 0
        token = answer.json()["access_token"]
        assert (
            meterdata(sim, "2025-06-10T00:00", "2025-06-10T01:00", token=token).status_code == 401
        )


def test_unknown_metering_point_and_bad_parameters_are_4xx(simulator):
    token = access_token(simulator)
    unknown = meterdata(simulator, "2025-06-10T00:00", "2025-06-11T00:00", code="999", token=token)
    assert unknown.status_code == 404
    assert "999" in unknown.text
    bad_step = meterdata(simulator, "2025-06-10T00:00", "2025-06-11T00:00", "P1D", token=token)
    assert bad_step.status_code == 400
    bad_type = meterdata(
        simulator, "2025-06-10T00:00", "2025-06-11T00:00", measurement_type=2, token=token
    )
    assert bad_type.status_code == 400


def test_refresh_tokens_rotate_and_a_used_one_stops_working(simulator):
    first = simulator.issue_refresh_token()
    answer = refresh(simulator, first)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer"
    second = body["refresh_token"]
    assert second != first
    assert simulator.refresh_token_status(first) == "used"
    again = refresh(simulator, first)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert refresh(simulator, second).status_code == 200
    assert len(simulator.requests("token")) == 3


def test_expired_refresh_token_gets_aadb2c90080(simulator):
    token = simulator.issue_refresh_token()
    simulator.expire_refresh_token(token)
    answer = refresh(simulator, token)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
    assert answer.json()["error_description"].startswith("AADB2C90080")


def test_without_strict_rotation_the_same_token_keeps_working():
    with Simulator(strict_rotation=False) as sim:
        token = sim.issue_refresh_token()
        for _ in range(3):
            answer = refresh(sim, token)
            assert answer.status_code == 200
            assert "refresh_token" not in answer.json()


def _pkce() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(b"v" * 40).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def _login(sim: Simulator, password: str, verifier: str, challenge: str) -> requests.Response:
    """Steps 1-4 of the login flow; returns the code grant's answer (or the failed step's)."""
    session = requests.Session()
    authorize = sim.token_url.replace("/token", "/authorize")
    page = session.get(
        authorize,
        params={
            "client_id": CLIENT_ID,
            "scope": LOGIN_SCOPE,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "nonce": "n",
            "state": "s",
        },
        timeout=10,
    )
    assert page.status_code == 200
    settings_match = re.search(r"var SETTINGS = (\{.*?\});", page.text)
    fields_match = re.search(r"var SA_FIELDS = (\{.*?\});", page.text)
    assert settings_match
    assert fields_match
    settings = json.loads(settings_match.group(1))
    fields = json.loads(fields_match.group(1))["AttributeFields"]
    user_field = next(f["ID"] for f in fields if not f["IS_PASSWORD"])
    password_field = next(f["ID"] for f in fields if f["IS_PASSWORD"])
    tenant = settings["hosts"]["tenant"]
    query = {"tx": settings["transId"], "p": settings["hosts"]["policy"]}
    asserted = session.post(
        f"{sim.base_url}{tenant}/SelfAsserted",
        params=query,
        headers={"X-CSRF-TOKEN": settings["csrf"]},
        data={"request_type": "RESPONSE", user_field: sim.username, password_field: password},
        timeout=10,
    )
    if asserted.json()["status"] != "200":
        return asserted
    confirmed = session.get(
        f"{sim.base_url}{tenant}/api/{settings['api']}/confirmed",
        params={"csrf_token": settings["csrf"], **query},
        allow_redirects=False,
        timeout=10,
    )
    assert confirmed.status_code == 302
    fragment = parse_qs(urlsplit(confirmed.headers["Location"]).fragment)
    assert fragment["state"] == ["s"]
    return session.post(
        sim.token_url,
        data={
            "grant_type": "authorization_code",
            "code": fragment["code"][0],
            "code_verifier": verifier,
            "redirect_uri": REDIRECT_URI,
            "scope": LOGIN_SCOPE,
            "client_id": CLIENT_ID,
        },
        timeout=10,
    )


def test_login_flow_with_pkce_gives_a_refresh_token_for_the_api(simulator):
    verifier, challenge = _pkce()
    answer = _login(simulator, simulator.password, verifier, challenge)
    assert answer.status_code == 200, answer.text
    first = answer.json()["refresh_token"]
    # The code grant's access token lacks the API scope; step 5 gets one that has it.
    login_access = answer.json()["access_token"]
    denied = meterdata(simulator, "2025-06-10T00:00", "2025-06-10T01:00", token=login_access)
    assert denied.status_code == 403
    kept = refresh(simulator, first)
    assert kept.status_code == 200
    token = kept.json()["access_token"]
    assert meterdata(simulator, "2025-06-10T00:00", "2025-06-10T01:00", token=token).ok


def test_login_with_a_wrong_verifier_is_refused(simulator):
    _, challenge = _pkce()
    answer = _login(simulator, simulator.password, "not-the-verifier", challenge)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_login_with_a_wrong_password_fails_at_self_asserted(simulator):
    verifier, challenge = _pkce()
    answer = _login(simulator, "wrong", verifier, challenge)
    assert answer.status_code == 200
    assert answer.json()["status"] == "400"
    assert simulator.requests("confirmed") == []


def test_injected_faults_are_served_in_order_then_normal_answers(simulator):
    token = access_token(simulator)
    simulator.inject(Fault("429", retry_after=7), Fault("429"), "500", "502", "503", "malformed")
    statuses = []
    for _ in range(6):
        answer = meterdata(simulator, "2025-06-10T00:00", "2025-06-10T01:00", token=token)
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            statuses.append(answer.headers.get("Retry-After"))
        if answer.status_code == 200:
            with pytest.raises(requests.JSONDecodeError):
                answer.json()
    assert statuses == [429, "7", 429, None, 500, 502, 503, 200]
    assert len(tsv(meterdata(simulator, "2025-06-10T00:00", "2025-06-10T01:00", token=token))) == 4


def test_dropped_connection_and_delay_faults(simulator):
    token = access_token(simulator)
    simulator.inject(Fault("drop"), Fault("delay", seconds=1.0))
    with pytest.raises(requests.ConnectionError):
        meterdata(simulator, "2025-06-10T00:00", "2025-06-10T01:00", token=token)
    with pytest.raises(requests.Timeout):
        requests.get(
            f"{simulator.api_url}/meterdata2",
            params={
                "meteringPointCode": SEED_METERING_POINT,
                "measurementType": 1,
                "start": "2025-06-10T00:00",
                "stop": "2025-06-10T01:00",
                "resultStep": "PT15MIN",
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=0.3,
        )


def test_token_endpoint_faults_are_separate_from_meterdata_faults(simulator):
    simulator.inject(Fault("503", target="token"))
    assert refresh(simulator, simulator.issue_refresh_token()).status_code == 503
    assert refresh(simulator, simulator.issue_refresh_token()).status_code == 200


def test_request_log_records_each_meterdata_call(simulator):
    token = access_token(simulator)
    for day in (10, 11, 12):
        meterdata(simulator, f"2025-06-{day}T00:00", f"2025-06-{day + 1}T00:00", token=token)
    calls = simulator.requests("meterdata")
    assert [c.params["start"] for c in calls] == [
        "2025-06-10T00:00",
        "2025-06-11T00:00",
        "2025-06-12T00:00",
    ]
    assert {c.status for c in calls} == {200}
    assert "Authorization" not in str(calls)


def test_ground_truth_matches_what_the_api_serves(simulator):
    start = local_midnight_utc(date(2025, 10, 1))
    stop = local_midnight_utc(date(2025, 11, 1))
    served = tsv(meterdata(simulator, "2025-10-01T00:00:00", "2025-11-01T00:00:00"))
    assert len(served) == 31 * 96 + 4
    truth = simulator.truth(SEED_METERING_POINT, start, stop)
    assert len(truth) == len(served)
    assert sum(v["quantity"] for v in served) == Decimal(sum(truth.values())) / 1000
    assert simulator.truth_kwh(SEED_METERING_POINT, start, stop) == float(
        sum(v["quantity"] for v in served)
    )


def test_missing_quarters_are_null_holes_left_out_of_sum_and_truth(simulator):
    hole = datetime(2025, 6, 10, 3, 15, tzinfo=UTC)  # 06:15 local
    simulator.missing = {hole}
    answer = meterdata(simulator, "2025-06-10T06:00:00", "2025-06-10T08:00:00")
    values = tsv(answer)
    assert [v["time"] for v in values if v["quantity"] is None] == ["2025-06-10T06:15:00"]
    total = answer.json(parse_float=Decimal)["getconsumptionsresult"]["consumptiondata"]["sum"]
    assert total["quantity"] == sum(v["quantity"] for v in values if v["quantity"] is not None)
    truth = simulator.truth(
        SEED_METERING_POINT, hole - timedelta(hours=1), hole + timedelta(hours=1)
    )
    assert hole not in truth
    assert len(truth) == 7
    hourly = tsv(meterdata(simulator, "2025-06-10T06:00:00", "2025-06-10T08:00:00", "PT1H"))
    assert [v["quantity"] is None for v in hourly] == [True, False]


def test_absent_quarters_are_left_out_and_the_sum_agrees_with_what_is_listed(simulator):
    gone = datetime(2025, 6, 10, 3, 15, tzinfo=UTC)  # 06:15 local
    simulator.absent = {gone}
    answer = meterdata(simulator, "2025-06-10T06:00:00", "2025-06-10T08:00:00")
    values = tsv(answer)
    assert [v["time"] for v in values] == [
        f"2025-06-10T{h:02d}:{m:02d}:00" for h in (6, 7) for m in (0, 15, 30, 45)
        if (h, m) != (6, 15)
    ]  # fmt: skip
    assert all(v["quantity"] is not None for v in values)
    total = answer.json(parse_float=Decimal)["getconsumptionsresult"]["consumptiondata"]["sum"]
    assert total["quantity"] == sum(v["quantity"] for v in values)
    assert gone not in simulator.truth(SEED_METERING_POINT, gone, gone + timedelta(hours=1))
    hourly = tsv(meterdata(simulator, "2025-06-10T06:00:00", "2025-06-10T08:00:00", "PT1H"))
    assert [v["time"] for v in hourly] == ["2025-06-10T07:00:00"]  # the hour with the gap too


def test_corrections_are_served_summed_into_hours_and_part_of_the_truth(simulator):
    instant = datetime(2025, 6, 10, 3, 15, tzinfo=UTC)  # 06:15 local
    before = tsv(meterdata(simulator, "2025-06-10T06:00:00", "2025-06-10T07:00:00", "PT1H"))
    simulator.corrections = {instant: 777}
    quarters = tsv(meterdata(simulator, "2025-06-10T06:00:00", "2025-06-10T07:00:00"))
    assert quarters[1] == {"time": "2025-06-10T06:15:00", "quantity": Decimal("0.777"),
                           "unit": "kWh"}  # fmt: skip
    hourly = tsv(meterdata(simulator, "2025-06-10T06:00:00", "2025-06-10T07:00:00", "PT1H"))
    assert hourly[0]["quantity"] == sum(v["quantity"] for v in quarters)
    assert hourly[0]["quantity"] != before[0]["quantity"]
    assert simulator.truth(SEED_METERING_POINT, instant, instant + QUARTER_HOUR) == {instant: 777}


def test_edit_values_changes_the_series_but_not_the_sum(simulator):
    simulator.edit_values = lambda values: [*values, values[0]]
    answer = meterdata(simulator, "2025-06-10T06:00:00", "2025-06-10T07:00:00")
    values = tsv(answer)
    assert [v["time"] for v in values][-2:] == ["2025-06-10T06:45:00", "2025-06-10T06:00:00"]
    total = answer.json(parse_float=Decimal)["getconsumptionsresult"]["consumptiondata"]["sum"]
    assert total["quantity"] == sum(v["quantity"] for v in values[:4])


def test_fault_with_a_body_answers_that_body(simulator):
    token = access_token(simulator)
    simulator.inject(Fault("200", body='{"message": "maintenance"}'))
    answer = meterdata(simulator, "2025-06-10T06:00", "2025-06-10T07:00", token=token)
    assert answer.status_code == 200
    assert answer.text == '{"message": "maintenance"}'


def test_switch_off_midnight_starts_15_minute_values_at_that_instant():
    switch = datetime(2024, 5, 15, 7, 15, tzinfo=UTC)  # 10:15 local
    with Simulator([MeteringPoint("7654321", switch_at=switch)]) as sim:
        token = access_token(sim)
        quarters = tsv(meterdata(sim, "2024-05-15T09:00:00", "2024-05-15T12:00:00",
                                 code="7654321", token=token))  # fmt: skip
        assert quarters[0]["time"] == "2024-05-15T10:15:00"
        expected = sim.expected_points(
            "7654321", switch - timedelta(hours=3), switch + timedelta(minutes=30)
        )
    assert sorted(expected) == [
        datetime(2024, 5, 15, 5, tzinfo=UTC),  # 08:00-09:00 local, hourly
        datetime(2024, 5, 15, 6, tzinfo=UTC),  # 09:00-10:00 local, hourly; 10:00 would overlap
        switch,
        switch + timedelta(minutes=15),
    ]
