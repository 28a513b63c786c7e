"""MetrikaHook against a mocked session: auth, timeouts, retries, errors, endpoints, paging, UI."""

from __future__ import annotations

import email.utils
import http.client
import logging
import re
import socket
import sys
import time
import types

import pytest
import requests
import urllib3.exceptions

from airflow_provider_metrika.exceptions import (
    MetrikaAmbiguousResponseError,
    MetrikaApiError,
    MetrikaClientError,
    MetrikaConfigError,
    MetrikaRetryableError,
)
from airflow_provider_metrika.hooks.concurrency import request_slots
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.hooks.metrika_api import uploading_from_body, uploadings_from_body
from airflow_provider_metrika.hooks.rest import query_params
from airflow_provider_metrika.uploads import UploadState, get_upload_kind
from tests.unit.hooks.conftest import BASE_URL, TOKEN, error_body, response, set_connection

MGMT = f"{BASE_URL}/management/v1/counter/42"
CDP = f"{BASE_URL}/cdp/api/v1/counter/42"


def refused():
    reason = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection")
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))


def conversion(uploading_id=1, status="UPLOADED"):
    return {"id": uploading_id, "status": status, "comment": "c", "line_quantity": 3}


# -- construction, session, timeouts ---------------------------------------------------------------


def test_init_does_not_touch_the_connection(mocker, metrika_conn):
    lookup = mocker.patch.object(MetrikaHook, "get_connection", wraps=MetrikaHook.get_connection)
    hook = MetrikaHook("metrika_default", timeout=5, max_retries=1)
    lookup.assert_not_called()
    assert hook.settings.counter_id == 42
    assert hook.settings is hook.settings
    lookup.assert_called_once_with("metrika_default")


def test_hook_metadata():
    assert (MetrikaHook.conn_name_attr, MetrikaHook.default_conn_name) == ("metrika_conn_id", "metrika_default")
    assert (MetrikaHook.conn_type, MetrikaHook.hook_name) == ("yandex_metrika", "Yandex Metrika")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"timeout": (1, 2, 3)}, "timeout"), ({"timeout": -1}, "timeout"), ({"max_retries": -1}, "max_retries")],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(MetrikaConfigError, match=match):
        MetrikaHook(**kwargs)


def test_session_headers_and_pooling(hook):
    session = hook.get_conn()
    assert session is hook.session is hook.get_conn()
    assert session.headers["Authorization"] == f"OAuth {TOKEN}"
    assert re.fullmatch(
        r"airflow-provider-metrika/\d+\.\d+\.\d+ \(apache-airflow/\d+\.\d+\.\d+\S*\)", session.headers["User-Agent"]
    )
    assert session.headers["Accept"] == "application/json"
    pool_kw = session.get_adapter("https://api-metrika.yandex.net").poolmanager.connection_pool_kw
    assert pool_kw["blocksize"] == 1024 * 1024
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in pool_kw["socket_options"]
    hook.close()
    assert hook.session is not session


@pytest.mark.parametrize(
    ("extra", "kwargs", "expected"),
    [
        ({}, {}, (10.0, 300.0)),
        ({"timeout": "42"}, {}, (10.0, 42.0)),
        ({"timeout": "42"}, {"timeout": 5}, (5.0, 5.0)),
        ({}, {"timeout": 30}, (10.0, 30.0)),
        ({}, {"timeout": (3, 7.5)}, (3.0, 7.5)),
    ],
)
def test_timeouts_reach_the_session(monkeypatch, mocker, extra, kwargs, expected):
    set_connection(monkeypatch, extra=extra)
    hook = MetrikaHook(**kwargs)
    send = mocker.patch.object(hook.session, "request", return_value=response(200, {}))
    hook.request("GET", "/x")
    assert send.call_args.kwargs["timeout"] == expected


def test_max_retries_from_connection_and_constructor(monkeypatch):
    set_connection(monkeypatch, extra={"max_retries": "2"})
    assert MetrikaHook().retry_policy.max_retries == 2
    assert MetrikaHook(max_retries=0).retry_policy.max_retries == 0


# -- request: success, retries, errors ------------------------------------------------------------


def test_get_request(hook, answer):
    send = answer(response(200, {"ok": 1}))
    assert hook.request("get", "management/v1/x", params={"a": 1, "b": None, "c": True}) == {"ok": 1}
    args, kwargs = send.call_args
    assert args == ("GET", f"{BASE_URL}/management/v1/x")
    assert kwargs["params"] == {"a": "1", "c": "true"}
    assert kwargs["allow_redirects"] is False


