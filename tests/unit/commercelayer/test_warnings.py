"""A Commerce Layer import's ``warnings_log``: read as issues, judged as warnings, written as rejected rows."""

from __future__ import annotations

from airflow_provider_metrika.commercelayer import api, inputs
from airflow_provider_metrika.commercelayer.policy import judge_import
from airflow_provider_metrika.commercelayer.status import job_record, log_lines


def record(status="completed", **attributes):
    item = api.CommerceLayerImport.from_resource(
        {"type": "imports", "id": "imp1", "attributes": {"status": status, "resource_type": "skus", **attributes}}
    )
    return job_record(item, "acme.commercelayer.io")


def test_a_warnings_log_of_message_lists_reads_one_line_per_message():
    lines = list(log_lines({"ABC": ["could not be deleted", "is odd"], "7": "plain"}, "warning: "))
    assert lines == [
        "warning: input ABC: could not be deleted",
        "warning: input ABC: is odd",
        "warning: input 7: plain",
    ]


def test_a_completed_import_with_warnings_succeeds_with_a_warning():
    verdict = judge_import(record(warnings_count=2, warnings_log={"A": ["skipped"], "B": ["updated nothing"]}))
    assert verdict.failure is None and not verdict.running
    (warning,) = verdict.warnings
    assert warning.startswith("Commerce Layer skus import imp1 in acme.commercelayer.io")
    assert warning.endswith("2 warning(s): input A: skipped; input B: updated nothing")


def test_a_count_without_a_log_still_says_how_many():
    (warning,) = judge_import(record(warnings_count=3)).warnings
    assert "3 warning(s)" in warning and "more" not in warning


def test_no_warnings_no_warning_and_errors_are_not_warnings():
    assert judge_import(record(warnings_count=0)).warnings == ()
    partial = judge_import(record(errors_count=1, inputs_size=10, errors_log={"A": {"name": ["blank"]}}), 0.5)
    assert len(partial.warnings) == 1 and "warning(s)" not in partial.warnings[0]


def test_a_partial_import_within_the_ratio_reports_its_warnings_too():
    judged = judge_import(
        record(errors_count=1, inputs_size=10, warnings_count=1, warnings_log={"B": ["skipped"]}), max_error_ratio=0.5
    )
    assert len(judged.warnings) == 2 and "1 warning(s): input B: skipped" in judged.warnings[1]


def test_warned_inputs_are_found_in_their_part_by_key_or_position():
    part = inputs.ImportPart(number=1, total=1, first_row=11, inputs=[{"code": "A"}, {"code": "B"}, {"code": "A"}])
    found = list(inputs.iter_rejected(part, {"2": ["skipped: duplicates input 0"], "B": ["x", "y"]}, "warning: "))
    assert found == [
        (13, {"code": "A"}, "warning: skipped: duplicates input 0"),
        (12, {"code": "B"}, "warning: x; y"),
    ]
