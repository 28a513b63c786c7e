"""OpenLineage: facets from a finished upload or wait, and hook-level lineage (the openlineage provider installed)."""

from __future__ import annotations

from types import SimpleNamespace

from airflow_provider_metrika.lineage import (
    RESULT_ATTRIBUTE,
    MetrikaUploadRunFacet,
    completed,
    report_hook_lineage,
    source_dataset,
)
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from airflow_provider_metrika.sensors.uploading import MetrikaUploadingSensor


def processed(uploading_id="7", **counters):
    return {
        "kind": "offline_conversions",
        "counter_id": 12345,
        "uploading_id": uploading_id,
        "status": "LINKAGE_SUCCESS",
        "state": "success",
        **counters,
    }


def test_source_datasets():
    assert source_dataset("s3://crm/exports/conv.csv") == ("s3://crm", "exports/conv.csv")
    assert source_dataset("/data/conv.csv") == ("file", "/data/conv.csv")
    assert source_dataset(None) is None


def test_an_upload_reports_its_file_the_counter_and_metrikas_counters(tmp_path):
    op = MetrikaUploadOfflineConversionsOperator(task_id="up", src=str(tmp_path / "conv.csv"))
    result = processed(source_quantity=10, line_quantity=8, linked_quantity=6)
    assert completed(op, {}, result) is result
    lineage = op.get_openlineage_facets_on_complete(task_instance=None)
    ((namespace, name),) = [(d.namespace, d.name) for d in lineage.inputs]
    assert (namespace, name) == ("file", str(tmp_path / "conv.csv"))
    (output,) = lineage.outputs
    assert (output.namespace, output.name) == ("metrika://12345", "offline_conversions")
    assert output.outputFacets["outputStatistics"].rowCount == 8
    assert lineage.run_facets["externalQuery"].externalQueryId == "7"
    facet = lineage.run_facets["metrika"]
    assert isinstance(facet, MetrikaUploadRunFacet)
    assert (facet.rowsSent, facet.rowsAccepted, facet.rowsLinked, facet.linkedRatio) == (10, 8, 6, 0.75)


def test_a_sensor_reports_the_counter_and_no_input():
    sensor = MetrikaUploadingSensor(task_id="wait", uploading_id=["1", "2"])
    setattr(sensor, RESULT_ATTRIBUTE, [processed("1", line_quantity=1), processed("2", line_quantity=2)])
    lineage = sensor.get_openlineage_facets_on_complete(task_instance=None)
    assert lineage.inputs == []
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("metrika://12345", "offline_conversions")]
    assert lineage.run_facets["metrika"].uploadingIds == ["1", "2"]


def test_a_task_that_never_finished_reports_nothing_it_did_not_do():
    lineage = MetrikaUploadingSensor(task_id="wait", uploading_id="1").get_openlineage_facets_on_complete(None)
    assert lineage.outputs == [] and lineage.run_facets == {}


def test_hook_lineage_reaches_airflows_collector(tmp_path, mocker):
    collector = mocker.MagicMock()
    mocker.patch("airflow.providers.common.compat.lineage.hook.get_hook_lineage_collector", return_value=collector)
    hook = SimpleNamespace(log=mocker.MagicMock())
    report_hook_lineage(hook, "calls", 12345, tmp_path / "calls.csv")
    collector.add_output_asset.assert_called_once_with(context=hook, uri="metrika://12345/calls")
    collector.add_input_asset.assert_called_once_with(context=hook, uri=f"file://{tmp_path / 'calls.csv'}")


def test_hook_lineage_never_fails_an_upload(mocker):
    mocker.patch(
        "airflow.providers.common.compat.lineage.hook.get_hook_lineage_collector", side_effect=RuntimeError("broken")
    )
    hook = SimpleNamespace(log=mocker.MagicMock())
    report_hook_lineage(hook, "calls", 12345, None)
    hook.log.debug.assert_called_once()


def test_hook_lineage_with_airflows_own_collector(mocker):
    """No mock of the collector: Airflow's own (airflow.sdk.lineage on 3, airflow.lineage.hook on 2) records them."""
    try:
        import airflow.sdk.lineage as lineage_module
    except ImportError:  # Airflow 2
        import airflow.lineage.hook as lineage_module
    from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

    mocker.patch.object(
        lineage_module, "get_hook_lineage_collector", return_value=lineage_module.HookLineageCollector()
    )
    report_hook_lineage(SimpleNamespace(log=mocker.MagicMock()), "contacts", 12345, "/data/contacts.csv")
    collected = get_hook_lineage_collector().collected_assets
    assert [a.asset.uri for a in collected.outputs] == ["metrika://12345/contacts"]
    assert [a.asset.uri for a in collected.inputs] == ["file:///data/contacts.csv"]
