"""GET /sessions: pages, filters, ordering and the booleans it accepts (API-NOTES.md)."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.conftest import T0
from tests.emulator.api import Coviu, iso, rfc1123

pytestmark = pytest.mark.anyio

DAY = T0 + timedelta(days=1)
HOUR = timedelta(hours=1)


async def page(coviu: Coviu, path: str = "/sessions", **params: Any) -> dict[str, Any]:
    response = await coviu.call("GET", path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"content", "page", "page_size", "more"}
    assert type(body["page"]) is int
    assert type(body["page_size"]) is int
    assert type(body["more"]) is bool
    assert isinstance(body["content"], list)
    return body


async def ids(coviu: Coviu, **params: Any) -> list[str]:
    return [s["session_id"] for s in (await page(coviu, **params))["content"]]


def refused(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert isinstance(message, str)
    return message


async def create_many(coviu: Coviu, count: int, first: int = 0) -> list[str]:
    return [
        (await coviu.create_session(DAY + timedelta(minutes=n)))["session_id"]
        for n in range(first, first + count)
    ]


async def test_an_empty_list_is_one_page_with_no_more(coviu: Coviu) -> None:
    body = await page(coviu)
    assert body == {"content": [], "page": 0, "page_size": 200, "more": False}


async def test_one_session_is_listed_in_full_on_page_zero(coviu: Coviu) -> None:
    session = await coviu.create_session(DAY)
    body = await page(coviu)
    assert body["content"] == [session]
    assert (body["page"], body["page_size"], body["more"]) == (0, 200, False)


async def test_pages_of_200_split_at_the_201st_session(coviu: Coviu) -> None:
    created = await create_many(coviu, 200)
    full = await page(coviu)
    assert [s["session_id"] for s in full["content"]] == created
    assert full["more"] is False
    created += await create_many(coviu, 1, first=200)
    first, second = await page(coviu, page=0), await page(coviu, page=1)
    assert (len(first["content"]), first["more"]) == (200, True)
    assert (second["content"][0]["session_id"], second["page"], second["more"]) == (
        created[200],
        1,
        False,
    )
    assert [s["session_id"] for s in first["content"] + second["content"]] == created
    capped = await page(coviu, page_size=500)
    assert (capped["page_size"], len(capped["content"]), capped["more"]) == (200, 200, True)
    assert (await page(coviu, page=2))["content"] == []


async def test_small_pages_are_zero_based_and_say_whether_more_follow(coviu: Coviu) -> None:
    created = await create_many(coviu, 5)
    pages = [await page(coviu, page=n, page_size=2) for n in range(3)]
    assert [[s["session_id"] for s in p["content"]] for p in pages] == [
        created[0:2],
        created[2:4],
        created[4:5],
    ]
    assert [p["more"] for p in pages] == [True, True, False]
    assert [p["page"] for p in pages] == [0, 1, 2]
    assert {p["page_size"] for p in pages} == {2}


@pytest.mark.parametrize(
    "params", [{"page_size": "0"}, {"page": "-1"}, {"page_size": "ten"}, {"order": "sideways"}]
)
async def test_bad_paging_parameters_are_refused(coviu: Coviu, params: dict[str, str]) -> None:
    refused(await coviu.call("GET", "/sessions", params=params))


async def three_out_of_order(coviu: Coviu) -> tuple[str, str, str]:
    """Sessions created late, early, middle; answered as (early, middle, late)."""
    late = await coviu.create_session(DAY + 4 * HOUR)
    early = await coviu.create_session(DAY, minutes=60)
    middle = await coviu.create_session(DAY + 2 * HOUR, minutes=60)
    return early["session_id"], middle["session_id"], late["session_id"]


async def test_without_filters_sessions_are_listed_by_creation(coviu: Coviu) -> None:
    early, middle, late = await three_out_of_order(coviu)
    assert await ids(coviu) == [late, early, middle]
    assert await ids(coviu, order="forward") == [late, early, middle]
    assert await ids(coviu, order="reverse") == [middle, early, late]


async def test_start_time_filter_is_inclusive_and_orders_by_start(coviu: Coviu) -> None:
    early, middle, late = await three_out_of_order(coviu)
    assert await ids(coviu, start_time=iso(DAY + 2 * HOUR)) == [middle, late]
    assert await ids(coviu, start_time=iso(DAY + 2 * HOUR + timedelta(seconds=1))) == [late]
    assert await ids(coviu, start_time=iso(DAY)) == [early, middle, late]
    assert await ids(coviu, start_time=iso(DAY), order="reverse") == [late, middle, early]


async def test_end_time_filter_is_inclusive_and_orders_by_start(coviu: Coviu) -> None:
    early, middle, late = await three_out_of_order(coviu)
    assert await ids(coviu, end_time=iso(DAY + 3 * HOUR)) == [early, middle]
    assert await ids(coviu, end_time=iso(DAY + 3 * HOUR - timedelta(seconds=1))) == [early]
    both = {"start_time": iso(DAY + HOUR), "end_time": iso(DAY + 3 * HOUR)}
    assert await ids(coviu, **both) == [middle]
    assert await ids(coviu, end_time=iso(DAY + 9 * HOUR), order="reverse") == [
        late,
        middle,
        early,
    ]


BOUNDARY = DAY + 2 * HOUR
TIME_SPELLINGS = {
    "rfc1123": rfc1123(BOUNDARY),
    "iso-z": iso(BOUNDARY),
    "iso-offset": BOUNDARY.astimezone(timezone(timedelta(hours=11))).isoformat(),
    "iso-millis": BOUNDARY.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    "iso-offset-millis": BOUNDARY.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(
        timespec="milliseconds"
    ),
}


@pytest.mark.parametrize("spelling", TIME_SPELLINGS.values(), ids=TIME_SPELLINGS.keys())
async def test_query_times_are_read_in_either_format(coviu: Coviu, spelling: str) -> None:
    early, middle, late = await three_out_of_order(coviu)
    assert await ids(coviu, start_time=spelling) == [middle, late]
    assert await ids(coviu, end_time=spelling) == [early]


@pytest.mark.parametrize("name", ["start_time", "end_time"])
async def test_unreadable_query_times_are_refused_naming_the_parameter(
    coviu: Coviu, name: str
) -> None:
    for bad in ("next tuesday", "2026-12-01T10:00:00"):
        assert name in refused(await coviu.call("GET", "/sessions", params={name: bad}))


async def test_cancelled_sessions_are_hidden_unless_included(coviu: Coviu) -> None:
    kept = (await coviu.create_session(DAY))["session_id"]
    dropped = (await coviu.create_session(DAY + HOUR))["session_id"]
    assert (await coviu.call("DELETE", f"/sessions/{dropped}")).status_code == 200
    assert await ids(coviu) == [kept]
    for yes in ("true", "1"):
        assert await ids(coviu, include_canceled=yes) == [kept, dropped]
    for no in ("false", "0"):
        assert await ids(coviu, include_canceled=no) == [kept]


async def test_removed_participants_are_listed_only_when_asked(coviu: Coviu) -> None:
    session = await coviu.create_session(DAY, participants=[{"display_name": "A"}, {}])
    gone = session["participants"][0]["participant_id"]
    assert (await coviu.call("DELETE", f"/participants/{gone}")).status_code == 200

    async def shown(**params: Any) -> list[str]:
        content = (await page(coviu, **params))["content"]
        return [p["participant_id"] for p in content[0]["participants"]]

    kept = session["participants"][1]["participant_id"]
    assert await shown() == [kept]
    for yes in ("true", "1"):
        assert await shown(deleted_participants=yes) == [gone, kept]
    for no in ("false", "0"):
        assert await shown(deleted_participants=no) == [kept]


@pytest.mark.parametrize("name", ["include_canceled", "deleted_participants"])
@pytest.mark.parametrize("value", ["yes", "2", "maybe"])
async def test_other_boolean_spellings_are_refused(coviu: Coviu, name: str, value: str) -> None:
    assert name in refused(await coviu.call("GET", "/sessions", params={name: value}))


async def test_state_filter_keeps_sessions_with_a_participant_in_that_state(
    coviu: Coviu,
) -> None:
    waiting = await coviu.create_session(DAY, participants=[{"state": "waiting"}, {}])
    await coviu.create_session(DAY + HOUR, participants=[{"state": "invited"}])
    await coviu.create_session(DAY + 2 * HOUR)
    both = await coviu.create_session(
        DAY + 3 * HOUR, participants=[{"state": "invited"}, {"state": "waiting"}]
    )
    assert await ids(coviu, state="waiting") == [waiting["session_id"], both["session_id"]]
    assert await ids(coviu, state="gone") == []


async def test_the_older_session_spelling_lists_the_same_page(coviu: Coviu) -> None:
    await create_many(coviu, 3)
    assert await page(coviu, "/session") == await page(coviu, "/sessions")
    older = await page(coviu, "/session", page=1, page_size=2)
    assert older == await page(coviu, "/sessions", page=1, page_size=2)
    assert len(older["content"]) == 1