def test_every_request_holds_a_concurrency_slot(hook, mocker):
    seen = []

    def send(*args, **kwargs):
        slots = request_slots(TOKEN)
        grabbed = [slots.acquire(blocking=False) for _ in range(3)]
        seen.append(grabbed)
        for ok in grabbed:
            if ok:
                slots.release()
        return response(200, {})

    mocker.patch.object(hook.session, "request", side_effect=send)
    hook.request("GET", "/x")
    assert seen == [[True, True, False]]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_with_backoff(hook, answer, delays, status):
    send = answer(response(status, error_body(status, "backend_error", "down")), response(status), response(200, {}))
    assert hook.request("GET", "/x") == {}
    assert send.call_count == 3
    assert delays == [1.0, 2.0]


@pytest.mark.parametrize("status", [420, 429])
def test_rate_limits_honour_retry_after_seconds(hook, answer, delays, status):
    answer(
        response(status, error_body(status, "quota_requests_by_ip", "slow down"), headers={"Retry-After": "7"}),
        response(200, {"a": 1}),
    )
    assert hook.request("GET", "/x") == {"a": 1}
    assert delays == [7.0]


def test_retry_after_http_date(hook, answer, delays):
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    answer(response(429, {}, headers={"Retry-After": when}), response(200, {}))
    hook.request("GET", "/x")
    assert len(delays) == 1 and 115 <= delays[0] <= 120


def test_retry_after_is_capped(hook, answer, delays):
    answer(response(503, {}, headers={"Retry-After": "86400"}), response(200, {}))
    hook.request("GET", "/x")
    assert delays == [300.0]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_connect_failures_are_retried_for_any_method(hook, answer, delays, method):
    send = answer(refused(), requests.ConnectTimeout(), response(200, {"ok": True}))
    assert hook.request(method, "/x") == {"ok": True}
    assert send.call_count == 3 and delays == [1.0, 2.0]


def test_retries_are_bounded(hook, answer, delays):
    send = answer(*[response(503, error_body(503, "backend_error", "down"))] * 4)
    with pytest.raises(MetrikaRetryableError) as info:
        hook.request("GET", "/x")
    assert (info.value.status, info.value.error_type) == (503, "backend_error")
    assert send.call_count == 4 and delays == [1.0, 2.0, 4.0]


def test_transport_errors_surface_after_the_budget(hook, answer):
    answer(*[requests.ReadTimeout("read timed out")] * 4)
    with pytest.raises(requests.ReadTimeout):
        hook.request("GET", "/x")


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(400, "invalid_parameter"), (401, "unauthorized"), (403, "access_denied"), (404, "not_found")],
)
def test_client_errors_are_not_retried(hook, answer, delays, status, error_type):
    send = answer(response(status, error_body(status, error_type, "nope")))
    with pytest.raises(MetrikaClientError) as info:
        hook.request("GET", "/x")
    assert (info.value.status, info.value.error_type, info.value.message) == (status, error_type, "nope")
    assert send.call_count == 1 and delays == []


@pytest.mark.parametrize(
    "error",
    [
        requests.ReadTimeout(),
        requests.ConnectionError(
            urllib3.exceptions.ProtocolError("Connection aborted.", http.client.RemoteDisconnected("gone"))
        ),
        requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError())),
        requests.exceptions.ChunkedEncodingError(),
    ],
)
def test_ambiguous_post_is_not_resent(hook, answer, delays, error):
    send = answer(error, response(200, {}))
    with pytest.raises(MetrikaAmbiguousResponseError) as info:
        hook.request("POST", "/upload", json={"a": 1})
    assert info.value.__cause__ is error
    assert send.call_count == 1 and delays == []


def test_post_can_be_declared_idempotent(hook, answer):
    send = answer(requests.ReadTimeout(), response(200, {}))
    hook.request("POST", "/confirm", idempotent=True)
    assert send.call_count == 2


def test_token_never_leaks(hook, answer, caplog):
    echo = error_body(403, "invalid_token", f"bad token {TOKEN}")
    answer(response(503, echo), requests.ConnectTimeout(f"timeout {BASE_URL}"), response(403, echo))
    with caplog.at_level(logging.DEBUG), pytest.raises(MetrikaClientError) as info:
        hook.request("GET", "/x")
    assert TOKEN not in caplog.text
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
    assert TOKEN not in repr(hook) and TOKEN not in repr(hook.settings)
    assert "retry 1 of 3" in caplog.text


# -- endpoints ---------------------------------------------------------------------------------------


