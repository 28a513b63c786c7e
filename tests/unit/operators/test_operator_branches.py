"""Operator branches with a mocked hook: deferral, CDP outcomes, JSON inputs, parameter checks."""

import json

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError, MetrikaValidationError
from airflow_provider_metrika.operators import upload as upload_module
from airflow_provider_metrika.operators.cdp import (
    MetrikaUploadContactsOperator,
    MetrikaUploadOrdersOperator,
    MetrikaUploadSimpleOrdersOperator,
    format_columns_mapping,
)
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from airflow_provider_metrika.operators.user_params import MetrikaUploadUserParamsOperator
from airflow_provider_metrika.triggers.uploading import MetrikaUploadingTrigger
from airflow_provider_metrika.uploads import Uploading
from airflow_provider_metrika.version_compat import AirflowFailException, TaskDeferred
from tests.integration.conftest import FakeTaskInstance
from tests.rows import cdp_order


@pytest.fixture
def hook(mocker):
    instance = mocker.Mock()
    instance.resolve_counter_id.return_value = 5
    instance.iter_uploadings.return_value = iter(())
    mocker.patch.object(upload_module.MetrikaSendOperator, "hook_class", return_value=instance)
    return instance


@pytest.fixture
def context():
    return {"ti": FakeTaskInstance()}


