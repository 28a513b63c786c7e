import json
from importlib.metadata import entry_points
from pathlib import Path

import airflow_provider_metrika
from airflow_provider_metrika import get_provider_info


def test_entry_point_is_registered():
    eps = entry_points(group="apache_airflow_provider")
    assert any(ep.value == "airflow_provider_metrika:get_provider_info" for ep in eps)


def test_provider_info_lists_every_module_that_exists():
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-metrika"
    assert info["versions"] == [airflow_provider_metrika.__version__]
    root = Path(airflow_provider_metrika.__file__).parent.parent
    integrations = {entry["integration-name"] for entry in info["integrations"]}
    assert integrations == {"Yandex Metrika", "Commerce Layer", "Fleetio"}
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            assert entry["integration-name"] in integrations
            for module in entry["python-modules"]:
                assert (root / (module.replace(".", "/") + ".py")).is_file(), module


def test_connection_types_match_their_hooks():
    from airflow_provider_metrika.commercelayer.hooks import CommerceLayerHook
    from airflow_provider_metrika.fleetio.hooks import FleetioHook
    from airflow_provider_metrika.hooks.metrika import MetrikaHook

    conns = {conn["connection-type"]: conn for conn in get_provider_info()["connection-types"]}
    hooks = {"yandex_metrika": MetrikaHook, "commercelayer": CommerceLayerHook, "fleetio": FleetioHook}
    assert set(conns) == set(hooks)
    for conn_type, hook in hooks.items():
        assert hook.conn_type == conn_type
        module, _, cls = conns[conn_type]["hook-class-name"].rpartition(".")
        assert cls == hook.__name__ and module == hook.__module__
    assert conns["yandex_metrika"]["conn-fields"]["counter_id"]["schema"]["minimum"] == 1
    assert set(conns["commercelayer"]["conn-fields"]) == {"auth_url", "scope", "timeout", "max_retries"}
    assert set(conns["fleetio"]["conn-fields"]) == {"api_version", "account", "timeout", "max_retries"}


def test_connection_fields_fit_airflows_schema():
    """Validate our connection-types entry against the provider.yaml schema that Airflow ships."""
    import airflow
    import jsonschema

    schema_path = Path(airflow.__file__).parent / "provider.yaml.schema.json"
    if not schema_path.exists():  # Airflow 2.11 ships only the runtime schema
        schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
    schema = json.loads(schema_path.read_text())
    info = get_provider_info()
    runtime = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate({k: v for k, v in info.items() if k in runtime["properties"]}, runtime)
    conn_schema = schema["properties"].get("connection-types")
    if conn_schema:
        jsonschema.validate(info["connection-types"], conn_schema | {"definitions": schema.get("definitions", {})})


def test_importing_the_provider_triggers_no_deprecation_warning_from_our_code():
    """No deprecated Airflow import paths (e.g. airflow.hooks.base on Airflow 3) anywhere in the package."""
    import subprocess
    import sys

    code = """
import importlib, pkgutil, warnings
import airflow_provider_metrika as pkg
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if ".emulator" not in mod.name:
            importlib.import_module(mod.name)
ours = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
        if "Deprecat" in w.category.__name__ and "airflow_provider_metrika" in w.filename]
print("\\n".join(ours))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""


def test_providers_list_shows_a_short_description():
    """``airflow providers list`` prints the description in a table column: one short line."""
    description = get_provider_info()["description"]
    assert len(description) <= 90 and "\n" not in description


def test_the_package_names_its_documentation():
    """Airflow's Providers page links the ``Documentation`` project URL (none: a dead fallback link)."""
    from importlib.metadata import metadata

    urls = dict(entry.split(", ", 1) for entry in metadata("airflow-provider-metrika").get_all("Project-URL") or [])
    assert urls.get("Documentation", "").startswith("https://")


def test_the_counter_field_says_where_airflow_3_shows_it():
    help_text = get_provider_info()["connection-types"][0]["conn-fields"]["counter_id"]["description"]
    assert "Extra Fields" in help_text
