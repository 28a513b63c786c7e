"""The comment's character rule: a warning by default, an error with strict_comment, nothing for calls."""

from __future__ import annotations

import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.fingerprint import comment_with, validate_comment
from airflow_provider_metrika.jobs.fingerprint import FINGERPRINT_LEN
from airflow_provider_metrika.operators.upload import (
    MetrikaUploadCallsOperator,
    MetrikaUploadOfflineConversionsOperator,
)
from airflow_provider_metrika.uploads import Uploading
from tests.integration.conftest import FakeTaskInstance

MARK = "afm" + "0" * 20


@pytest.fixture
def hook(hook):
    hook.upload_file.return_value = Uploading.from_api("offline_conversions", 5, {"id": 9, "status": "UPLOADED"})
    return hook


def test_rule_strict_refuses_other_characters():
    with pytest.raises(MetrikaConfigError, match=r"contains ' ': the documented rule"):
        validate_comment("crm 2024", rule="strict")


def test_rule_warn_passes_other_characters_to_the_warning():
    warnings: list[str] = []
    assert validate_comment(" crm.2024 ", rule="warn", warn=warnings.append) == "crm.2024"
    assert len(warnings) == 1 and "'.'" in warnings[0] and "strict_comment=True" in warnings[0]


def test_rule_none_and_clean_comments_warn_nothing():
    warnings: list[str] = []
    assert validate_comment("crm 2024!", rule="none", warn=warnings.append) == "crm 2024!"
    assert validate_comment("Ёлка2026crm", rule="warn", warn=warnings.append) == "Ёлка2026crm"
    assert warnings == []


@pytest.mark.parametrize("rule", ["strict", "warn", "none"])
def test_length_is_an_error_under_every_rule(rule):
    with pytest.raises(MetrikaConfigError, match="at most 232"):
        validate_comment("x" * 233, reserve=FINGERPRINT_LEN, rule=rule)


def test_fingerprint_is_appended_to_any_comment():
    assert comment_with("Upload by rym", MARK) == "Upload by rym" + MARK
    with pytest.raises(MetrikaConfigError):
        comment_with("x" * 233, MARK)


def _file(tmp_path, content="ClientId,Target,DateTime\n1,paid,1700000000\n"):
    path = tmp_path / "c.csv"
    path.write_text(content)
    return str(path)


def test_operator_warns_and_uploads_a_comment_with_spaces(hook, tmp_path, warnings_of):
    warning = warnings_of(MetrikaUploadOfflineConversionsOperator)
    op = MetrikaUploadOfflineConversionsOperator(task_id="a", src=_file(tmp_path), comment="crm 20240101")
    op.execute({"ti": FakeTaskInstance()})
    sent = hook.upload_file.call_args.kwargs["params"]["comment"]
    assert sent.startswith("crm 20240101afm") and len(sent) == len("crm 20240101") + FINGERPRINT_LEN
    assert any("Metrika documents only Latin" in str(call.args[0]) for call in warning.call_args_list)


def test_operator_with_strict_comment_sends_nothing(hook, tmp_path):
    op = MetrikaUploadOfflineConversionsOperator(
        task_id="a", src=_file(tmp_path), comment="crm 20240101", strict_comment=True
    )
    with pytest.raises(MetrikaConfigError, match="documented rule"):
        op.execute({"ti": FakeTaskInstance()})
    hook.upload_file.assert_not_called()


def test_calls_have_no_character_rule_even_when_strict(hook, tmp_path, warnings_of):
    warning = warnings_of(MetrikaUploadCallsOperator)
    hook.upload_file.return_value = Uploading.from_api("calls", 5, {"id": 9, "status": "UPLOADED"})
    content = "ClientId,DateTime,StaticCall\n1,1700000000,1\n"
    op = MetrikaUploadCallsOperator(task_id="c", src=_file(tmp_path, content), comment="calls.csv", strict_comment=True)
    op.execute({"ti": FakeTaskInstance()})
    assert hook.upload_file.call_args.kwargs["params"]["comment"].startswith("calls.csvafm")
    assert not any("Latin" in str(call.args[0]) for call in warning.call_args_list)
