"""A real third-party Metrika client from PyPI talks to the emulator, unchanged but for its base URL.

``yametrikapy`` (https://pypi.org/project/yametrikapy/) is a client whose own test suite ran
against production: it calls the legacy window endpoints first, appends ``.json`` to every
path, sends ``comment=file.csv``, uploads header-less user parameters and sets their comment
in the confirm body, then edits it with a PUT. Its calls below mirror that suite. It is
installed once into a virtualenv cached under ``.venv/clients/`` (keyed by version) and run
in a child process, so nothing of it leaks into the provider's environment.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_provider_metrika.emulator.testing import TEST_TOKEN

pytestmark = pytest.mark.integration

CLIENT = "yametrikapy"
CLIENT_VERSION = "2.0"
ROOT = Path(__file__).resolve().parents[2]
COUNTER = 12345

# The client as a user would run it; only ``Metrika.HOST`` is pointed at the emulator.
SCRIPT = textwrap.dedent(
    """
    import io, json, sys
    from yametrikapy import Metrika

    base_url, token, counter, phase = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    Metrika.HOST = base_url + "/"
    metrika = Metrika("client-id", token=token)
    out = {}
    if phase == "upload":
        out["threshold_on"] = metrika.on_extended_threshold(counter).success
        out["threshold_off"] = metrika.off_extended_threshold(counter).success
        data = (
            "UserId,Target,DateTime,Price,Currency\\n"
            "133591247640966458,GOAL1,1481718166,123.45,RUB\\n"
            "579124169844706072,GOAL3,1481718116,678.90,RUB\\n"
            "148059425477661429,GOAL2,1481718126,123.45,RUB\\n"
        )
        with io.StringIO(data) as f:
            out["uploaded"] = metrika.upload_offline_conversions(counter, f, "USER_ID", comment="file.csv").uploading
        out["listed"] = metrika.offline_conversions_uploadings(counter).uploadings
        out["read"] = metrika.offline_conversions_uploading(counter, out["listed"][0]["id"]).uploading
        calls = "UserId, DateTime, StaticCall\\n133591247640966458, 1481714026, 1\\n"
        with io.StringIO(calls) as f:
            out["calls"] = metrika.upload_calls(
                counter, f, "USER_ID", comment="calls.csv", new_goal_name="GOAL1"
            ).uploading
        with io.StringIO('"P12345","age",42\\r\\n"P12345","name","abc"') as f:
            params = metrika.upload_uploading(counter, f).uploading
        out["params_confirmed"] = metrika.confirm_uploading(
            counter, params["id"], content_id_type="user_id", action="update", status="is_processed",
            comment="Файл file.csv",
        ).uploading
        out["params_edited"] = metrika.update_uploading(counter, params["id"], comment="file").uploading
    else:
        out["read"] = metrika.offline_conversions_uploading(counter, int(phase)).uploading
    json.dump(out, sys.stdout)
    """
)


def _client_python() -> Path:
    """The cached client venv's python, built once (under a lock) with uv when the project has it."""
    venv = ROOT / ".venv" / "clients" / f"{CLIENT}-{CLIENT_VERSION}"
    python = venv / "bin" / "python"
    if python.exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists():
            return python
        building = venv.with_name(venv.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        uv = ROOT / ".venv" / "tools" / "bin" / "uv"
        requirement = f"{CLIENT}=={CLIENT_VERSION}"
        if uv.exists():
            subprocess.run([str(uv), "venv", "-q", "-p", sys.executable, str(building)], check=True, timeout=300)
            env = {**os.environ, "VIRTUAL_ENV": str(building)}
            subprocess.run([str(uv), "pip", "install", "-q", requirement], check=True, env=env, timeout=600)
        else:
            subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, timeout=300)
            pip = [str(building / "bin" / "python"), "-m", "pip", "install", "-q", requirement]
            subprocess.run(pip, check=True, timeout=600)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(venv)
        building.rename(venv)
    return python


def _run_client(base_url: str, phase: str, tmp_path: Path) -> dict:
    script = tmp_path / "client_session.py"
    script.write_text(SCRIPT, encoding="utf-8")
    result = subprocess.run(
        [str(_client_python()), str(script), base_url, TEST_TOKEN, str(COUNTER), phase],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def test_yametrikapy_uploads_lists_and_reads_back_offline_conversions(emulator, emulator_process, tmp_path):
    session = _run_client(emulator_process.url, "upload", tmp_path)

    assert session["threshold_on"] is True and session["threshold_off"] is True
    uploaded = session["uploaded"]
    # What the client's own production test asserts: the upload answer, the list and the read-back.
    assert uploaded["status"] in ("LINKAGE_FAILURE", "PROCESSED", "UPLOADED")
    assert (uploaded["comment"], uploaded["line_quantity"], uploaded["client_id_type"]) == ("file.csv", 3, "USER_ID")
    assert [item["id"] for item in session["listed"]] == [uploaded["id"]]
    assert session["read"] == uploaded
    assert session["calls"]["status"] == "UPLOADED" and session["calls"]["line_quantity"] == 1
    confirmed, edited = session["params_confirmed"], session["params_edited"]
    assert (confirmed["comment"], confirmed["content_id_type"], confirmed["status"]) == (
        "Файл file.csv",
        "user_id",
        "is_processed",
    )
    assert edited["comment"] == "file" and edited["line_quantity"] == 2

    emulator.finish_all()
    final = _run_client(emulator_process.url, str(uploaded["id"]), tmp_path)["read"]
    stored = {item["id"]: item for item in emulator.uploadings(kind="offline_conversions")}
    assert final["status"] in ("LINKAGE_FAILURE", "PROCESSED")
    assert final["status"] == stored[uploaded["id"]]["status"]
    assert final["linked_quantity"] + final["user_not_found_quantity"] == 3
