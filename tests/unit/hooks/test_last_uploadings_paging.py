"""The CDP last_uploadings cursor: tied ``datetime`` values across page boundaries, termination, precision."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_metrika.hooks.metrika import MetrikaHook, _just_after
from tests.unit.hooks.conftest import response

UTC = dt.UTC


@dataclass(frozen=True)
class Stored:
    """An uploading as the fake API keeps it: a true moment, and the ``datetime`` text it shows."""

    uploading_id: str
    moment: dt.datetime
    shown: str


def whole_seconds(uploading_id: str, second: int, hidden_ms: int = 0) -> Stored:
    """Real-Metrika style: shown to the second, while the time kept behind it may be finer."""
    moment = dt.datetime(2022, 12, 29, 18, 2, tzinfo=UTC) + dt.timedelta(seconds=second, milliseconds=hidden_ms)
    return Stored(uploading_id, moment, moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def milliseconds(uploading_id: str, ms: int) -> Stored:
    """Emulator style: ``2020-02-10T10:00:00.123Z``."""
    moment = dt.datetime(2020, 2, 10, 10, tzinfo=UTC) + dt.timedelta(milliseconds=ms)
    return Stored(uploading_id, moment, moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z")


class FakeLastUploadings:
    """``last_uploadings``: newest first, only uploadings strictly earlier than ``datetime_offset``."""

    def __init__(self, stored: list[Stored], shuffle_ties: random.Random | None = None) -> None:
        self.stored = stored
        self.shuffle_ties = shuffle_ties
        self.cursors: list[str | None] = []

    def __call__(self, method, url, params, **kwargs):
        cursor = params.get("datetime_offset")
        self.cursors.append(cursor)
        found = list(self.stored)
        if cursor is not None:
            before = dt.datetime.fromisoformat(cursor)
            before = before if before.tzinfo else before.replace(tzinfo=UTC)
            found = [item for item in found if item.moment < before]
        if self.shuffle_ties is not None:
            self.shuffle_ties.shuffle(found)
        found.sort(key=lambda item: item.moment, reverse=True)  # stable: equal moments keep a random order
        page = found[: int(params["limit"])]
        return response(200, {"uploadings": [{"uploading_id": i.uploading_id, "datetime": i.shown} for i in page]})


@pytest.fixture
def hook(metrika_conn):
    hook = MetrikaHook(sleep=lambda seconds: None)
    yield hook
    hook.close()


def cdp(uploading_id: str, when: str) -> dict:
    return {"uploading_id": uploading_id, "datetime": when}


def flat(pages: list[list[str]]) -> list[str]:
    return [uploading_id for page in pages for uploading_id in page]


def listed(hook, mocker, api, limit, **kwargs) -> list[list[str]]:
    mocker.patch.object(hook.session, "request", side_effect=api)
    return [[item["uploading_id"] for item in page] for page in hook.iter_last_uploadings(42, limit=limit, **kwargs)]


def test_same_second_uploadings_across_a_page_boundary_are_each_listed_once(hook, mocker):
    api = FakeLastUploadings(
        [
            whole_seconds("a", 3),
            whole_seconds("f", 2),
            whole_seconds("b", 1, hidden_ms=900),
            whole_seconds("c", 1, hidden_ms=500),
            whole_seconds("d", 1, hidden_ms=100),
            whole_seconds("e", 0),
        ]
    )
    pages = listed(hook, mocker, api, limit=3)
    assert pages == [["a", "f", "b"], ["c", "d"], ["e"]]
    # The boundary second 18:02:01 is asked again (strictly before 18:02:02), written like Metrika writes it.
    assert api.cursors == [None, "2022-12-29T18:02:02Z", "2022-12-29T18:02:01Z"]


def test_a_page_all_in_one_second_with_more_behind_it_moves_on_strictly_earlier(hook, mocker):
    api = FakeLastUploadings(
        [
            whole_seconds("x", 1, hidden_ms=900),
            whole_seconds("y", 1, hidden_ms=500),
            whole_seconds("z", 1, hidden_ms=100),
            whole_seconds("w", 0),
        ]
    )
    pages = listed(hook, mocker, api, limit=2)
    # Three uploadings share 18:02:01 but a page holds two: the third cannot be listed (API limit).
    assert pages == [["x", "y"], ["w"]]
    assert api.cursors == [None, "2022-12-29T18:02:02Z", "2022-12-29T18:02:01Z"]


def test_a_full_second_exactly_the_size_of_a_page_is_read_whole(hook, mocker):
    api = FakeLastUploadings(
        [whole_seconds("n", 5), whole_seconds("x", 1, 700), whole_seconds("y", 1, 300), whole_seconds("w", 0)]
    )
    assert flat(listed(hook, mocker, api, limit=2)) == ["n", "x", "y", "w"]


def test_a_page_of_only_known_uploadings_moves_strictly_earlier_then_the_emptiness_ends_paging(hook, answer):
    page = [cdp("1", "2024-05-01 00:00:00"), cdp("2", "2024-05-01 00:00:00")]
    send = answer(
        response(200, {"uploadings": page}), response(200, {"uploadings": page}), response(200, {"uploadings": []})
    )
    pages = list(hook.iter_last_uploadings(42, limit=2))
    assert [[item["uploading_id"] for item in p] for p in pages] == [["1", "2"]]
    assert [c.kwargs["params"].get("datetime_offset") for c in send.call_args_list] == [
        None,
        "2024-05-01 00:00:01",
        "2024-05-01 00:00:00",
    ]


def test_an_api_that_ignores_the_cursor_cannot_make_paging_loop(hook, answer):
    page = {"uploadings": [cdp("1", "2024-05-01 00:00:09"), cdp("2", "2024-05-01 00:00:05")]}
    send = answer(*[response(200, page)] * 10)
    assert len(list(hook.iter_last_uploadings(42, limit=2))) == 1
    assert send.call_count == 3  # first read, re-read of the boundary second, then the cursor cannot move back


@pytest.mark.parametrize("uploadings", [[], [{"uploading_id": "1", "datetime": "2024-05-01 00:00:00"}]])
def test_an_empty_or_short_page_ends_paging(hook, answer, uploadings):
    send = answer(response(200, {"uploadings": uploadings}))
    assert len(list(hook.iter_last_uploadings(42, limit=2))) == len(uploadings)
    assert send.call_count == 1


def test_a_full_page_then_an_empty_one_ends_paging(hook, answer):
    page = [cdp("1", "2024-05-01 00:00:02"), cdp("2", "2024-05-01 00:00:01")]
    send = answer(response(200, {"uploadings": page}), response(200, {"uploadings": []}))
    assert len(list(hook.iter_last_uploadings(42, limit=2))) == 1
    assert send.call_count == 2


def test_millisecond_values_page_with_a_millisecond_cursor(hook, mocker):
    api = FakeLastUploadings([milliseconds(str(n), ms) for n, ms in enumerate([999, 400, 123, 122, 5])])
    pages = listed(hook, mocker, api, limit=2)
    assert flat(pages) == ["0", "1", "2", "3", "4"]
    assert api.cursors[1:3] == ["2020-02-10T10:00:00.401Z", "2020-02-10T10:00:00.124Z"]


def test_millisecond_ties_across_a_page_boundary_are_each_listed_once(hook, mocker):
    api = FakeLastUploadings([milliseconds("a", 7), milliseconds("b", 5), milliseconds("c", 5), milliseconds("d", 1)])
    assert flat(listed(hook, mocker, api, limit=2)) == ["a", "b", "c", "d"]


def test_an_explicit_start_cursor_is_honoured_and_only_ever_moves_back(hook, mocker):
    api = FakeLastUploadings([whole_seconds(str(n), second) for n, second in enumerate([9, 8, 7, 6])])
    pages = listed(hook, mocker, api, limit=2, datetime_offset="2022-12-29 18:02:08")
    assert flat(pages) == ["2", "3"]
    assert api.cursors == ["2022-12-29 18:02:08", "2022-12-29T18:02:07Z"]


def test_a_datetime_in_an_unusual_shape_falls_back_to_the_strictly_earlier_cursor(hook, answer):
    page = [cdp("1", "20240501T100002Z"), cdp("2", "20240501T100001Z")]
    send = answer(response(200, {"uploadings": page}), response(200, {"uploadings": []}))
    list(hook.iter_last_uploadings(42, limit=2))
    assert send.call_args_list[1].kwargs["params"]["datetime_offset"] == "20240501T100001Z"


def test_uploadings_without_an_id_are_kept_and_paging_still_ends(hook, answer):
    page = {"uploadings": [{"datetime": "2024-05-01 00:00:01"}, {"datetime": "2024-05-01 00:00:01"}]}
    send = answer(*[response(200, page)] * 10)
    pages = list(hook.iter_last_uploadings(42, limit=2))
    assert all(len(page) == 2 for page in pages)  # nothing to de-duplicate them by
    assert send.call_count == 3  # read, re-read just after 00:00:01, strictly before it; then the cursor is stuck


@pytest.mark.parametrize(
    ("raw", "after"),
    [
        ("2022-12-29T18:02:01Z", "2022-12-29T18:02:02Z"),
        ("2024-05-01 23:59:59", "2024-05-02 00:00:00"),
        ("2020-02-10T10:00:00.999Z", "2020-02-10T10:00:01.000Z"),
        ("2020-02-10T10:00:00.5", "2020-02-10T10:00:00.6"),
        ("2024-05-01T10:00:00.123456+03:00", "2024-05-01T10:00:00.123457+03:00"),
        ("2024-13-01 00:00:00", None),
        ("20240501T100000Z", None),
        ("yesterday", None),
    ],
)
def test_just_after_adds_one_unit_of_the_values_own_precision(raw, after):
    assert _just_after(raw) == after


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    groups=st.lists(st.integers(min_value=1, max_value=5), min_size=0, max_size=12),
    limit=st.integers(min_value=1, max_value=4),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_every_uploading_is_listed_once_unless_its_second_overflows_a_page(hook, mocker, groups, limit, seed):
    stored = [
        whole_seconds(f"{second}-{n}", second, hidden_ms=n * 10 if seed % 2 else 0)
        for second, size in enumerate(groups)
        for n in range(size)
    ]
    api = FakeLastUploadings(stored, shuffle_ties=random.Random(seed))
    got = flat(listed(hook, mocker, api, limit=limit))
    assert len(got) == len(set(got))
    fitting = {item.uploading_id for item in stored if groups[int(item.uploading_id.split("-")[0])] <= limit}
    assert fitting <= set(got)
    seconds = [int(uploading_id.split("-")[0]) for uploading_id in got]
    assert seconds == sorted(seconds, reverse=True)
