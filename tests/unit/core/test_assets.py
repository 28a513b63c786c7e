"""metrika:// assets: the URI rules, the event extra, which outlets get it, and Airflow's registration."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from airflow_provider_metrika import get_provider_info
from airflow_provider_metrika.assets import (
    annotate_outlets,
    asset_uri,
    create_asset,
    event_extra,
    parse_asset_uri,
    sanitize_uri,
)


def processed(uploading_id="7", counter_id=12345, kind="offline_conversions", **counters):
    return {
        "kind": kind,
        "counter_id": counter_id,
        "uploading_id": uploading_id,
        "status": "LINKAGE_SUCCESS",
        "state": "success",
        **counters,
    }


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("metrika://12345/offline_conversions", "metrika://12345/offline_conversions"),
        ("metrika://012345/calls/", "metrika://12345/calls"),
    ],
)
def test_sanitize_normalizes(uri, expected):
    assert sanitize_uri(urlsplit(uri)).geturl() == expected


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("metrika://abc/offline_conversions", "counter id"),
        ("metrika://0/offline_conversions", "counter id"),
        ("metrika://12345/nonsense", "no upload kind"),
        ("metrika://12345/", "no upload kind"),
        ("metrika://12345/calls?x=1", "no query"),
        ("metrika://user:pw@12345/calls", "counter id"),
    ],
)
def test_sanitize_rejects(uri, match):
    with pytest.raises(ValueError, match=match):
        sanitize_uri(urlsplit(uri))


def test_uri_helpers():
    assert asset_uri(12345, "contacts") == "metrika://12345/contacts"
    assert parse_asset_uri("metrika://12345/contacts") == (12345, "contacts")
    assert parse_asset_uri("s3://bucket/key") is None and parse_asset_uri("metrika://x/y") is None
    with pytest.raises(ValueError):
        asset_uri(12345, "nonsense")


def test_create_asset_is_an_airflow_asset_on_both_lines():
    asset = create_asset(counter_id=12345, kind="calls")
    assert asset.uri == "metrika://12345/calls"


def test_event_extra_sums_counters_and_computes_the_linked_ratio():
    extra = event_extra(
        [
            processed("1", source_quantity=10, line_quantity=8, linked_quantity=6),
            processed("2", source_quantity=5, line_quantity=4, linked_quantity=0),
        ]
    )
    assert extra == {
        "uploading_ids": ["1", "2"],
        "statuses": ["LINKAGE_SUCCESS"],
        "rows_sent": 15,
        "rows_accepted": 12,
        "rows_linked": 6,
        "linked_ratio": 0.5,
    }


def test_event_extra_ignores_counters_a_hostile_server_filled_with_junk():
    extra = event_extra([processed(source_quantity="lots", line_quantity=True, linked_quantity=None)])
    assert set(extra) == {"uploading_ids", "statuses"}


@dataclasses.dataclass(frozen=True)
class Outlet:
    uri: str


def outlet_events():
    return defaultdict(lambda: SimpleNamespace(extra={}))


def test_matching_outlets_get_the_extra_others_are_left_alone():
    mine, other_kind, other_scheme = (
        Outlet("metrika://12345/offline_conversions"),
        Outlet("metrika://12345/calls"),
        Outlet("s3://bucket/key"),
    )
    task = SimpleNamespace(outlets=[mine, other_kind, other_scheme])
    events = outlet_events()
    result = processed(source_quantity=3, line_quantity=3, linked_quantity=3)
    assert annotate_outlets(task, {"outlet_events": events}, result) is result
    assert events[mine].extra["uploading_ids"] == ["7"] and events[mine].extra["linked_ratio"] == 1.0
    assert events[mine].extra["counter_id"] == 12345 and events[mine].extra["kind"] == "offline_conversions"
    assert events[other_kind].extra == {} and events[other_scheme].extra == {}


def test_a_task_that_did_not_wait_puts_no_counters_on_its_event(caplog):
    outlet = Outlet("metrika://12345/offline_conversions")
    events = outlet_events()
    waiting = processed() | {"status": "UPLOADED", "state": "running"}
    annotate_outlets(SimpleNamespace(outlets=[outlet]), {"outlet_events": events}, waiting)
    assert events[outlet].extra == {}
    assert "declare the outlet on the task that waits" in caplog.text


def test_several_uploadings_of_a_split_file_are_one_event():
    outlet = Outlet("metrika://12345/offline_conversions")
    events = outlet_events()
    result = {"kind": "offline_conversions", "uploadings": [processed("1"), processed("2")]}
    annotate_outlets(SimpleNamespace(outlets=[outlet]), {"outlet_events": events}, result)
    assert events[outlet].extra["uploading_ids"] == ["1", "2"]
    annotate_outlets(SimpleNamespace(outlets=[outlet]), {}, result)  # no outlet events (a test context): nothing


def test_a_jobs_result_marks_its_metrika_jobs_events():
    from airflow_provider_metrika.jobs.record import JobRecord, JobState, jobs_result

    def job(job_id, vendor="metrika", **counters):
        return JobRecord(vendor, "offline_conversions", "12345", job_id, "PROCESSED", JobState.SUCCESS, counters)

    outlet = Outlet("metrika://12345/offline_conversions")
    events = outlet_events()
    result = jobs_result(
        "metrika",
        [job("1", line_quantity=4, linked_quantity=1), job("2", line_quantity=4, linked_quantity=3)],
    )
    assert annotate_outlets(SimpleNamespace(outlets=[outlet]), {"outlet_events": events}, result) is result
    extra = events[outlet].extra
    assert extra["uploading_ids"] == ["1", "2"] and extra["rows_accepted"] == 8 and extra["linked_ratio"] == 0.5
    assert extra["counter_id"] == 12345 and extra["statuses"] == ["PROCESSED"]
    other = outlet_events()
    annotate_outlets(
        SimpleNamespace(outlets=[outlet]), {"outlet_events": other}, jobs_result("fleetio", [job("3", "fleetio")])
    )
    assert other[outlet].extra == {}  # another vendor's jobs never mark a metrika:// asset


def test_the_scheme_is_registered_for_assets_and_datasets():
    info = get_provider_info()
    for section in ("asset-uris", "dataset-uris"):
        (entry,) = [e for e in info[section] if "metrika" in e["schemes"]]
        assert entry["schemes"] == ["metrika"]
        assert entry["handler"].endswith("assets.sanitize_uri")
        assert entry["to_openlineage_converter"].endswith("assets.convert_asset_to_openlineage")
