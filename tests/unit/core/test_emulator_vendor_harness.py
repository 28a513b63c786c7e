"""Pieces of the emulators' vendor-neutral harness and Fleetio's cursors, without a server."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_metrika.emulator.commercelayer.settings import Settings as CommerceLayerSettings
from airflow_provider_metrika.emulator.errors import ApiError
from airflow_provider_metrika.emulator.fleetio import keyset
from airflow_provider_metrika.emulator.fleetio.settings import Settings as FleetioSettings
from airflow_provider_metrika.emulator.windows import SlidingWindows


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_sliding_window_frees_one_slot_per_old_request():
    clock = Clock()
    windows = SlidingWindows(clock)
    assert windows.take("k", 2, 10).remaining == 1
    clock.now = 4
    assert windows.take("k", 2, 10).remaining == 0
    refused = windows.take("k", 2, 10)
    assert not refused.allowed and refused.retry_after == 6
    assert windows.take("other", 2, 10).allowed
    clock.now = 10
    assert windows.take("k", 2, 10).allowed
    assert not windows.take("k", 2, 10).allowed
    windows.clear()
    assert windows.take("k", 2, 10).allowed


@given(st.integers(min_value=-(10**12), max_value=10**12), st.integers(min_value=1, max_value=10**9))
def test_a_cursor_round_trips_only_with_its_query(value, identifier):
    digest = keyset.query_digest([("sort[id]", "asc")])
    cursor = keyset.encode(digest, [value, identifier])
    assert keyset.decode(cursor, digest) == [value, identifier]
    with pytest.raises(keyset.CursorError, match="another query"):
        keyset.decode(cursor, keyset.query_digest([("sort[id]", "desc")]))


@given(st.text(max_size=200))
def test_any_string_as_cursor_is_refused_or_read_never_crashes(text):
    digest = keyset.query_digest([])
    try:
        position = keyset.decode(text, digest)
    except keyset.CursorError as error:
        assert str(error)
    else:
        assert position is None or (isinstance(position, list) and len(position) == 2)


def test_keyset_paging_keeps_its_place():
    records = [{"id": i, "v": i % 3} for i in range(1, 8)]
    digest = keyset.query_digest([])

    def key(r):
        return [r["v"], r["id"]]

    seen, cursor = [], None
    while True:
        page = keyset.page(records, key, True, digest, cursor, 3)
        seen += [r["id"] for r in page.records]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [r["id"] for r in sorted(records, key=key, reverse=True)]
    assert keyset.page(records, key, False, digest, None, 100).estimated_remaining_count == 7


@pytest.mark.parametrize(
    ("settings", "changes"),
    [
        (CommerceLayerSettings(), {"api_limit": 0}),
        (CommerceLayerSettings(), {"mode": "prod"}),
        (CommerceLayerSettings(), {"echo_credentials": "yes"}),
        (CommerceLayerSettings(), {"clients": {"id": ""}}),
        (CommerceLayerSettings(), {"unknown": 1}),
        (FleetioSettings(), {"rate_limit": 1.5}),
        (FleetioSettings(), {"key_version": "v2"}),
        (FleetioSettings(), {"api_keys": ["k"]}),
    ],
)
def test_settings_refuse_bad_values_with_400(settings, changes):
    with pytest.raises(ApiError) as caught:
        settings.updated(changes)
    assert caught.value.status == 400 and next(iter(changes)) in caught.value.message


def test_settings_keep_credentials_as_hashes():
    settings = CommerceLayerSettings().updated({"clients": {"id": "the-secret"}, "stage_seconds": 2})
    assert "the-secret" not in str(settings.to_json()) and settings.stage_seconds == 2.0
    assert FleetioSettings().updated({"api_keys": {"key-1": "acc"}}).api_keys != {"key-1": "acc"}
    assert settings.with_stored({"mode": "live"}).mode == "live"


def test_rate_windows_slide_with_real_time_on_a_frozen_clock_and_with_advances(tmp_path, monkeypatch):
    from airflow_provider_metrika.emulator import harness
    from airflow_provider_metrika.emulator.fleetio.state import State
    from airflow_provider_metrika.emulator.store import Store

    real = [1000.0]
    monkeypatch.setattr(harness.time, "monotonic", lambda: real[0])
    state = State(Store(str(tmp_path / "e.db")), FleetioSettings(rate_limit=1, rate_window=60))
    assert state.check_window("key").allowed and not state.check_window("key").allowed
    frozen = state.now()
    real[0] += 60  # a minute of real time passes; the frozen emulator clock does not move
    assert state.now() == frozen and state.check_window("key").allowed
    state.advance(60)  # a test still slides a window at once by advancing the clock
    assert state.check_window("key").allowed
