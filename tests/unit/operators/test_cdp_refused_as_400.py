"""A CDP upload Metrika refuses as an HTTP 400 (instead of a FAILED answer) still writes the rejected rows."""

from __future__ import annotations

import csv

import pytest

from airflow_provider_metrika.exceptions import ApiClientError
from airflow_provider_metrika.operators.cdp import MetrikaUploadContactsOperator
from tests.integration.conftest import FakeTaskInstance


def contacts(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("uniq_id,emails\nc1,a@example.com\nc2,b@example.com\n")
    return path


def test_a_400_refusal_writes_metrikas_messages_with_the_cells_then_fails(hook, tmp_path):
    hook.upload_file.side_effect = ApiClientError(
        400, "invalid_uploading", "row 2: emails: not an email; the file has problems", "POST", "/cdp/contacts"
    )
    out = tmp_path / "rejected.csv"
    ti = FakeTaskInstance()
    op = MetrikaUploadContactsOperator(
        task_id="c", src=str(contacts(tmp_path)), merge_mode="SAVE", rejected_rows_path=str(out)
    )
    with pytest.raises(ApiClientError, match="not an email"):
        op.execute({"ti": ti})
    rows = list(csv.reader(out.open()))
    assert ["c2", "b@example.com"] in [row[-2:] for row in rows]
    assert any("the file has problems" in ",".join(row) for row in rows)
    assert ti.xcom["rejected_rows"]["path"] == str(out)


def test_a_400_without_a_path_writes_nothing_and_other_refusals_are_left_alone(hook, tmp_path):
    hook.upload_file.side_effect = ApiClientError(403, "access_denied", "no rights", "POST", "/cdp/contacts")
    out = tmp_path / "rejected.csv"
    ti = FakeTaskInstance()
    op = MetrikaUploadContactsOperator(
        task_id="c", src=str(contacts(tmp_path)), merge_mode="SAVE", rejected_rows_path=str(out)
    )
    with pytest.raises(ApiClientError):
        op.execute({"ti": ti})
    assert not out.exists() and "rejected_rows" not in ti.xcom
    hook.upload_file.side_effect = ApiClientError(400, "invalid_uploading", "row 2: bad", "POST", "/cdp/contacts")
    plain = MetrikaUploadContactsOperator(task_id="c", src=str(contacts(tmp_path)), merge_mode="SAVE")
    with pytest.raises(ApiClientError):
        plain.execute({"ti": ti})
    assert "rejected_rows" not in ti.xcom