def test_upload_json(hook, answer):
    uploading = {"uploading_id": "abc", "api_validation_status": "PASSED", "elements_count": 2}
    send = answer(response(200, {"uploading": uploading}))
    result = hook.upload_json("contacts", None, {"contacts": [{"uniq_id": "1"}]}, params={"merge_mode": "SAVE"})
    args, kwargs = send.call_args
    assert args == ("POST", f"{CDP}/data/contacts/json")
    assert kwargs["json"] == {"contacts": [{"uniq_id": "1"}]}
    assert kwargs["params"] == {"merge_mode": "SAVE"}
    assert (result.kind, result.uploading_id, result.state) == ("contacts", "abc", UploadState.SUCCESS)


def test_upload_json_rejects_kinds_without_a_json_endpoint(hook):
    with pytest.raises(MetrikaConfigError, match="no such endpoint"):
        hook.upload_json("offline_conversions", 42, {"x": []})


def test_get_uploading(hook, answer):
    send = answer(response(200, {"uploading": conversion(7, "PROCESSED")}))
    uploading = hook.get_uploading("offline_conversions", "42", 7)
    assert send.call_args.args == ("GET", f"{MGMT}/offline_conversions/uploading/7")
    assert (uploading.uploading_id, uploading.counter_id, uploading.state) == ("7", 42, UploadState.SUCCESS)


@pytest.mark.parametrize("bad", ["../7", "7?x=1", "", True, "7/confirm"])
def test_get_uploading_rejects_unsafe_ids(hook, bad):
    with pytest.raises(MetrikaConfigError, match="uploading_id"):
        hook.get_uploading("calls", 42, bad)


def test_get_uploading_of_a_cdp_kind_is_a_config_error(hook):
    with pytest.raises(MetrikaConfigError, match="no such endpoint"):
        hook.get_uploading("contacts", 42, "abc")


def test_unknown_kind(hook):
    with pytest.raises(MetrikaConfigError, match="unknown upload kind"):
        hook.get_uploading("deals", 42, 1)


def test_list_uploadings_management(hook, answer):
    send = answer(response(200, {"uploadings": [conversion(1), conversion(2)]}))
    result = hook.list_uploadings("calls", 42, limit=10, offset=20)
    assert send.call_args.args == ("GET", f"{MGMT}/offline_conversions/calls_uploadings")
    assert send.call_args.kwargs["params"] == {"limit": "10", "offset": "20"}
    assert [u.uploading_id for u in result] == ["1", "2"] and {u.kind for u in result} == {"calls"}


def test_a_list_with_junk_is_unreadable_not_shorter(hook, answer):
    answer(response(200, {"uploadings": [conversion(1), "junk"]}))
    with pytest.raises(MetrikaApiError, match="item 1 of Metrika's list answer is not an uploading"):
        hook.list_uploadings("calls", 42)


def test_list_uploadings_of_chats_asks_for_their_type(hook, answer):
    send = answer(response(200, {"uploadings": [conversion(3)]}))
    (chat,) = hook.list_uploadings("chats", 42, limit=10)
    assert send.call_args.args == ("GET", f"{MGMT}/offline_conversions/uploadings")
    assert send.call_args.kwargs["params"] == {"type": "CHATS", "limit": "10"}
    assert chat.kind == "chats"


def test_list_uploadings_cdp_is_one_page_of_last_uploadings(hook, answer):
    send = answer(response(200, {"uploadings": [{"uploading_id": "u1", "api_validation_status": "FAILED"}]}))
    result = hook.list_uploadings("orders", 42, limit=5)
    assert send.call_args.args == ("GET", f"{CDP}/last_uploadings")
    assert send.call_args.kwargs["params"] == {"limit": "5"}
    assert result[0].state is UploadState.FAILURE


@pytest.mark.parametrize(
    ("kind", "kwargs", "match"),
    [
        ("orders", {"offset": 5}, "offset"),
        ("orders", {"limit": 1001}, "limit"),
        ("offline_conversions", {"limit": 0}, "limit"),
        ("offline_conversions", {"offset": -1}, "offset"),
    ],
)
def test_list_uploadings_validation(hook, kind, kwargs, match):
    with pytest.raises(MetrikaConfigError, match=match):
        hook.list_uploadings(kind, 42, **kwargs)


def test_iter_uploadings_pages_by_offset(hook, mocker):
    items = [conversion(i) for i in range(5)]

    def send(method, url, params, **kwargs):
        offset, limit = int(params["offset"]), int(params["limit"])
        return response(200, {"uploadings": items[offset : offset + limit]})

    mock = mocker.patch.object(hook.session, "request", side_effect=send)
    ids = [u.uploading_id for u in hook.iter_uploadings("offline_conversions", 42, page_size=2)]
    assert ids == ["0", "1", "2", "3", "4"]
    assert [c.kwargs["params"]["offset"] for c in mock.call_args_list] == ["0", "2", "4"]


