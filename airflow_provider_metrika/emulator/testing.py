"""Helpers for tests, example DAGs and benchmarks: run the emulator and drive its control API.

``EmulatorProcess`` starts ``python -m airflow_provider_metrika.emulator`` on a free port
and waits for its "listening" line; ``EmulatorClient`` wraps the ``/_emulator/`` API.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from typing import Any

import requests

TEST_TOKEN = "emulator-test-token-0123456789"
STARTUP_TIMEOUT = 20.0
_LISTENING = re.compile(r"emulator listening on (http://\S+?):(\d+)\s*$")


class EmulatorClient:
    """The emulator's control API (``/_emulator/``) over HTTP."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._session.request(method, f"{self.base_url}/_emulator/{path}", timeout=self.timeout, **kwargs)
        response.raise_for_status()
        return response.json()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any control endpoint, e.g. a vendor's own: ``call("POST", "fleetio/imports", json={...})``."""
        return self._call(method, path, **kwargs)

    def health(self) -> bool:
        return bool(self._call("GET", "health")["ok"])

    def reset(self) -> None:
        self._call("POST", "reset")

    def now(self) -> float:
        """Emulator time, unix seconds."""
        return float(self._call("GET", "clock")["epoch"])

    def advance(self, seconds: float) -> float:
        """Move the emulator clock forward; returns the new time."""
        return float(self._call("POST", "clock/advance", json={"seconds": seconds})["epoch"])

    def finish_all(self) -> float:
        """Advance far enough that every uploading (confirmed, for user params) is terminal."""
        return float(self._call("POST", "finish_all")["epoch"])

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings: stage_seconds, daily_quota, parallel_limit, quota_status, tokens, ..."""
        return self._call("POST", "config", json=settings)

    def config(self) -> dict[str, Any]:
        return self._call("GET", "config")

    def add_visitors(self, ids: list[str]) -> None:
        """Register visitor ids that always link."""
        self._call("POST", "visitors", json={"ids": list(ids)})

    def inject_fault(self, **spec: Any) -> int:
        """Add a fault (method, path regex, action, times, ...); returns its id."""
        return int(self._call("POST", "faults", json=spec)["id"])

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "faults")["faults"]

    def uploadings(self, kind: str | None = None, counter_id: int | None = None) -> list[dict[str, Any]]:
        """Every stored uploading (oldest first) with status, rows, sha256 and size."""
        params = {key: value for key, value in (("kind", kind), ("counter_id", counter_id)) if value is not None}
        return self._call("GET", "uploadings", params=params)["uploadings"]

    def expenses(self, counter_id: int) -> list[dict[str, str]]:
        """The expense rows the counter holds now (processed uploads minus processed deletions)."""
        return self._call("GET", "expenses", params={"counter_id": counter_id})["rows"]

    def request_stats(self) -> dict[str, Any]:
        return self._call("GET", "requests")

    def close(self) -> None:
        self._session.close()


class MetrikaTestApi:
    """Plain ``requests`` calls to the emulator's Metrika endpoints, with the test token."""

    def __init__(self, base_url: str, token: str | None = TEST_TOKEN, counter_id: int = 12345, timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.counter_id = counter_id
        self.timeout = timeout
        self.session = requests.Session()

    def url(self, path: str) -> str:
        """``path`` may use ``{counter_id}``; absolute paths are taken as they are."""
        return self.base_url + path.format(counter_id=self.counter_id)

    def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        token = token if token is not None else self.token
        if token and "Authorization" not in headers:
            headers["Authorization"] = f"OAuth {token}"
        return self.session.request(method, self.url(path), headers=headers, timeout=self.timeout, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def upload(self, path: str, content: bytes | str, **kwargs: Any) -> requests.Response:
        """POST ``content`` as the multipart part ``file``."""
        data = content.encode("utf-8") if isinstance(content, str) else content
        return self.post(path, files={"file": ("data.csv", data, "text/csv")}, **kwargs)


class EmulatorProcess:
    """The emulator as a subprocess; state in ``db_path`` (a temp file by default).

    ``restart()`` keeps the db and tries to keep the port, so URLs stay valid.
    """

    def __init__(self, db_path: str | None = None, *args: str, python: str = sys.executable, port: int = 0):
        self._temp_dir = None if db_path else tempfile.mkdtemp(prefix="metrika-emulator-test-")
        self.db_path = db_path or os.path.join(self._temp_dir, "state.db")
        self.args = list(args)
        self.python = python
        self.port = port
        self.url = ""
        self.log_path = self.db_path + ".log"
        self._process: subprocess.Popen[str] | None = None
        self._client: EmulatorClient | None = None

    @property
    def client(self) -> EmulatorClient:
        if self._client is None:
            raise RuntimeError("the emulator is not running")
        return self._client

    @property
    def pid(self) -> int | None:
        """The emulator's process id (it leads its own process group); None when it was not started."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmulatorProcess:
        if self.running:
            return self
        command = [self.python, "-m", "airflow_provider_metrika.emulator", "--port", str(self.port)]
        command += ["--db", self.db_path, *self.args]
        with open(self.log_path, "a", encoding="utf-8") as log:
            self._process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log, text=True, env=_child_env(), start_new_session=True
            )
        line = _first_line(self._process, STARTUP_TIMEOUT)
        match = _LISTENING.search(line or "")
        if match is None:
            self.stop()
            raise RuntimeError(f"emulator did not start (got {line!r}); log:\n{self._log_tail()}")
        self.port = int(match.group(2))
        self.url = f"{match.group(1)}:{self.port}"
        self._client = EmulatorClient(self.url)
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (SIGKILL after ``timeout``); returns the exit code, None if it was not running."""
        process, self._process = self._process, None
        if self._client is not None:
            self._client.close()
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        return process.returncode

    def restart(self) -> EmulatorProcess:
        """Stop and start again on the same db (and, if it is free, the same port)."""
        self.stop()
        try:
            return self.start()
        except RuntimeError:
            self.port = 0
            return self.start()

    def _log_tail(self, chars: int = 4000) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-chars:]
        except OSError:
            return ""

    def close(self) -> None:
        """Stop, and delete the state directory if this object made it (a caller's ``db_path`` is left alone)."""
        self.stop()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _child_env() -> dict[str, str]:
    """The child must import this package even when it is not installed (run from the repo)."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def _first_line(process: subprocess.Popen[str], timeout: float) -> str | None:
    """Read the first stdout line within ``timeout``; the rest of stdout is drained in the background."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="emulator-stdout", daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None
