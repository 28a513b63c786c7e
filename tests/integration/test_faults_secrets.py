"""The OAuth token never shows: not in any log line, exception text, XCom, template field or trigger kwargs.

Every path runs against the emulator with faults whose messages echo the token back
(the worst case: a server quoting the credential), while every log record (root logger
at DEBUG) and everything written to stdout/stderr is captured.
"""

from __future__ import annotations

import json
import logging
import socket

import pytest

from airflow_provider_metrika.emulator.testing import TEST_TOKEN
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from airflow_provider_metrika.sensors.uploading import MetrikaUploadingSensor
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger
from airflow_provider_metrika.version_compat import TaskDeferred
from tests.integration.conftest import FakeTaskInstance
from tests.reliability.support import (
    COUNTER,
    GET_PATH,
    UPLOAD_PATH,
    TriggerTime,
    conversions_csv,
    point_connection,
    quick_retries,
    run_trigger,
)

pytestmark = pytest.mark.integration
ECHO = f"token {TEST_TOKEN} rejected (Authorization: OAuth {TEST_TOKEN})"


@pytest.fixture
def seen(caplog, capsys):
    """Strings a test exposes; on teardown they, every log record and all console output must lack the token."""
    caplog.set_level(logging.DEBUG)
    exposed: list[str] = []
    yield exposed
    out, err = capsys.readouterr()
    records = caplog.get_records("setup") + caplog.get_records("call")
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logged = "\n".join(formatter.format(record) for record in records)
    for where, text in [
        ("log records", logged),
        ("stdout", out),
        ("stderr", err),
        *((f"exposed[{i}]", s) for i, s in enumerate(exposed)),
    ]:
        assert TEST_TOKEN not in text, f"the token leaked into {where}"
    assert exposed and (records or out)  # something was captured: an empty capture would prove nothing


@pytest.fixture
def conn(emulator, emulator_process, monkeypatch):
    quick_retries(monkeypatch, max_retries=1)
    return point_connection(monkeypatch, emulator_process.url, timeout=1, max_retries=0)


def outcome_texts(run) -> list[str]:
    """What running ``run()`` exposes: its result as JSON, or the texts of its error."""
    try:
        return [json.dumps(run(), default=repr)]
    except Exception as error:
        return error_texts(error)


def error_texts(error: BaseException) -> list[str]:
    """str and repr of the error and of everything it wraps."""
    texts, current, hops = [], error, 0
    while current is not None and hops < 10:
        texts += [str(current), repr(current), repr(getattr(current, "args", ()))]
        current, hops = current.__cause__ or current.__context__, hops + 1
    return texts


def operator(path, **kwargs):
    kwargs.setdefault("comment", "crm")
    return MetrikaUploadOfflineConversionsOperator(task_id="up", src=str(path), poll_interval=60, **kwargs)


def test_upload_and_blocking_wait(conn, emulator, emulated_waits, tmp_path, seen):
    ti = FakeTaskInstance()
    conversions_csv(tmp_path / "c20260101.csv")
    op = operator(
        str(tmp_path / "c{{ ds_nodash }}.csv"), comment="crm{{ ds_nodash }}", wait_for_completion=True, deferrable=False
    )
    op.render_template_fields({"ti": ti, "ds_nodash": "20260101"})
    emulator.inject_fault(method="GET", path=GET_PATH, action="status", status=503, message=ECHO, times=2)
    result = op.execute({"ti": ti})
    seen += [json.dumps(result), json.dumps(ti.xcom), repr(op), *(repr(getattr(op, f)) for f in op.template_fields)]


