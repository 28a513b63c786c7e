import pytest

from airflow_provider_metrika.exceptions import MetrikaConfigError
from airflow_provider_metrika.uploads import UPLOAD_KINDS, Uploading, UploadState, get_upload_kind


def test_every_kind_has_a_status_vocabulary_and_upload_endpoint():
    for kind in UPLOAD_KINDS.values():
        assert kind.upload_path.startswith(("/management/v1/counter/{counter_id}", "/cdp/api/v1/counter/{counter_id}"))
        assert kind.success_statuses
        assert kind.failure_statuses or kind.name in ("expenses", "expense_removals")  # none documented
        assert not kind.success_statuses & kind.failure_statuses


def test_pollable_kinds_are_the_asynchronous_ones():
    pollable = {k.name for k in UPLOAD_KINDS.values() if k.pollable}
    assert pollable == {"offline_conversions", "calls", "chats", "user_params", "expenses", "expense_removals"}


@pytest.mark.parametrize(
    ("kind", "status", "state"),
    [
        ("offline_conversions", "PREPARED", UploadState.RUNNING),
        ("offline_conversions", "MATCHED", UploadState.RUNNING),
        ("offline_conversions", "PROCESSED", UploadState.SUCCESS),
        ("offline_conversions", "LINKAGE_FAILURE", UploadState.FAILURE),
        ("calls", "PROCESSED", UploadState.SUCCESS),
        ("user_params", "is_processed", UploadState.RUNNING),
        ("user_params", "processed", UploadState.SUCCESS),
        ("user_params", "linkage_failure", UploadState.FAILURE),
        ("contacts", "PASSED", UploadState.SUCCESS),
        ("orders", "FAILED", UploadState.FAILURE),
        ("offline_conversions", "SOMETHING_NEW", UploadState.RUNNING),
        ("offline_conversions", None, UploadState.RUNNING),
    ],
)
def test_state_of(kind, status, state):
    assert get_upload_kind(kind).state_of(status) is state


def test_unknown_kind_names_the_valid_ones():
    with pytest.raises(MetrikaConfigError, match="offline_conversions"):
        get_upload_kind("conversions")


def test_paths_are_filled_in():
    kind = get_upload_kind("offline_conversions")
    assert kind.path(kind.get_path, 5, uploading_id=7) == "/management/v1/counter/5/offline_conversions/uploading/7"
    with pytest.raises(MetrikaConfigError, match="no such endpoint"):
        kind.path(kind.confirm_path, 5, uploading_id=7)


def test_uploading_from_api_and_xcom():
    body = {
        "id": 42,
        "status": "PROCESSED",
        "comment": "x afm1",
        "source_quantity": 3,
        "line_quantity": 3,
        "linked_quantity": 2,
        "create_time": "2025-01-01T00:00:00Z",
    }
    uploading = Uploading.from_api("offline_conversions", "5", body)
    assert uploading.uploading_id == "42" and uploading.counter_id == 5
    assert uploading.state is UploadState.SUCCESS
    assert uploading.to_xcom() == {
        "kind": "offline_conversions",
        "counter_id": 5,
        "uploading_id": "42",
        "status": "PROCESSED",
        "state": "success",
        "comment": "x afm1",
        "source_quantity": 3,
        "line_quantity": 3,
        "linked_quantity": 2,
    }
    assert "linked_quantity=2" in uploading.describe()


def test_cdp_uploading_uses_its_own_id_field():
    uploading = Uploading.from_api(
        "contacts", 5, {"uploading_id": "abc", "api_validation_status": "PASSED", "elements_count": 10}
    )
    assert uploading.uploading_id == "abc" and uploading.counters() == {"elements_count": 10}


def test_uploading_without_id_is_rejected():
    with pytest.raises(ValueError, match="'id'"):
        Uploading.from_api("offline_conversions", 5, {"status": "PROCESSED"})
