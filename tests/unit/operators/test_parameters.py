"""Parameter abuse: every operator and the sensor refuse a bad value with a message naming the parameter,
at construction when the value is known, after rendering (before any request) when it is templated."""

from __future__ import annotations

import math
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.operators.cdp import (
    MetrikaUploadContactsOperator,
    MetrikaUploadOrdersOperator,
    MetrikaUploadSimpleOrdersOperator,
)
from airflow_provider_metrika.operators.expenses import MetrikaReplaceExpensesOperator, MetrikaUploadExpensesOperator
from airflow_provider_metrika.operators.upload import (
    MetrikaUploadCallsOperator,
    MetrikaUploadChatsOperator,
    MetrikaUploadOfflineConversionsOperator,
)
from airflow_provider_metrika.operators.user_params import MetrikaUploadUserParamsOperator
from airflow_provider_metrika.parameters import check_poll_intervals
from airflow_provider_metrika.sensors.uploading import MetrikaUploadingSensor
from tests.integration.conftest import FakeTaskInstance

CDP = (MetrikaUploadContactsOperator, MetrikaUploadOrdersOperator, MetrikaUploadSimpleOrdersOperator)
OPERATORS = {
    MetrikaUploadOfflineConversionsOperator: {},
    MetrikaUploadCallsOperator: {},
    MetrikaUploadChatsOperator: {},
    MetrikaUploadUserParamsOperator: {},
    MetrikaUploadExpensesOperator: {},
    MetrikaReplaceExpensesOperator: {"date_from": "2026-11-01"},
    **{cls: {"merge_mode": "SAVE"} for cls in CDP},
}
NAN, INF = float("nan"), float("inf")

WAITING_ABUSE = [
    ("poll_interval", NAN, "poll_interval must be a finite number of seconds"),
    ("poll_interval", INF, "poll_interval must be a finite number of seconds"),
    ("poll_interval", -INF, "poll_interval must be a finite number of seconds"),
    ("poll_interval", 0, "poll_interval must be a finite number of seconds, more than zero"),
    ("poll_interval", "60", "poll_interval must be a number of seconds, not str"),
    ("poll_interval", True, "poll_interval must be a number of seconds, not a boolean"),
    ("max_poll_interval", NAN, "max_poll_interval must be a finite number"),
    ("max_poll_interval", INF, "max_poll_interval must be a finite number"),
    ("max_poll_interval", 1, "max_poll_interval (1) must not be below poll_interval"),
    ("wait_timeout", -1, "wait_timeout must be a finite number of seconds"),
    ("wait_timeout", NAN, "wait_timeout must be a finite number of seconds"),
    ("max_consecutive_failures", -1, "max_consecutive_failures must be a whole number of at least 0"),
    ("max_consecutive_failures", 1.5, "max_consecutive_failures must be a whole number"),
    ("max_consecutive_failures", "3", "max_consecutive_failures must be a whole number"),
]


def make(cls, **kwargs):
    return cls(task_id="t", src="x.csv", **{**OPERATORS[cls], **kwargs})


@pytest.mark.parametrize("cls", list(OPERATORS), ids=lambda cls: cls.__name__)
@pytest.mark.parametrize(("param", "value", "fragment"), WAITING_ABUSE, ids=lambda v: repr(v)[:20])
def test_every_operator_refuses_bad_waiting_parameters_at_construction(cls, param, value, fragment):
    if cls in CDP:  # synchronous: the CDP operators take no waiting parameter at all, and say so
        fragment = f"{param}: Metrika validates CRM uploads synchronously"
    with pytest.raises(MetrikaConfigError, match=None) as raised:
        make(cls, **{param: value})
    assert fragment in str(raised.value)


SENSOR_ABUSE = [
    ("poke_interval", NAN, "poke_interval must be a finite number of seconds"),
    ("poke_interval", INF, "poke_interval must be a finite number of seconds"),
    ("poke_interval", -5, "poke_interval must be a finite number of seconds"),
    ("max_poll_interval", NAN, "max_poll_interval must be a finite number"),
    ("timeout", -1, "timeout must be a finite number of seconds"),
    ("timeout", NAN, "timeout must be a finite number of seconds"),
    ("max_consecutive_failures", -1, "max_consecutive_failures must be a whole number of at least 0"),
]