def test_iter_uploadings_stops_on_an_empty_page(hook, answer):
    send = answer(response(200, {"uploadings": [conversion(1), conversion(2)]}), response(200, {"uploadings": []}))
    assert len(list(hook.iter_uploadings("user_params", 42, page_size=2))) == 2
    assert send.call_count == 2


def test_iter_uploadings_page_size_is_validated(hook):
    with pytest.raises(MetrikaConfigError, match="page_size"):
        list(hook.iter_uploadings("calls", 42, page_size=0))


def cdp_item(n, when):
    return {"uploading_id": f"u{n}", "datetime": when, "api_validation_status": "PASSED"}


def test_iter_uploadings_cdp_follows_the_cursor(hook, answer):
    send = answer(
        response(200, {"uploadings": [cdp_item(3, "2024-05-03 10:00:00"), cdp_item(2, "2024-05-02 10:00:00")]}),
        response(200, {"uploadings": [cdp_item(1, "2024-05-01 10:00:00")]}),
    )
    ids = [u.uploading_id for u in hook.iter_uploadings("simple_orders", 42, page_size=2)]
    assert ids == ["u3", "u2", "u1"]
    # Just after the oldest second on the page: Metrika's cursor is strictly-earlier and seconds tie.
    assert send.call_args_list[1].kwargs["params"] == {"limit": "2", "datetime_offset": "2024-05-02 10:00:01"}


def test_iter_last_uploadings_cursor_is_just_after_the_oldest_datetime_written_alike(hook, answer):
    first = [
        cdp_item(1, "2024-05-03T10:00:00Z"),
        cdp_item(2, "2024-05-01 09:00:00"),
        cdp_item(3, "2024-05-02T00:00:00Z"),
    ]
    send = answer(response(200, {"uploadings": first}), response(200, {"uploadings": []}))
    pages = list(hook.iter_last_uploadings(42, limit=3, datetime_offset="2024-06-01 00:00:00", source="API"))
    assert pages == [first]
    assert send.call_args_list[0].kwargs["params"] == {
        "limit": "3",
        "datetime_offset": "2024-06-01 00:00:00",
        "source": "API",
    }
    assert send.call_args_list[1].kwargs["params"]["datetime_offset"] == "2024-05-01 09:00:01"


def test_iter_last_uploadings_stops_on_a_short_page(hook, answer):
    send = answer(response(200, {"uploadings": [cdp_item(1, "2024-05-01 00:00:00")]}))
    assert len(list(hook.iter_last_uploadings(42, limit=2))) == 1
    assert send.call_count == 1


@pytest.mark.parametrize(
    "page",
    [
        [{"uploading_id": "a"}, {"uploading_id": "b"}],  # no datetime: cannot page on
        [cdp_item(1, "not a date"), cdp_item(2, "also not")],
    ],
)
def test_iter_last_uploadings_stops_without_a_cursor(hook, answer, page):
    send = answer(response(200, {"uploadings": page}))
    assert len(list(hook.iter_last_uploadings(42, limit=2))) == 1
    assert send.call_count == 1


def test_iter_last_uploadings_stops_when_the_cursor_cannot_move_back(hook, answer):
    page = [cdp_item(1, "2024-05-01 00:00:00"), cdp_item(2, "2024-05-01 00:00:00")]
    send = answer(*[response(200, {"uploadings": page})] * 3)
    assert len(list(hook.iter_last_uploadings(42, limit=2))) == 1  # the repeats are the same uploadings
    assert send.call_count == 3


@pytest.mark.parametrize("limit", [0, 1001, "x"])
def test_iter_last_uploadings_limit_is_validated(hook, limit):
    with pytest.raises(MetrikaConfigError, match="limit"):
        next(hook.iter_last_uploadings(42, limit=limit))


def test_confirm_user_params(hook, answer):
    send = answer(response(200, {"uploading": {"id": 77, "status": "is_processed"}}))
    result = hook.confirm_user_params(None, "77")
    args, kwargs = send.call_args
    assert args == ("POST", f"{MGMT}/user_params/uploading/77/confirm")
    assert kwargs["json"] == {"uploading": {"id": 77}}
    assert (result.kind, result.status, result.state) == ("user_params", "is_processed", UploadState.RUNNING)


