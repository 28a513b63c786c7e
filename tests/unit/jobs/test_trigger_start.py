"""Waits started by the scheduler in the triggerer: ids from XCom as templates, rendered in the triggerer."""

from __future__ import annotations

import datetime
import json

import pytest

from airflow_provider_metrika.exceptions import ProviderConfigError
from airflow_provider_metrika.jobs import trigger_start
from airflow_provider_metrika.jobs.trigger_start import (
    RendersJobIds,
    end_of_task,
    ids_for_trigger,
    read_rendered_ids,
    require_rendering,
    start_trigger_args,
)
from airflow_provider_metrika.version_compat import BaseTrigger, TriggerEvent

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:  # Airflow 2
    from airflow.operators.empty import EmptyOperator

RESULT = {"vendor": "metrika", "ids": ["7", "8"], "jobs": [], "warnings": []}


class IdsTrigger(RendersJobIds, BaseTrigger):
    def __init__(self, job_ids, scope="12345"):
        super().__init__()
        self.job_ids = job_ids
        self.scope = scope

    def serialize(self):
        return f"{__name__}.IdsTrigger", {"job_ids": self.job_ids, "scope": self.scope}

    async def run(self):
        yield TriggerEvent({"ids": self.job_ids})


class FakeTi:
    def __init__(self, value):
        self.value = value
        self.pulled = []

    def xcom_pull(self, task_ids=None, key="return_value", map_indexes=None):
        self.pulled.append((task_ids, key, map_indexes))
        return self.value


def upstream_output(key=None):
    with DAG("d", schedule=None, start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)):
        upload = EmptyOperator(task_id="upload")
    return upload.output if key is None else upload.output[key]


def test_an_upstream_output_becomes_a_template_that_pulls_it_as_json():
    assert ids_for_trigger(upstream_output(), parameter="uploading_id") == (
        "{{ ti.xcom_pull(task_ids='upload', key='return_value', map_indexes=-1) | tojson }}"
    )
    assert "key='uploading_id'" in ids_for_trigger(upstream_output("uploading_id"), parameter="uploading_id")


def test_literal_ids_and_templates_pass_through():
    assert ids_for_trigger(["1", 2], parameter="uploading_id") == ["1", "2"]
    assert ids_for_trigger("{{ params.ids }}", parameter="uploading_id") == "{{ params.ids }}"
    with pytest.raises(ProviderConfigError, match="uploading_id"):
        ids_for_trigger({"no": "ids"}, parameter="uploading_id")


@pytest.mark.parametrize(
    ("rendered", "ids"),
    [
        (json.dumps(RESULT), ["7", "8"]),  # | tojson of a JobsResult
        (repr(RESULT), ["7", "8"]),  # a plain xcom_pull renders the dict's repr
        ("42", ["42"]),
        (" 42 ", ["42"]),
        ("['1', '2']", ["1", "2"]),
        ("abc-1", ["abc-1"]),  # one id that is neither JSON nor a literal
        (["5"], ["5"]),  # a native rendering (render_template_as_native_obj)
    ],
)
def test_rendered_ids_are_read_back(rendered, ids):
    assert read_rendered_ids(rendered, parameter="job_ids") == ids


@pytest.mark.parametrize("rendered", ["", "None", "[]", "null", '{"ids": []}', "{'what': 1}"])
def test_a_rendering_without_ids_is_a_clear_error(rendered):
    with pytest.raises(ProviderConfigError, match="job_ids"):
        read_rendered_ids(rendered, parameter="job_ids")


def test_a_huge_rendering_is_refused_unparsed(monkeypatch):
    monkeypatch.setattr(trigger_start, "MAX_RENDERED_CHARS", 10)
    with pytest.raises(ProviderConfigError, match="characters long"):
        read_rendered_ids("[" + "1," * 20 + "1]", parameter="job_ids")


def test_the_triggerer_renders_the_ids_from_xcom():
    if not trigger_start.TRIGGER_RENDERS_TEMPLATES:  # Airflow 2.11: its triggerer renders nothing
        assert not hasattr(BaseTrigger, "render_template_fields")
        return
    ti = FakeTi(RESULT)
    trigger = IdsTrigger(ids_for_trigger(upstream_output(), parameter="uploading_id"))
    trigger.render_template_fields({"ti": ti, "task_instance": ti})
    assert trigger.job_ids == ["7", "8"]
    assert ti.pulled == [("upload", "return_value", -1)]


def test_airflow_2_refuses_ids_only_the_triggerer_could_render(monkeypatch):
    monkeypatch.setattr(trigger_start, "TRIGGER_RENDERS_TEMPLATES", False)
    with pytest.raises(ProviderConfigError, match=r"Airflow 2\.11 does not render"):
        require_rendering("uploading_id", upstream_output())
    with pytest.raises(ProviderConfigError, match="uploading_id"):
        require_rendering("uploading_id", "{{ ti.xcom_pull('upload') }}")
    require_rendering("uploading_id", "42")
    require_rendering("uploading_id", ["1", "2"])
    monkeypatch.setattr(trigger_start, "TRIGGER_RENDERS_TEMPLATES", True)
    require_rendering("uploading_id", upstream_output())


def test_start_trigger_args_carry_the_trigger_and_the_timeout():
    args = start_trigger_args(IdsTrigger("{{ x }}"), timeout=60)
    assert args.trigger_cls == f"{__name__}.IdsTrigger"
    assert args.trigger_kwargs == {"job_ids": "{{ x }}", "scope": "12345"}
    assert args.next_method == "execute_complete" and args.timeout == datetime.timedelta(seconds=60)
    assert start_trigger_args(IdsTrigger(["1"]), timeout=None).timeout is None


def test_a_success_ends_the_task_in_the_triggerer_a_failure_resumes_on_a_worker():
    from airflow.triggers.base import BaseTaskEndEvent, TaskSuccessEvent

    success = end_of_task({"status": "success", "result": RESULT})
    assert isinstance(success, TaskSuccessEvent) and success.xcoms == {"return_value": RESULT}
    failure = {"status": "error", "terminal": True, "message": "linkage failure", "warnings": [], "result": RESULT}
    resumed = end_of_task(failure)
    assert not isinstance(resumed, BaseTaskEndEvent) and resumed.payload == failure
