"""The user-params confirm body: fingerprinted comment, lower-case content_id_type, read back, triples."""

from __future__ import annotations

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.jobs.sending import with_fingerprint
from airflow_provider_metrika.operators import upload as upload_module
from airflow_provider_metrika.operators.user_params import MetrikaUploadUserParamsOperator
from airflow_provider_metrika.uploads import Uploading
from tests.integration.conftest import FakeTaskInstance
from tests.xcom import only_job


def uploading(**fields) -> Uploading:
    return Uploading.from_api("user_params", 5, {"id": 1, **fields})


@pytest.fixture
def warning(warnings_of):
    return warnings_of(MetrikaUploadUserParamsOperator)


def params_file(tmp_path, content="ClientId,tier\n1,gold\n"):
    path = tmp_path / "p.csv"
    path.write_text(content)
    return str(path)


def test_confirm_carries_the_fingerprinted_comment_even_when_the_upload_dropped_it(hook, tmp_path, warning):
    hook.upload_file.return_value = uploading(status="uploaded", comment="", content_id_type="CLIENT_ID")

    def confirm(counter_id, uploading_id, body):
        return uploading(status="is_processed", comment=body["comment"])

    hook.confirm_user_params.side_effect = confirm
    op = MetrikaUploadUserParamsOperator(task_id="p", src=params_file(tmp_path), comment="crm")
    result = op.execute({"ti": FakeTaskInstance()})
    sent_comment = hook.upload_file.call_args.kwargs["params"]["comment"]
    assert sent_comment.startswith("crmafm")
    body = hook.confirm_user_params.call_args.args[2]
    assert body == {"action": "update", "comment": sent_comment, "content_id_type": "client_id"}
    assert only_job(result)["comment"] == sent_comment and only_job(result)["status"] == "is_processed"
    assert not any("did not keep" in str(call.args[0]) for call in warning.call_args_list)


def test_declared_content_id_type_wins_and_is_lower_cased(hook, tmp_path):
    hook.upload_file.return_value = uploading(status="uploaded", comment="x", content_id_type="client_id")
    hook.confirm_user_params.side_effect = lambda c, u, body: uploading(status="is_processed", comment=body["comment"])
    op = MetrikaUploadUserParamsOperator(task_id="p", src=params_file(tmp_path), content_id_type="USER_ID")
    op.execute({"ti": FakeTaskInstance()})
    assert hook.confirm_user_params.call_args.args[2]["content_id_type"] == "user_id"


def test_a_comment_that_did_not_stick_is_read_back_then_warned_about(hook, tmp_path, warning):
    hook.upload_file.return_value = uploading(status="uploaded", comment="")
    hook.confirm_user_params.return_value = uploading(status="is_processed", comment="")
    hook.get_uploading.return_value = uploading(status="is_processed", comment="")
    op = MetrikaUploadUserParamsOperator(task_id="p", src=params_file(tmp_path))
    op.execute({"ti": FakeTaskInstance()})
    hook.get_uploading.assert_called_once_with("user_params", 5, "1")
    assert "did not keep the comment" in warning.call_args.args[0]


def test_a_comment_only_a_fresh_read_shows_is_accepted(hook, tmp_path, warning):
    hook.upload_file.return_value = uploading(status="uploaded", comment="")
    hook.confirm_user_params.return_value = uploading(status="is_processed", comment="")

    def read_back(kind, counter_id, uploading_id):
        return uploading(status="is_processed", comment=hook.confirm_user_params.call_args.args[2]["comment"])

    hook.get_uploading.side_effect = read_back
    op = MetrikaUploadUserParamsOperator(task_id="p", src=params_file(tmp_path))
    result = op.execute({"ti": FakeTaskInstance()})
    assert only_job(result)["comment"].startswith("afm")
    assert not any("did not keep" in str(call.args[0]) for call in warning.call_args_list)


def test_header_less_triples_need_a_declared_content_id_type(hook, tmp_path):
    src = params_file(tmp_path, '"P1","age",42\n"P1","city","Msk"\n')
    with pytest.raises(MetrikaConfigError, match="content_id_type='client_id' or 'user_id'"):
        MetrikaUploadUserParamsOperator(task_id="p", src=src).execute({"ti": FakeTaskInstance()})
    hook.upload_file.assert_not_called()


def test_header_less_triples_with_a_declared_id_type_are_confirmed_with_it(hook, tmp_path):
    src = params_file(tmp_path, '"P1","age",42\n"P1","city","Msk"\n')
    hook.upload_file.return_value = uploading(status="uploaded", comment="", content_id_type="")
    hook.confirm_user_params.side_effect = lambda c, u, body: uploading(status="is_processed", comment=body["comment"])
    MetrikaUploadUserParamsOperator(task_id="p", src=src, content_id_type="user_id").execute({"ti": FakeTaskInstance()})
    assert hook.confirm_user_params.call_args.args[2]["content_id_type"] == "user_id"


@pytest.mark.parametrize("value", ["email", "CLIENTID", ""])
def test_unknown_content_id_type_is_refused_before_reading(hook, tmp_path, value):
    with pytest.raises(MetrikaConfigError, match="content_id_type"):
        MetrikaUploadUserParamsOperator(task_id="p", src=params_file(tmp_path), content_id_type=value).execute(
            {"ti": FakeTaskInstance()}
        )
    hook.upload_file.assert_not_called()


def test_journal_reattach_confirms_with_the_recorded_fingerprint(hook, tmp_path, mocker):
    op = MetrikaUploadUserParamsOperator(task_id="p", src=params_file(tmp_path), comment="crm")
    unconfirmed = with_fingerprint(uploading(status="uploaded", comment="").to_record(), "afm" + "1" * 20)
    mocker.patch.object(upload_module.MetrikaSendOperator, "reattach", return_value=[unconfirmed])
    hook.confirm_user_params.side_effect = lambda c, u, body: uploading(status="is_processed", comment=body["comment"])
    op.execute({"ti": FakeTaskInstance()})
    assert hook.confirm_user_params.call_args.args[2]["comment"] == "crm" + "afm" + "1" * 20
    hook.upload_file.assert_not_called()
