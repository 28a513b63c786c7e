"""The Commerce Layer client secret and access token never leave the hooks, the operator, the sensor or the trigger.

A hostile Commerce Layer (over loopback) issues a token, then quotes it — or the client secret — back in JSON:API
error bodies (``title``, ``detail``, ``code``, ``source.pointer``, split between fields, plain text) on every
status, in every encoding of :data:`ENCODINGS`, and in success bodies. Exception text, chained exceptions, log
records (DEBUG), XCom results, trigger kwargs and trigger events are checked for both secrets.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from airflow_provider_metrika.commercelayer.auth import TOKENS
from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
from airflow_provider_metrika.commercelayer.hooks_async import CommerceLayerAsyncHook
from airflow_provider_metrika.commercelayer.operators import CommerceLayerImportOperator
from airflow_provider_metrika.commercelayer.sensors import CommerceLayerImportSensor
from airflow_provider_metrika.commercelayer.triggers import CommerceLayerImportTrigger
from airflow_provider_metrika.exceptions import MetrikaError
from airflow_provider_metrika.version_compat import AirflowException, TaskDeferred
from tests.adversarial.hostile_server import ENCODINGS, TOKEN, Answer, error_texts, leaked
from tests.integration.conftest import FakeTaskInstance

CONN_ID = "commercelayer_hostile"
SECRET = "cl_secret_HostileClientSecretZq81Lw0Pn4Ty7"
SECRETS = {"access token": TOKEN, "client secret": SECRET}
STATUSES = (400, 401, 403, 422, 429, 500, 503)
PLACEMENTS = ("detail", "title", "code", "source.pointer", "split title/detail", "plain text")
JSONAPI = "application/vnd.api+json"


def jsonapi_error(status: int, placement: str, value: str) -> Answer:
    half = len(value) // 2
    error = {"title": "Invalid", "detail": "refused", "code": "INVALID", "status": str(status)}
    if placement == "plain text":
        return Answer(status, f"upstream said: {value}", content_type="text/plain")
    if placement == "source.pointer":
        error["source"] = {"pointer": value}
    elif placement == "split title/detail":
        error.update(title=value[:half], detail=value[half:])
    else:
        error[placement] = value
    return Answer(status, json.dumps({"errors": [error]}), content_type=JSONAPI)


def an_import(status="completed", **attributes):
    return {
        "id": "impAbc",
        "type": "imports",
        "attributes": {"status": status, "resource_type": "skus", "inputs_size": 1, "errors_count": 0, **attributes},
        "meta": {"mode": "test"},
    }


def token_answer() -> Answer:
    return Answer(200, json.dumps({"access_token": TOKEN, "token_type": "bearer", "expires_in": 7200}))


@pytest.fixture
def hostile_cl(hostile_server, monkeypatch):
    hostile_server.seen.clear()
    conn = {
        "conn_type": "commercelayer",
        "host": hostile_server.url,
        "login": "hostile-client",
        "password": SECRET,
        "extra": {"auth_url": hostile_server.url + "/oauth/token", "max_retries": 0, "timeout": 5},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    TOKENS.clear()
    yield hostile_server
    TOKENS.clear()


class Shown:
    """Everything shown to a user; checked for both secrets (and the server's exact quote) at the end."""

    def __init__(self, caplog):
        self.caplog = caplog
        self.texts: list[tuple[str, str]] = []

    def add(self, where, *texts):
        self.texts.extend((where, t if isinstance(t, str) else repr(t)) for t in texts)

    def check(self, quoted: str | None = None):
        for record in self.caplog.records:
            self.texts.append((f"log {record.name}", record.getMessage()))
        assert self.texts
        for where, text in self.texts:
            for name, secret in SECRETS.items():
                found = leaked(text, secret)
                assert found is None, f"the {name} leaked ({found}) into {where}: {text[:300]!r}"
            if quoted and len(quoted) >= 16:
                assert quoted not in text, f"the server's quote leaked into {where}: {text[:300]!r}"


@pytest.fixture
def shown(caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    return Shown(caplog)


def answering(server, api_answer):
    server.plan = lambda seen: token_answer() if seen.path == "/oauth/token" else api_answer


def sync_get():
    hook = CommerceLayerHook(CONN_ID)
    try:
        return hook.get_import("impAbc")
    finally:
        hook.close()


def sync_create():
    return CommerceLayerHook(CONN_ID).create_import("skus", [{"code": "A", "name": "a"}], reference="r")


def async_poll():
    async def run():
        async with CommerceLayerAsyncHook(CONN_ID) as hook:
            return await hook.imports_by_id(["impAbc"])

    return asyncio.run(run())


def operator_run():
    op = CommerceLayerImportOperator(
        task_id="imp",
        resource_type="skus",
        rows=[{"code": "A", "name": "a"}],
        commercelayer_conn_id=CONN_ID,
        deferrable=False,
    )
    return op.execute({"ti": FakeTaskInstance()})


CALLS = {"sync GET": sync_get, "sync create": sync_create, "async poll": async_poll, "operator": operator_run}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("secret", SECRETS)
def test_error_bodies_quoting_a_secret_on_any_status(hostile_cl, shown, call, placement, status, secret):
    answering(hostile_cl, jsonapi_error(status, placement, SECRETS[secret]))
    with pytest.raises((MetrikaError, AirflowException)) as caught:
        CALLS[call]()
    shown.add("the exception and its chain", *error_texts(caught.value))
    shown.check(SECRETS[secret])


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("secret", SECRETS)
def test_every_encoding_of_a_secret_is_withheld(hostile_cl, shown, encoding, secret):
    quoted = ENCODINGS[encoding](SECRETS[secret])
    answering(hostile_cl, jsonapi_error(422, "detail", quoted))
    with pytest.raises(MetrikaError) as caught:
        sync_get()
    shown.add("the exception and its chain", *error_texts(caught.value))
    shown.check(quoted)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_the_token_endpoint_quoting_the_client_secret(hostile_cl, shown, placement):
    hostile_cl.plan = lambda seen: jsonapi_error(401, placement, f"bad client {SECRET}")
    with pytest.raises(MetrikaError) as caught:
        sync_get()
    shown.add("the exception and its chain", *error_texts(caught.value))
    shown.check()


@pytest.mark.parametrize("field", ["reference", "status", "errors_log", "resource_type"])
def test_success_bodies_quoting_a_secret_stay_out_of_xcom_and_trigger_events(hostile_cl, shown, field):
    for name, secret in SECRETS.items():
        body = {"data": [an_import(**{field: {"k": {"name": [secret]}} if field == "errors_log" else secret})]}
        answering(hostile_cl, Answer(200, json.dumps(body), content_type=JSONAPI))
        sensor = CommerceLayerImportSensor(
            task_id="wait", import_id="impAbc", commercelayer_conn_id=CONN_ID, deferrable=False, max_error_ratio=1
        )
        try:
            result = sensor.poke({}).xcom_value
        except (MetrikaError, AirflowException) as error:
            shown.add(f"sensor failure ({name})", *error_texts(error))
        else:
            shown.add(f"sensor XCom ({name})", json.dumps(result, ensure_ascii=False))
        trigger = CommerceLayerImportTrigger(conn_id=CONN_ID, scope="x", job_ids=["impAbc"], max_error_ratio=1)

        async def first(current=trigger):
            return (await anext(current.run())).payload

        shown.add(f"trigger event ({name})", json.dumps(asyncio.run(first()), ensure_ascii=False))
    shown.check()


def test_trigger_kwargs_and_the_deferral_hold_no_secret(hostile_cl, shown):
    created = {"data": an_import("pending")}
    listing = {"data": [], "meta": {"record_count": 0, "page_count": 1}}

    def plan(seen):
        if seen.path == "/oauth/token":
            return token_answer()
        if seen.method == "POST":
            return Answer(201, json.dumps(created), content_type=JSONAPI)
        return Answer(200, json.dumps(listing), content_type=JSONAPI)

    hostile_cl.plan = plan
    op = CommerceLayerImportOperator(
        task_id="imp",
        resource_type="skus",
        rows=[{"code": "A", "name": "a"}],
        commercelayer_conn_id=CONN_ID,
        deferrable=True,
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": FakeTaskInstance()})
    shown.add("trigger kwargs", repr(deferred.value.trigger.serialize()), repr(deferred.value))
    shown.add("rendered fields", *(repr(getattr(op, name)) for name in op.template_fields))
    shown.check()
