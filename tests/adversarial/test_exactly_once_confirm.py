"""User params: a confirm whose answer is lost is resent, and "already confirmed" is success, not a failure.

Against the emulator: the first confirm is handled and then its connection is reset (the
answer is lost); the hook resends it, Metrika answers 400 "already confirmed", and the
operator reads the uploading back and carries on. An uploading that is *not* confirmed
still fails on a 400.
"""

from __future__ import annotations

import pytest

from airflow_provider_metrika.exceptions import MetrikaClientError
from airflow_provider_metrika.hooks.metrika import MetrikaHook
from airflow_provider_metrika.operators.user_params import MetrikaUploadUserParamsOperator
from tests.integration.conftest import FakeTaskInstance
from tests.xcom import one_upload

pytestmark = [pytest.mark.adversarial, pytest.mark.integration]
CONFIRM = r"/user_params/uploading/\d+/confirm$"


def params_file(tmp_path):
    path = tmp_path / "params.csv"
    path.write_text("ClientId,age,segment\n1,30,vip\n2,41,regular\n")
    return path


def test_lost_confirm_answer_then_already_confirmed_carries_on(metrika_conn, emulator, tmp_path):
    emulator.inject_fault(method="POST", path=CONFIRM, action="reset_after", times=1)
    result = MetrikaUploadUserParamsOperator(task_id="params", src=str(params_file(tmp_path))).execute(
        {"ti": FakeTaskInstance()}
    )
    assert one_upload(result)["status"] in ("is_processed", "processed")
    (stored,) = emulator.uploadings(kind="user_params")
    assert stored["status"] in ("is_processed", "processed")


def test_already_confirmed_reads_back(metrika_conn, emulator, tmp_path):
    hook = MetrikaHook(metrika_conn)
    uploading = hook.upload_file("user_params", None, params_file(tmp_path), params={"action": "update"})
    first = hook.confirm_user_params(None, uploading.uploading_id, {"action": "update"})
    again = hook.confirm_user_params(None, uploading.uploading_id, {"action": "update"})  # 400 already confirmed
    assert again.uploading_id == first.uploading_id and again.status == first.status


def test_a_400_on_an_unconfirmed_uploading_still_fails(metrika_conn, emulator, tmp_path):
    hook = MetrikaHook(metrika_conn)
    uploading = hook.upload_file("user_params", None, params_file(tmp_path), params={"action": "update"})
    emulator.inject_fault(method="POST", path=CONFIRM, action="status", status=400, error_type="invalid_parameter")
    with pytest.raises(MetrikaClientError, match="400 invalid_parameter"):
        hook.confirm_user_params(None, uploading.uploading_id, {"action": "update"})
    assert hook.get_uploading("user_params", None, uploading.uploading_id).status == "uploaded"
