"""CommerceLayerHook branches with canned answers (no server)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_metrika.commercelayer.auth import TokenCache
from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.exceptions import MetrikaApiError, MetrikaClientError, MetrikaConfigError
from tests.unit.hooks.conftest import response

SECRET = "cl-hook-unit-secret"
TOKEN = {"access_token": "tok-1", "token_type": "bearer", "expires_in": 7200}


@pytest.fixture
def hook(monkeypatch, mocker):
    conn = {
        "conn_type": "commercelayer",
        "host": "https://acme.commercelayer.io",
        "login": "client",
        "password": SECRET,
    }
    monkeypatch.setenv("AIRFLOW_CONN_CL_UNIT", json.dumps(conn))
    hook = CommerceLayerHook("cl_unit", sleep=lambda s: None, token_cache=TokenCache(), max_retries=1)
    hook.__dict__["session"] = mocker.Mock()
    return hook


def answers(hook, *responses):
    hook.session.request.side_effect = list(responses)


def sent(hook, index):
    call = hook.session.request.call_args_list[index]
    return call.args[0], call.args[1], call.kwargs


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "bearer", "expires_in": 10},
        {"access_token": "", "expires_in": 10},
        {"access_token": "t", "expires_in": "soon"},
        {"access_token": "t", "expires_in": True},
        {"access_token": "t", "expires_in": 0},
    ],
)
def test_a_token_answer_without_a_usable_token_is_refused(hook, body):
    answers(hook, response(200, body))
    with pytest.raises(MetrikaApiError, match=r"expires_in|access_token") as caught:
        hook.access_token()
    assert caught.value.error_type == "invalid_response"


def test_the_token_request_and_the_api_request_look_right(hook):
    answers(hook, response(200, TOKEN), response(200, {"data": [], "meta": {"page_count": 1}}))
    assert list(hook.iter_imports(filters={"reference_eq": "fp"})) == []
    method, url, kwargs = sent(hook, 0)
    assert (method, url) == ("POST", "https://auth.commercelayer.io/oauth/token")
    assert json.loads(kwargs["data"]) == {
        "grant_type": "client_credentials",
        "client_id": "client",
        "client_secret": SECRET,
    }
    method, url, kwargs = sent(hook, 1)
    assert (method, url) == ("GET", "https://acme.commercelayer.io/api/imports")
    assert kwargs["headers"]["Authorization"] == "Bearer tok-1"
    assert kwargs["headers"]["Accept"] == "application/vnd.api+json"
    assert kwargs["params"]["filter[q][reference_eq]"] == "fp"
    assert "inputs" not in kwargs["params"]["fields[imports]"].split(",")
    assert kwargs["allow_redirects"] is False


def test_a_401_is_retried_once_with_a_new_token(hook):
    unauthorized = {"errors": [{"title": "Unauthorized", "code": "INVALID_TOKEN", "status": "401"}]}
    answers(
        hook,
        response(200, TOKEN),
        response(401, unauthorized),
        response(200, {**TOKEN, "access_token": "tok-2"}),
        response(200, {"data": [], "meta": {"page_count": 1}}),
    )
    assert list(hook.iter_imports()) == []
    assert sent(hook, 3)[2]["headers"]["Authorization"] == "Bearer tok-2"


def test_other_client_errors_are_not_retried(hook):
    answers(hook, response(200, TOKEN), response(403, {"errors": [{"title": "Forbidden", "code": "FORBIDDEN"}]}))
    with pytest.raises(MetrikaClientError) as caught:
        hook.delete_import("abc")
    assert caught.value.status == 403 and hook.session.request.call_count == 2


def test_paging_stops_on_an_empty_page_or_a_missing_page_count(hook):
    item = {"id": "a", "type": "imports", "attributes": {"status": "pending"}}
    answers(hook, response(200, TOKEN), response(200, {"data": [item], "meta": {}}))
    assert [i.id for i in hook.iter_imports()] == ["a"]
    answers(hook, response(200, {"data": [], "meta": {"page_count": 9}}))
    assert list(hook.iter_imports()) == []


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda h: list(h.iter_imports(page_size=26)), "page_size"),
        (lambda h: h.find_imports(""), "reference"),
        (lambda h: h.get_import("a/b"), "import_id"),
        (lambda h: h.get_import("abc", fields=("inputs",)), "inputs"),
        (lambda h: h.create_import("skus", [{"code": str(i)} for i in range(10_001)]), "at most 10000"),
    ],
)
def test_bad_arguments_fail_before_any_request(hook, call, match):
    with pytest.raises(MetrikaConfigError, match=match):
        call(hook)
    hook.session.request.assert_not_called()


def test_forms_come_from_the_provider_info():
    behaviour = CommerceLayerHook.get_ui_field_behaviour()
    assert behaviour["relabeling"] == {"login": "Client ID", "password": "Client secret", "host": "Base endpoint"}