def conversions_file(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("ClientId,Target,DateTime\n1,paid,1700000000\n")
    return str(path)


def test_wait_for_completion_defers_to_the_polling_trigger(hook, context, tmp_path):
    hook.upload_file.return_value = Uploading.from_api("offline_conversions", 5, {"id": 9, "status": "PREPARED"})
    op = MetrikaUploadOfflineConversionsOperator(
        task_id="up",
        src=conversions_file(tmp_path),
        stale_rows="warn",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=30,
        wait_timeout=600,
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, MetrikaUploadingTrigger)
    assert (trigger.kind, trigger.counter_id, trigger.uploading_ids) == ("offline_conversions", 5, ["9"])
    assert deferred.value.timeout.total_seconds() == 600
    assert context["ti"].xcom["uploading_id"] == ["9"]  # pushed before deferring, always a list
    result = {"vendor": "metrika", "ids": ["9"], "jobs": [], "warnings": []}
    done = {"status": "success", "terminal": True, "message": "ok", "warnings": [], "result": result}
    extras = deferred.value.kwargs["extras"]  # the send's extras come back with the event
    assert set(extras) == {"fingerprint", "source"}
    assert op.execute_complete(context, done, **deferred.value.kwargs) == {**result, **extras}
    with pytest.raises(AirflowFailException):
        op.execute_complete(context, {"status": "error", "terminal": True, "message": "LINKAGE_FAILURE"})


def test_src_and_rows_are_exclusive_and_one_is_required():
    with pytest.raises(MetrikaConfigError, match=r"src .* or rows"):
        MetrikaUploadOfflineConversionsOperator(task_id="a")
    with pytest.raises(MetrikaConfigError, match="not both"):
        MetrikaUploadOfflineConversionsOperator(task_id="b", src="x.csv", rows=[{}])


def test_unknown_validation_mode_is_refused():
    with pytest.raises(MetrikaConfigError, match="validation='fast'"):
        MetrikaUploadOfflineConversionsOperator(task_id="a", src="x.csv", validation="fast")


def test_user_params_confirms_only_unconfirmed_uploadings(hook, mocker):
    op = MetrikaUploadUserParamsOperator(task_id="p", src="x.csv")
    confirmed = Uploading.from_api("user_params", 5, {"id": 1, "status": "is_processed"})
    assert op.after_send(confirmed.to_record()) == confirmed.to_record()
    hook.confirm_user_params.assert_not_called()
    fresh = Uploading.from_api("user_params", 5, {"id": 1, "status": "uploaded", "action": "update", "comment": "c"})
    kept = Uploading.from_api("user_params", 5, {"id": 1, "status": "is_processed", "comment": "c"})
    hook.confirm_user_params.return_value = kept
    op.record_of(fresh)  # as the send or the search would have seen it
    assert op.after_send(fresh.to_record()) == kept.to_record()
    hook.confirm_user_params.assert_called_once_with(5, "1", {"action": "update", "comment": "c"})
    hook.get_uploading.assert_not_called()


def test_columns_mapping_format():
    assert format_columns_mapping({"uniq_id": "ID", "emails": "E-mail"}) == '"uniq_id":"ID","emails":"E-mail"'
    with pytest.raises(MetrikaConfigError, match="at least one"):
        format_columns_mapping({})
    with pytest.raises(MetrikaConfigError, match="without quotes"):
        format_columns_mapping({"uniq_id": 'a"b'})


def test_cdp_refuses_wait_for_completion():
    with pytest.raises(MetrikaConfigError, match="synchronously"):
        MetrikaUploadContactsOperator(task_id="c", src="x.csv", merge_mode="SAVE", wait_for_completion=True)


def test_cdp_bad_delimiter_type(hook, context, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("uniq_id\n1\n")
    with pytest.raises(MetrikaConfigError, match="delimiter_type='TAB'"):
        MetrikaUploadContactsOperator(task_id="c", src=str(path), merge_mode="SAVE", delimiter_type="TAB").execute(
            context
        )


def test_cdp_default_columns_mapping_is_the_files_header(hook, context, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("uniq_id;emails\n1;a@example.com\n")
    hook.upload_file.return_value = Uploading.from_api(
        "contacts", 5, {"uploading_id": "u", "api_validation_status": "PASSED", "elements_count": 1}
    )
    MetrikaUploadContactsOperator(task_id="c", src=str(path), merge_mode="save", delimiter_type="semicolon").execute(
        context
    )
    params = hook.upload_file.call_args.kwargs["params"]
    assert params == {
        "merge_mode": "SAVE",
        "delimiter_type": "SEMICOLON",
        "columns_mapping": '"uniq_id":"uniq_id","emails":"emails"',
    }


def test_simple_orders_send_no_columns_mapping(hook, context, tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,create_date_time,emails\n1,2026-11-20 10:00:00,a@example.com\n")
    hook.upload_file.return_value = Uploading.from_api(
        "simple_orders", 5, {"uploading_id": "u", "api_validation_status": "PASSED"}
    )
    MetrikaUploadSimpleOrdersOperator(task_id="s", src=str(path), merge_mode="APPEND").execute(context)
    assert "columns_mapping" not in hook.upload_file.call_args.kwargs["params"]


def test_orders_from_a_json_file_go_to_the_json_endpoint(hook, context, tmp_path):
    rows = [cdp_order(create_date_time="2026-11-20 10:00:00")]
    path = tmp_path / "orders.json"
    path.write_text(json.dumps({"orders": rows}))
    hook.upload_json.return_value = Uploading.from_api(
        "orders", 5, {"uploading_id": "u", "api_validation_status": "PASSED", "elements_count": 1}
    )
    result = MetrikaUploadOrdersOperator(task_id="o", src=str(path), merge_mode="UPDATE").execute(context)
    assert result["rows"] == 1
    kind, counter, body = hook.upload_json.call_args.args
    assert (kind, counter) == ("orders", 5) and body["orders"][0]["id"] == "o1"
    assert hook.upload_json.call_args.kwargs["params"] == {"merge_mode": "UPDATE"}


def test_json_file_that_is_not_json(hook, context, tmp_path):
    path = tmp_path / "orders.json"
    path.write_text("{not json")
    with pytest.raises(MetrikaValidationError, match=r"orders\.json: not valid JSON: expected a key in quotes"):
        MetrikaUploadOrdersOperator(task_id="o", src=str(path), merge_mode="SAVE").execute(context)
    hook.upload_json.assert_not_called()


def test_cdp_failed_without_details(hook, context, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("uniq_id\n1\n")
    hook.upload_file.return_value = Uploading.from_api(
        "contacts", 5, {"uploading_id": "u", "api_validation_status": "FAILED"}
    )
    with pytest.raises(AirflowFailException, match="no details given"):
        MetrikaUploadContactsOperator(task_id="c", src=str(path), merge_mode="SAVE").execute(context)


def test_cdp_json_retry_reattaches_through_the_task_state_store(hook, tmp_path):
    from tests.unit.operators.fakes import FakeStore

    rows = [cdp_order(create_date_time="2026-11-20 10:00:00")]
    passed = Uploading.from_api("orders", 5, {"uploading_id": "u1", "api_validation_status": "PASSED"})
    hook.upload_json.return_value = passed
    hook.iter_uploadings.side_effect = lambda kind, counter_id: iter([passed])
    context = {"ti": FakeTaskInstance(), "task_state_store": FakeStore()}
    first = MetrikaUploadOrdersOperator(task_id="o", rows=rows, merge_mode="APPEND").execute(context)
    again = MetrikaUploadOrdersOperator(task_id="o", rows=rows, merge_mode="APPEND").execute(context)
    assert first["ids"] == again["ids"] == ["u1"]
    hook.upload_json.assert_called_once()
    changed = [dict(rows[0], order_status="CANCELLED")]
    MetrikaUploadOrdersOperator(task_id="o", rows=changed, merge_mode="APPEND").execute(context)
    assert hook.upload_json.call_count == 2  # other data: a new upload


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"poll_interval": 0}, "poll_interval must be a finite number of seconds"),
        ({"poll_interval": 60, "max_poll_interval": 30}, "max_poll_interval"),
    ],
)
def test_poll_intervals_are_checked(kwargs, match):
    with pytest.raises(MetrikaConfigError, match=match):
        MetrikaUploadOfflineConversionsOperator(task_id="a", src="x.csv", **kwargs)


def test_cdp_refuses_a_comment():
    with pytest.raises(MetrikaConfigError, match="take no comment"):
        MetrikaUploadContactsOperator(task_id="c", src="x.csv", merge_mode="SAVE", comment="x")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"comment": "crm sync", "strict_comment": True}, "only Latin and Cyrillic letters and digits"),
        ({"stale_rows": "keep"}, "stale_rows"),
    ],
)
def test_rendered_parameters_are_checked_before_the_input_is_read(hook, context, mocker, kwargs, match):
    prepare = mocker.patch.object(MetrikaUploadOfflineConversionsOperator, "prepare_input")
    with pytest.raises(MetrikaConfigError, match=match):
        MetrikaUploadOfflineConversionsOperator(task_id="a", src="x.csv", **kwargs).execute(context)
    prepare.assert_not_called()
    hook.upload_file.assert_not_called()


def test_rows_are_resolved_but_not_kept_in_rendered_fields(hook, mocker):
    rows = [{"uniq_id": "c1", "emails": ["a@example.com"]}]
    hook.upload_json.return_value = Uploading.from_api(
        "contacts", 5, {"uploading_id": "u", "api_validation_status": "PASSED"}
    )
    op = MetrikaUploadContactsOperator(task_id="c", rows=rows, merge_mode="SAVE")
    context = {"ti": FakeTaskInstance()}
    mocker.patch("airflow_provider_metrika.version_compat.BaseOperator.render_template_fields")
    op.render_template_fields(context)
    op.render_template_fields(context)  # a second render must not lose the rows kept aside
    assert json.loads(op.rows) == {"rows": 1, "not_shown": "input data"}
    assert "a@example.com" not in str({f: getattr(op, f) for f in op.template_fields})
    op.execute(context)
    assert hook.upload_json.call_args.args[2]["contacts"][0]["uniq_id"] == "c1"
