"""CommerceLayerHook against the Commerce Layer emulator over loopback."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.exceptions import MetrikaAmbiguousResponseError, MetrikaClientError
from tests.conftest import CL_CLIENT_ID, CL_CLIENT_SECRET
from tests.emulators import clock_sleep, requests_to

pytestmark = pytest.mark.integration
SKUS = [{"code": "SKU1", "name": "One"}, {"code": "SKU2", "name": "Two"}]


def token_requests(emulator) -> int:
    return requests_to(emulator, "/oauth/token")


def test_create_wait_and_read_an_import_without_its_inputs(commercelayer_hook, commercelayer):
    created = commercelayer_hook.create_import(
        "skus", SKUS, reference="fp-1", reference_origin="airflow", metadata={"run": 1}
    )
    assert created.status == "pending" and created.is_open and created.reference == "fp-1"
    assert "inputs" not in created.attributes and created.count("inputs_size") == 2
    commercelayer.advance(10)
    done = commercelayer_hook.get_import(created.id)
    assert done.status == "completed" and done.count("processed_count") == 2 and not done.is_open
    assert "inputs" not in done.attributes and done.attributes["metadata"] == {"run": 1}


def test_one_token_per_process_for_every_hook_of_a_client(commercelayer, commercelayer_conn):
    hooks = [CommerceLayerHook(commercelayer_conn) for _ in range(5)]
    for each in hooks:
        assert list(each.iter_imports()) == []
    assert token_requests(commercelayer) == 1


def test_a_token_the_server_expired_is_fetched_again_once(commercelayer_hook, commercelayer):
    """The hook's cache still trusts the token (real time), the server's clock says it expired: 401, refetch."""
    commercelayer_hook.create_import("skus", SKUS)
    commercelayer.advance(7200)
    assert [i.status for i in commercelayer_hook.iter_imports()] == ["completed"]
    assert token_requests(commercelayer) == 2
    commercelayer.call("POST", "commercelayer/revoke_tokens")
    assert len(commercelayer_hook.find_imports("nothing")) == 0
    assert token_requests(commercelayer) == 3


def test_a_second_401_in_a_row_is_raised(commercelayer_hook, commercelayer):
    commercelayer_hook.access_token()
    commercelayer.inject_fault(path="^/api/imports$", action="status", status=401, error_type="INVALID_TOKEN", times=2)
    with pytest.raises(MetrikaClientError) as caught:
        list(commercelayer_hook.iter_imports())
    assert caught.value.status == 401 and caught.value.error_type == "INVALID_TOKEN"
    assert token_requests(commercelayer) == 2


def test_429_waits_the_rate_limit_interval(commercelayer, commercelayer_conn):
    waited, wait = clock_sleep(commercelayer)
    commercelayer.configure(api_limit=2, api_interval=10)
    hook = CommerceLayerHook(commercelayer_conn, sleep=wait)
    for _ in range(3):
        list(hook.iter_imports())
    assert waited == [10.0]
    assert commercelayer.request_stats()["throttled_total"] == 1


def test_find_interrupt_and_delete(commercelayer_hook, commercelayer):
    first = commercelayer_hook.create_import("skus", SKUS, reference="fp-2")
    commercelayer_hook.create_import("skus", SKUS, reference="fp-3")
    assert [i.id for i in commercelayer_hook.find_imports("fp-2")] == [first.id]
    stopped = commercelayer_hook.interrupt_import(first.id)
    assert stopped.status == "interrupted"
    assert commercelayer_hook.get_import(first.id, fields=("status", "interrupted_at")).attributes["interrupted_at"]
    commercelayer_hook.delete_import(first.id)
    with pytest.raises(MetrikaClientError) as caught:
        commercelayer_hook.get_import(first.id)
    assert (caught.value.status, caught.value.error_type) == (404, "RECORD_NOT_FOUND")
    assert "Commerce Layer API error 404" in str(caught.value)


def test_paging_through_more_than_one_page(commercelayer_hook):
    for i in range(7):
        commercelayer_hook.create_import("skus", [{"code": f"S{i}", "name": "n"}], reference=f"p-{i}")
    found = list(commercelayer_hook.iter_imports(page_size=3, sort="reference"))
    assert [i.reference for i in found] == [f"p-{i}" for i in range(7)]


def test_validation_errors_name_the_attribute(commercelayer_hook):
    with pytest.raises(MetrikaClientError) as caught:
        commercelayer_hook.create_import("spaceships", SKUS)
    error = caught.value
    assert (error.status, error.error_type) == (422, "VALIDATION_ERROR")
    assert "resource_type" in error.message and "/data/attributes/resource_type" in error.message


def test_a_create_whose_answer_is_lost_is_not_resent_and_can_be_found(commercelayer_hook, commercelayer):
    commercelayer.inject_fault(method="POST", path="^/api/imports$", action="reset_after", times=1)
    with pytest.raises(MetrikaAmbiguousResponseError):
        commercelayer_hook.create_import("skus", SKUS, reference="fp-lost")
    (found,) = commercelayer_hook.find_imports("fp-lost")
    assert found.count("inputs_size") == 2
    assert len(commercelayer.call("GET", "commercelayer/imports")["imports"]) == 1


def test_secrets_stay_out_of_errors_and_logs_when_the_server_echoes_them(commercelayer, commercelayer_conn, caplog):
    caplog.set_level(logging.DEBUG)
    commercelayer.configure(echo_credentials=True, clients={CL_CLIENT_ID: "another-secret"})
    hook = CommerceLayerHook(commercelayer_conn, max_retries=0)
    with pytest.raises(MetrikaClientError) as caught:
        hook.access_token()
    assert caught.value.status == 401
    assert CL_CLIENT_SECRET not in str(caught.value) and CL_CLIENT_SECRET not in caplog.text
    assert "withheld" in str(caught.value)  # the echo was there, and withheld

    commercelayer.configure(clients=None)
    token = hook.access_token()
    commercelayer.inject_fault(
        path="^/api/imports$", action="status", status=401, error_type="INVALID_TOKEN", message=f"bad {token}", times=2
    )
    with pytest.raises(MetrikaClientError) as caught:
        list(hook.iter_imports())
    text = str(caught.value) + repr(caught.value) + caplog.text
    assert token not in text and hook.access_token() not in text


def test_connection_test_button(commercelayer, commercelayer_conn, monkeypatch, commercelayer_process):
    ok, message = CommerceLayerHook(commercelayer_conn).test_connection()
    assert ok, message
    commercelayer.configure(clients={CL_CLIENT_ID: "other"}, echo_credentials=True)
    from airflow_provider_metrika.commercelayer.auth import TOKENS

    TOKENS.clear()
    ok, message = CommerceLayerHook(commercelayer_conn).test_connection()
    assert not ok and "401" in message and CL_CLIENT_SECRET not in message