def test_confirm_user_params_passes_fields_and_fetches_when_answer_is_empty(hook, answer):
    send = answer(response(200, {}), response(200, {"uploading": {"id": 5, "status": "processed"}}))
    result = hook.confirm_user_params(42, 5, {"action": "update", "content_id_type": "CLIENT_ID"})
    assert send.call_args_list[0].kwargs["json"] == {
        "uploading": {"action": "update", "content_id_type": "CLIENT_ID", "id": 5}
    }
    assert send.call_args_list[1].args == ("GET", f"{MGMT}/user_params/uploading/5")
    assert result.state is UploadState.SUCCESS


def test_get_counter(hook, answer):
    send = answer(response(200, {"counter": {"id": 42, "time_zone_name": "Europe/Moscow"}}))
    assert hook.get_counter(None) == {"id": 42, "time_zone_name": "Europe/Moscow"}
    assert send.call_args.args == ("GET", MGMT)


def test_answers_without_an_uploading(hook, answer):
    answer(response(200, {"something": 1}))
    with pytest.raises(MetrikaApiError, match="invalid_response"):
        hook.get_uploading("offline_conversions", 42, 1)


def test_uploading_parsing_helpers():
    kind = get_upload_kind("offline_conversions")
    assert uploading_from_body(kind, 1, {"uploadings": [conversion(9)]}).uploading_id == "9"
    with pytest.raises(MetrikaApiError, match="invalid_response"):
        uploading_from_body(kind, 1, {"uploading": {"status": "UPLOADED"}})
    assert uploadings_from_body(kind, 1, {"uploadings": []}) == []
    with pytest.raises(MetrikaApiError, match="no 'uploadings' array"):  # not "no uploadings"
        uploadings_from_body(kind, 1, {})
    assert query_params({"a": None, "b": False, "c": 2}) == {"b": "false", "c": "2"}


# -- Airflow UI ------------------------------------------------------------------------------------


def test_test_connection_with_a_counter(hook, answer):
    send = answer(response(200, {"counter": {"id": 42}}))
    ok, message = hook.test_connection()
    assert ok and "counter 42" in message
    assert send.call_args.args == ("GET", MGMT)


def test_test_connection_without_a_counter(monkeypatch, mocker):
    set_connection(monkeypatch, extra={})
    hook = MetrikaHook()
    send = mocker.patch.object(hook.session, "request", return_value=response(200, {"counters": []}))
    assert hook.test_connection()[0] is True
    assert send.call_args.args == ("GET", f"{BASE_URL}/management/v1/counters")
    assert send.call_args.kwargs["params"] == {"per_page": "1"}


def test_test_connection_failure_is_reported_once_without_the_token(hook, answer, delays):
    send = answer(response(503, error_body(503, "backend_error", f"down {TOKEN}")))
    ok, message = hook.test_connection()
    assert not ok and "backend_error" in message and TOKEN not in message
    assert send.call_count == 1 and delays == []


def test_test_connection_reports_config_errors(monkeypatch):
    set_connection(monkeypatch, "riidetig", password="")
    ok, message = MetrikaHook("riidetig").test_connection()
    assert not ok and message.startswith("ProviderConfigError: the tested connection has no OAuth token")
    assert "riidetig" not in message  # the UI's Test runs under a random temporary id


def test_ui_field_behaviour_mirrors_provider_info():
    behaviour = MetrikaHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == ["schema", "port", "login"]
    assert behaviour["relabeling"] == {"password": "OAuth token", "host": "API base URL"}
    assert set(behaviour) == {"hidden_fields", "relabeling", "placeholders"}


def test_connection_form_widgets(monkeypatch):
    """Uses stand-in wtforms/flask modules so the test runs on Airflow 3 too (no FAB there)."""

    class Field:
        def __init__(self, label, description="", widget=None, validators=()):
            self.label, self.description, self.validators = label, description, validators

    class NumberRange:
        def __init__(self, min=None, max=None):
            self.min, self.max = min, max

    stubs = {
        "wtforms": types.SimpleNamespace(IntegerField=Field, StringField=Field),
        "wtforms.validators": types.SimpleNamespace(NumberRange=NumberRange, Optional=lambda: "optional"),
        "flask_babel": types.SimpleNamespace(lazy_gettext=lambda text: text),
        "flask_appbuilder.fieldwidgets": types.SimpleNamespace(BS3TextFieldWidget=lambda: "widget"),
    }
    for name, module in stubs.items():
        monkeypatch.setitem(sys.modules, name, module)
    widgets = MetrikaHook.get_connection_form_widgets()
    assert set(widgets) == {"counter_id", "timeout", "max_retries"}
    assert widgets["counter_id"].label == "Default counter ID"
    limits = widgets["max_retries"].validators[1]
    assert (limits.min, limits.max) == (0, 20)
