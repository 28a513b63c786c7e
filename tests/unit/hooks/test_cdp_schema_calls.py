"""MetrikaHook's CDP schema calls against a mocked session: paths, bodies, answers, retries."""

from __future__ import annotations

import json

import pytest

from airflow_provider_metrika.exceptions import MetrikaAmbiguousResponseError, MetrikaApiError
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.hooks.retry import RetryPolicy
from tests.unit.hooks.conftest import BASE_URL, response

CDP = f"{BASE_URL}/cdp/api/v1/counter/42/schema"


@pytest.fixture
def hook(metrika_conn):
    hook = MetrikaHook(sleep=lambda _s: None)
    hook.retry_policy = RetryPolicy(max_retries=2, jitter=lambda: 1.0)
    yield hook
    hook.close()


def sent(call) -> tuple[str, str, dict, object]:
    return call.args[0], call.args[1], call.kwargs.get("params"), call.kwargs.get("json")


def test_get_order_statuses(hook, answer):
    session = answer(response(200, {"order_statuses": [{"id": "new", "type": "IN_PROGRESS"}, "junk"]}))
    assert hook.get_order_statuses(None) == [{"id": "new", "type": "IN_PROGRESS"}]
    assert sent(session.call_args)[:2] == ("GET", f"{CDP}/order_statuses")


def test_map_order_statuses_posts_the_list_and_is_resent_after_a_5xx(hook, answer):
    session = answer(response(502, {"code": 502}), response(200, {"success": True}))
    hook.map_order_statuses(42, [{"id": "new", "type": "IN_PROGRESS"}])
    assert session.call_count == 2
    method, url, _params, body = sent(session.call_args)
    assert (method, url, body) == (
        "POST",
        f"{CDP}/order_statuses",
        {"order_statuses": [{"id": "new", "type": "IN_PROGRESS"}]},
    )


def test_attributes_calls_name_the_entity_type(hook, answer):
    session = answer(
        response(200, {"system_attributes": [], "custom_attributes": []}), response(200, {"success": True})
    )
    assert hook.get_attributes(42, "CONTACT") == {"system_attributes": [], "custom_attributes": []}
    hook.create_attributes(42, "CONTACT", [{"name": "age", "type_name": "numeric", "multivalued": False}])
    first, second = session.call_args_list
    assert sent(first)[:3] == ("GET", f"{CDP}/attributes", {"entity_type": "CONTACT"})
    assert sent(second)[2:] == (
        {"entity_type": "CONTACT"},
        {"attributes": [{"name": "age", "type_name": "numeric", "multivalued": False}]},
    )


def test_create_attributes_is_not_resent_after_an_ambiguous_failure(hook, answer):
    session = answer(response(500, {"code": 500}))
    with pytest.raises(MetrikaAmbiguousResponseError):
        hook.create_attributes(42, "CONTACT", [{"name": "age", "multivalued": False}])
    assert session.call_count == 1


def test_create_products(hook, answer):
    session = answer(response(200, {"success": True}))
    hook.create_products(42, [{"name": "sku", "multivalued": False}], [{"name": "Widget"}])
    assert json.dumps(sent(session.call_args)[3]) == json.dumps(
        {"attributes": [{"name": "sku", "multivalued": False}], "items": [{"name": "Widget"}]}
    )


def test_an_explicit_refusal_is_an_error(hook, answer):
    answer(response(200, {"success": False, "detail": "no"}))
    with pytest.raises(MetrikaApiError, match="did not confirm schema/order_statuses"):
        hook.map_order_statuses(42, [{"id": "new", "type": "PAID"}])