@pytest.mark.parametrize(("param", "value", "fragment"), SENSOR_ABUSE, ids=lambda v: repr(v)[:20])
def test_the_sensor_refuses_bad_waiting_parameters_at_construction(param, value, fragment):
    with pytest.raises(MetrikaConfigError) as raised:
        MetrikaUploadingSensor(task_id="s", uploading_id="1", **{param: value})
    assert fragment in str(raised.value)


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-(10**6), max_value=10**6))
def test_a_poll_interval_is_accepted_exactly_when_finite_and_positive(value):
    good = math.isfinite(value) and value > 0
    try:
        check_poll_intervals(value)
    except MetrikaConfigError as error:
        assert not good and "poll_interval" in str(error)
    else:
        assert good


NON_CDP = [cls for cls in OPERATORS if cls not in CDP]


@pytest.mark.parametrize("cls", NON_CDP, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("value", [5, ["crm"], {"a": 1}], ids=["int", "list", "dict"])
def test_a_comment_of_another_type_is_refused_at_construction(cls, value):
    with pytest.raises(MetrikaConfigError, match=f"comment must be text, not {type(value).__name__}"):
        make(cls, comment=value)


@pytest.mark.parametrize("cls", NON_CDP, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("rendered", [5, ["crm"]], ids=["int", "list"])
def test_a_templated_comment_that_renders_to_another_type_is_refused_before_any_request(hook, cls, rendered):
    operator = make(cls, comment="{{ ti.xcom_pull('x') }}")
    operator.comment = rendered  # what native rendering or an XCom could give
    with pytest.raises(MetrikaConfigError, match=f"comment must be text, not {type(rendered).__name__}"):
        operator.execute({"ti": FakeTaskInstance()})
    hook.upload_file.assert_not_called()
    hook.resolve_counter_id.assert_not_called()


@pytest.mark.parametrize("cls", NON_CDP, ids=lambda cls: cls.__name__)
def test_a_comment_from_another_tasks_output_is_checked_once_resolved(hook, cls):
    from airflow_provider_metrika.version_compat import XComArg

    comment = mock.MagicMock(spec=XComArg)  # e.g. extract_task()["comment"]: resolved when the task runs
    operator = make(cls, comment=comment)
    assert operator.comment is comment
    operator.comment = 5  # what the other task might have returned
    with pytest.raises(MetrikaConfigError, match="comment must be text, not int"):
        operator.execute({"ti": FakeTaskInstance()})
    hook.upload_file.assert_not_called()


MAPPING = {"uniq_id": "ID", "emails": "Email"}


@pytest.mark.parametrize("cls", [MetrikaUploadContactsOperator, MetrikaUploadOrdersOperator], ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "given", ['{"uniq_id": "ID", "emails": "Email"}', '"uniq_id":"ID","emails":"Email"', MAPPING], ids=str
)
def test_a_columns_mapping_json_object_string_is_accepted_and_parsed(cls, given):
    assert make(cls, columns_mapping=given).columns_mapping == MAPPING


@pytest.mark.parametrize("cls", CDP, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize(
    ("value", "fragment"),
    [(5, "not int 5"), (["uniq_id", "ID"], "not list"), ("[1, 2]", "not list"), ("not json", "neither JSON")],
    ids=["int", "list", "json-list", "text"],
)
def test_a_columns_mapping_of_another_type_is_refused_at_construction(cls, value, fragment):
    with pytest.raises(MetrikaConfigError, match="columns_mapping") as raised:
        make(cls, columns_mapping=value)
    assert fragment in str(raised.value)


def test_a_templated_columns_mapping_is_checked_after_rendering_before_any_request(hook, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("ID,Email\nc1,a@b.ru\n")
    operator = MetrikaUploadContactsOperator(
        task_id="c", src=str(path), merge_mode="SAVE", columns_mapping="{{ var.value.mapping }}"
    )
    operator.columns_mapping = 42
    with pytest.raises(MetrikaConfigError, match=r"columns_mapping must map .* not int 42"):
        operator.execute({"ti": FakeTaskInstance()})
    hook.upload_file.assert_not_called()
    operator.columns_mapping = '{"uniq_id": "ID", "emails": "Email"}'  # rendered to a JSON object: accepted
    hook.upload_file.return_value = None
    with pytest.raises(Exception) as raised:  # the mock's answer is no uploading; the request was made
        operator.execute({"ti": FakeTaskInstance()})
    assert not isinstance(raised.value, MetrikaConfigError)
    assert hook.upload_file.call_args.kwargs["params"]["columns_mapping"] == '"uniq_id":"ID","emails":"Email"'


def test_cdp_operators_still_refuse_any_comment():
    for cls in CDP:
        with pytest.raises(MetrikaConfigError, match="take no comment"):
            make(cls, comment="x")
