"""Without columns_mapping, CDP CSV uploads map the system attributes and the declared custom ones only."""

from __future__ import annotations

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.operators.cdp import MetrikaUploadContactsOperator, MetrikaUploadOrdersOperator
from airflow_provider_metrika.uploads import Uploading
from tests.integration.conftest import FakeTaskInstance


@pytest.fixture
def hook(hook):
    hook.upload_file.return_value = Uploading.from_api(
        "contacts", 5, {"uploading_id": "u", "api_validation_status": "PASSED"}
    )
    return hook


@pytest.fixture
def warning(warnings_of):
    return warnings_of(MetrikaUploadContactsOperator)


def contacts(tmp_path, header="uniq_id,emails,note,age"):
    path = tmp_path / "contacts.csv"
    path.write_text(f"{header}\n" + ",".join(["c1", "a@b.ru", "x", "1"][: len(header.split(","))]) + "\n")
    return str(path)


def test_unknown_columns_are_left_out_with_a_warning(hook, warning, tmp_path):
    MetrikaUploadContactsOperator(task_id="c", src=contacts(tmp_path), merge_mode="SAVE").execute(
        {"ti": FakeTaskInstance()}
    )
    assert hook.upload_file.call_args.kwargs["params"]["columns_mapping"] == '"uniq_id":"uniq_id","emails":"emails"'
    message = warning.call_args.args[0] % warning.call_args.args[1:]
    assert "'note', 'age'" in message and "CONTACT system attributes" in message


def test_declared_custom_attributes_are_mapped(hook, warning, tmp_path):
    MetrikaUploadContactsOperator(
        task_id="c", src=contacts(tmp_path), merge_mode="SAVE", custom_attributes=["age"]
    ).execute({"ti": FakeTaskInstance()})
    assert hook.upload_file.call_args.kwargs["params"]["columns_mapping"].endswith('"age":"age"')
    assert "'note'" in warning.call_args.args[0] % warning.call_args.args[1:]


def test_a_file_without_any_attribute_column_needs_a_mapping(hook, tmp_path):
    op = MetrikaUploadContactsOperator(
        task_id="c", src=contacts(tmp_path, "ID,Email"), merge_mode="SAVE", validation="none"
    )
    with pytest.raises(MetrikaConfigError, match="no column is named like a Metrika CONTACT attribute"):
        op.execute({"ti": FakeTaskInstance()})
    hook.upload_file.assert_not_called()


def test_custom_attributes_must_be_a_list(hook, tmp_path):
    op = MetrikaUploadContactsOperator(task_id="c", src=contacts(tmp_path), merge_mode="SAVE", custom_attributes="age")
    with pytest.raises(MetrikaConfigError, match="custom_attributes must be a list"):
        op.execute({"ti": FakeTaskInstance()})


def test_orders_operator_passes_declared_statuses_to_the_validator():
    op = MetrikaUploadOrdersOperator(task_id="o", src="o.csv", merge_mode="SAVE", order_statuses={"new": "PAID"})
    assert op.validation_options().order_statuses == {"new"}
    assert (
        MetrikaUploadOrdersOperator(task_id="o", src="o.csv", merge_mode="SAVE").validation_options().order_statuses
        is None
    )