@pytest.mark.parametrize(
    ("fault", "kwargs"),
    [
        ({"method": "POST", "path": UPLOAD_PATH, "action": "status", "status": 403, "error_type": "invalid_token"}, {}),
        ({"method": "POST", "path": UPLOAD_PATH, "action": "status", "status": 500}, {}),
        ({"method": "POST", "path": UPLOAD_PATH, "action": "quota", "times": None}, {}),
        ({"method": "POST", "path": UPLOAD_PATH, "action": "reset_after"}, {"comment": "bad;comment"}),
        ({"method": "POST", "path": UPLOAD_PATH, "action": "drop_response", "seconds": 2}, {}),
        (
            {"method": "GET", "path": GET_PATH, "action": "status", "status": 404, "error_type": "not_found"},
            {"wait_for_completion": True, "deferrable": False},
        ),
        ({"method": "GET", "path": r"/uploadings$", "action": "status", "status": 502, "times": None}, {}),
    ],
)
def test_operator_under_faults(conn, emulator, emulated_waits, tmp_path, seen, fault, kwargs):
    emulator.inject_fault(message=ECHO, **fault)
    op = operator(conversions_csv(tmp_path / "c.csv"), **kwargs)
    seen += outcome_texts(lambda: op.execute({"ti": FakeTaskInstance()}))


def test_linkage_failure(conn, emulator, emulated_waits, tmp_path, seen):
    path = tmp_path / "c.csv"
    path.write_text(
        "ClientId,Target,DateTime\nunknown1,paid,1763900000\n".replace("1763900000", str(int(emulator.now()) - 3600))
    )
    with pytest.raises(Exception) as info:
        operator(path, wait_for_completion=True, deferrable=False).execute({"ti": FakeTaskInstance()})
    seen += error_texts(info.value)


async def test_deferral_trigger_run_and_serialize(conn, emulator, monkeypatch, tmp_path, seen):
    op = operator(conversions_csv(tmp_path / "c.csv"), wait_for_completion=True, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": FakeTaskInstance()})
    trigger = deferred.value.trigger
    seen += [repr(trigger.serialize()), repr(deferred.value), repr(trigger)]
    emulator.inject_fault(
        method="GET", path=r"/offline_conversions/uploading", action="status", status=502, message=ECHO, times=2
    )
    clock = TriggerTime(emulator).install(monkeypatch)
    payload, _ = await run_trigger(trigger, clock, restart_after=1)
    seen += [json.dumps(payload), json.dumps(op.execute_complete({}, payload))]
    emulator.inject_fault(
        method="GET",
        path=r"/offline_conversions/uploading",
        action="status",
        status=401,
        error_type="invalid_token",
        message=ECHO,
        times=None,
    )
    failed, _ = await run_trigger(MetrikaUploadingTrigger(**trigger.serialize()[1]), clock)
    assert failed["status"] == "error"
    seen += [json.dumps(failed)]


def test_sensor_poke(conn, emulator, tmp_path, seen):
    result = operator(conversions_csv(tmp_path / "c.csv")).execute({"ti": FakeTaskInstance()})
    sensor = MetrikaUploadingSensor(task_id="wait", uploading_id=result, deferrable=False)
    seen += [repr(sensor.poke({}))]
    emulator.inject_fault(
        method="GET", path=GET_PATH, action="status", status=403, error_type="access_denied", message=ECHO
    )
    with pytest.raises(Exception) as info:
        sensor.poke({})
    seen += error_texts(info.value)


def test_hook_errors_of_every_kind(conn, emulator, tmp_path, seen, monkeypatch):
    hook = MetrikaHook(conn)
    for fault in [
        {"action": "status", "status": 400},
        {"action": "status", "status": 503},
        {"action": "quota", "status": 420},
        {"action": "reset_after"},
        {"action": "reset_before"},
    ]:
        emulator.inject_fault(method="GET", path=GET_PATH, message=ECHO, times=None, **fault)
        with pytest.raises(Exception) as info:
            hook.get_uploading("offline_conversions", COUNTER, "1")
        seen += error_texts(info.value)
        emulator.clear_faults()
    seen += [repr(hook), repr(hook.settings), repr(vars(hook).get("settings")), str(hook.test_connection())]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    point_connection(monkeypatch, f"http://127.0.0.1:{port}")
    closed = MetrikaHook(conn)
    with pytest.raises(Exception) as info:
        closed.upload_file("offline_conversions", COUNTER, conversions_csv(tmp_path / "c.csv"))
    seen += [*error_texts(info.value), str(closed.test_connection())]
