"""Drive Airflow's UI in headless Chromium: add a connection of each vendor's type, save it, test it.

Run by scripts/ui_check.sh (which installs Chromium, chromedriver and selenium first), once per Airflow line:
Airflow 3.3 (api-server, React UI) and Airflow 2.11 (webserver, Flask AppBuilder). For each vendor the
script starts the vendor's emulator, fills the connection form as a user would (the type chosen in the
type picker, the fields typed in, the 3.3 "Extra Fields" section opened), saves it, and tests it:

- Airflow 2.11: the add page's Test button (the answer is read from the page's alert);
- Airflow 3.3: the list page's Test button is tried and its answer recorded (it answers "Bad Request" for
  every connection type: an Airflow issue), then the documented workarounds are checked: the REST API
  (``POST /api/v2/connections/test``) and ``airflow connections test <id>``.

Screenshots of each form go to --out (the docs show them). Every wait is bounded; a failure prints what the
page said, a screenshot path and the server log's tail, and the exit code is non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "ui-check-token"  # the emulators accept any non-empty credentials


class CheckFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, probe: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception as error:  # any probe error means "not yet"; the last one is reported
            last = error
        time.sleep(every)
    cause = f" (last error: {last})" if last else ""
    raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}{cause}")


class Process:
    """A child process in its own process group, logging to a file; killed with its group."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], logs: Path):
        self.name = name
        self.log_path = logs / f"{name}.log"
        self.handle = subprocess.Popen(
            command, env=env, stdout=self.log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.handle.poll() is None:
            try:
                os.killpg(self.handle.pid, signal.SIGTERM)
                self.handle.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.handle.pid, signal.SIGKILL)


def vendors(emulators: dict[str, str]) -> list[dict[str, Any]]:
    """What a user types for each vendor: standard fields and extra fields, by the form's field names."""
    return [
        {
            "vendor": "metrika",
            "conn_type": "yandex_metrika",
            "label": "Yandex Metrika",
            "conn_id": "metrika_ui_check",
            "fields": {"host": emulators["metrika"], "password": TOKEN},
            "extra": {"counter_id": "12345"},
        },
        {
            "vendor": "commercelayer",
            "conn_type": "commercelayer",
            "label": "Commerce Layer",
            "conn_id": "commercelayer_ui_check",
            "fields": {"host": emulators["commercelayer"], "login": "ui-check-client", "password": TOKEN},
            "extra": {"auth_url": emulators["commercelayer"] + "/oauth/token"},
        },
        {
            "vendor": "fleetio",
            "conn_type": "fleetio",
            "label": "Fleetio",
            "conn_id": "fleetio_ui_check",
            "fields": {"host": emulators["fleetio"], "login": "ui-check-account", "password": TOKEN},
            "extra": {},
        },
    ]


def browser(width: int = 1400, height: int = 1300) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    driver.set_page_load_timeout(60)
    driver.implicitly_wait(0)
    return driver


def element(driver: WebDriver, what: str, find: Callable[[], WebElement | None], timeout: float = 30) -> WebElement:
    return wait_for(what, lambda: _shown(find()), timeout)


def _shown(found: WebElement | None) -> WebElement | None:
    return found if found is not None and found.is_displayed() else None


def button(driver: WebDriver, text: str) -> WebElement | None:
    for candidate in driver.find_elements(By.TAG_NAME, "button"):
        if candidate.text.strip() == text and candidate.is_displayed():
            return candidate
    return None


def by_name(driver: WebDriver, name: str) -> WebElement | None:
    found = driver.find_elements(By.NAME, name)
    return found[0] if found else None


def by_css(driver: WebDriver, css: str) -> WebElement | None:
    found = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
    return found[0] if found else None


def type_into(field: WebElement, value: str) -> None:
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    field.send_keys(value)


class Airflow3:
    """Airflow 3.3: the api-server serves the React UI; every user is an admin (simple auth manager)."""

    line = "af3"

    def __init__(self, base: str, airflow: Path, env: dict[str, str]):
        self.base, self.airflow, self.env = base, airflow, env

    def server_command(self, port: int) -> list[str]:
        return [str(self.airflow), "api-server", "--port", str(port), "--workers", "1"]

    def ready(self) -> bool:
        with urllib.request.urlopen(self.base + "/api/v2/version", timeout=5) as answer:
            return answer.status == 200

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        with urllib.request.urlopen(self.base + "/auth/token", timeout=30) as answer:
            token = json.load(answer)["access_token"]
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def add(self, driver: WebDriver, vendor: dict[str, Any], shots: Path) -> dict[str, str]:
        driver.get(self.base + "/connections")
        element(driver, "the Add Connection button", lambda: button(driver, "Add Connection"), 60).click()
        type_into(
            element(driver, "the connection id field", lambda: by_name(driver, "connection_id")), vendor["conn_id"]
        )
        picker = element(driver, "the connection type picker", lambda: by_css(driver, "input[role=combobox]"))
        picker.send_keys(vendor["label"])
        time.sleep(0.5)  # the picker filters as it is typed into
        picker.send_keys(Keys.ENTER)
        for name, value in vendor["fields"].items():
            type_into(
                element(driver, f"the {name} field of {vendor['label']}", lambda n=name: by_name(driver, n)), value
            )
        time.sleep(0.5)
        shots_taken = {"form": shots / f"af3-{vendor['vendor']}-form.png"}
        driver.save_screenshot(str(shots_taken["form"]))
        if vendor["extra"]:
            # On Airflow 3 the provider's own fields sit in the collapsed "Extra Fields" section.
            element(driver, "the Extra Fields section", lambda: button(driver, "Extra Fields")).click()
            for name, value in vendor["extra"].items():
                field = element(driver, f"the {name} extra field", lambda n=name: by_name(driver, f"element_{n}"))
                type_into(field, value)
            time.sleep(0.5)
            shots_taken["extra fields"] = shots / f"af3-{vendor['vendor']}-extra.png"
            driver.save_screenshot(str(shots_taken["extra fields"]))
        element(driver, "the Save button", lambda: button(driver, "Save")).click()
        wait_for(
            f"{vendor['conn_id']} in the connection list",
            lambda: (
                button(driver, "Save") is None and vendor["conn_id"] in driver.find_element(By.TAG_NAME, "body").text
            ),
            30,
        )
        return {name: str(path) for name, path in shots_taken.items()}

    def test(self, driver: WebDriver, vendor: dict[str, Any], shots: Path) -> dict[str, str]:
        outcome: dict[str, str] = {}
        outcome["list page Test button"] = self.list_page_test(driver, vendor, shots)
        body = {"connection_id": vendor["conn_id"], "conn_type": vendor["conn_type"], **vendor["fields"]}
        body["extra"] = json.dumps(vendor["extra"])
        status, answer = self.api("POST", "/api/v2/connections/test", body)
        ok = status == 200 and isinstance(answer, dict) and answer.get("status") is True
        outcome["REST API POST /api/v2/connections/test"] = f"{status} {answer}"
        if not ok:
            raise CheckFailed(f"{vendor['conn_id']}: the REST API test failed: {status} {answer}")
        outcome["airflow connections test"] = cli_test(self.airflow, self.env, vendor["conn_id"])
        return outcome

    def list_page_test(self, driver: WebDriver, vendor: dict[str, Any], shots: Path) -> str:
        """Airflow 3.3's list-page Test button: record what it answers (a known Airflow issue: Bad Request)."""
        driver.get(self.base + "/connections")
        wait_for("the connection list", lambda: vendor["conn_id"] in driver.find_element(By.TAG_NAME, "body").text, 60)
        rows = [r for r in driver.find_elements(By.CSS_SELECTOR, "tr") if vendor["conn_id"] in r.text]
        if not rows:
            return "no row found"
        buttons = [
            b
            for b in rows[0].find_elements(By.TAG_NAME, "button")
            if "test" in (b.get_attribute("aria-label") or b.text or b.get_attribute("title") or "").lower()
        ]
        if not buttons:
            return "no Test button in the row"
        toasts = "[role=status], [role=alert], [data-scope=toast]"
        before = len(driver.find_elements(By.CSS_SELECTOR, toasts))
        buttons[0].click()
        wait_for("the Test button's answer", lambda: len(driver.find_elements(By.CSS_SELECTOR, toasts)) > before, 30)
        time.sleep(0.5)
        driver.save_screenshot(str(shots / "af3-list-page-test.png"))
        said = dict.fromkeys(" ".join(t.text.split()) for t in driver.find_elements(By.CSS_SELECTOR, toasts))
        return " | ".join(s for s in said if s)[:200]


class Airflow2:
    """Airflow 2.11: the Flask AppBuilder webserver; anonymous users are admins (webserver_config.py)."""

    line = "af2"

    def __init__(self, base: str, airflow: Path, env: dict[str, str]):
        self.base, self.airflow, self.env = base, airflow, env
        home = Path(env["AIRFLOW_HOME"])
        (home / "webserver_config.py").write_text(
            "from airflow.www.fab_security.manager import AUTH_DB\n"
            "AUTH_TYPE = AUTH_DB\nAUTH_ROLE_PUBLIC = 'Admin'\nWTF_CSRF_ENABLED = True\n"
        )

    def server_command(self, port: int) -> list[str]:
        return [str(self.airflow), "webserver", "--port", str(port), "--workers", "1"]

    def ready(self) -> bool:
        with urllib.request.urlopen(self.base + "/health", timeout=5) as answer:
            return answer.status == 200

    def add(self, driver: WebDriver, vendor: dict[str, Any], shots: Path) -> dict[str, str]:
        driver.get(self.base + "/connection/add")
        element(driver, "the connection id field", lambda: by_name(driver, "conn_id"), 60).send_keys(vendor["conn_id"])
        # The type picker is a select2 over a <select>: choose the option as the page's own script would.
        driver.execute_script("$('#conn_type').val(arguments[0]).trigger('change');", vendor["conn_type"])
        for name, value in vendor["fields"].items():
            type_into(
                element(driver, f"the {name} field of {vendor['label']}", lambda n=name: by_name(driver, n)), value
            )
        for name, value in vendor["extra"].items():
            key = f"extra__{vendor['conn_type']}__{name}"
            type_into(element(driver, f"the {name} extra field", lambda k=key: by_name(driver, k)), value)
        # Test on the add page, as a user would before saving (the form's values are sent).
        element(driver, "the Test button", lambda: by_css(driver, "#test-connection")).click()
        vendor["_test_answer"] = wait_for("the Test button's answer", lambda: test_alert(driver), 60)
        driver.execute_script("window.scrollTo(0, 0);")  # the answer shows above the form
        time.sleep(0.3)
        shot = shots / f"af2-{vendor['vendor']}-form.png"
        driver.save_screenshot(str(shot))
        save = "input[type=submit][value=Save], button[type=submit]"
        element(driver, "the Save button", lambda: by_css(driver, save)).click()
        wait_for("the saved-row notice", lambda: "Added Row" in driver.find_element(By.TAG_NAME, "body").text, 30)
        driver.get(self.base + "/connection/list/")
        wait_for(
            f"{vendor['conn_id']} in the connection list",
            lambda: vendor["conn_id"] in driver.find_element(By.TAG_NAME, "body").text,
            30,
        )
        return {"form": str(shot)}

    def test(self, driver: WebDriver, vendor: dict[str, Any], shots: Path) -> dict[str, str]:
        status, answer = vendor.pop("_test_answer")
        if status != "success":
            raise CheckFailed(f"{vendor['conn_id']}: the add page's Test answered {status}: {answer!r}")
        return {
            "add page Test button": answer,
            "airflow connections test": cli_test(self.airflow, self.env, vendor["conn_id"]),
        }


def test_alert(driver: WebDriver) -> tuple[str, str] | None:
    """Airflow 2.11's connection form shows the Test answer in an alert of class alert-success or alert-error."""
    for alert in driver.find_elements(By.CSS_SELECTOR, ".alert-success, .alert-error"):
        if alert.is_displayed() and alert.text.strip():
            status = "success" if "alert-success" in (alert.get_attribute("class") or "") else "error"
            return status, " ".join(alert.text.replace("\u00d7", "").split())[:300]
    return None


def cli_test(airflow: Path, env: dict[str, str], conn_id: str) -> str:
    """``airflow connections test`` on the saved connection (what the server stored, secret included)."""
    cli = subprocess.run(
        [str(airflow), "connections", "test", conn_id], env=env, capture_output=True, text=True, timeout=180
    )
    if cli.returncode != 0 or "success" not in cli.stdout.lower():
        raise CheckFailed(f"{conn_id}: airflow connections test failed:\n{cli.stdout[-2000:]}{cli.stderr[-2000:]}")
    said = [line.strip() for line in cli.stdout.splitlines() if "connection" in line.lower()]
    return " / ".join(said)[-300:]


def start_emulator(python: str, vendor: str, env: dict[str, str], logs: Path) -> tuple[Process, str]:
    port = free_port()
    command = [python, "-m", "airflow_provider_metrika.emulator", "--vendor", vendor, "--port", str(port)]
    process = Process(f"emulator-{vendor}", command, env, logs)
    url = f"http://127.0.0.1:{port}"
    wait_for(f"the {vendor} emulator", lambda: _listening(port) or process.handle.poll() is not None, 60)
    if process.handle.poll() is not None:
        raise CheckFailed(f"the {vendor} emulator exited:\n{process.log_tail()}")
    return process, url


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run(line: str, venv: Path, shots: Path, work: Path) -> list[tuple[str, str, bool, str]]:
    airflow = venv / "bin" / "airflow"
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(work / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(work / "dags"),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API_AUTH__JWT_SECRET": "ui-check-secret",
            "AIRFLOW__WEBSERVER__SECRET_KEY": "ui-check-secret",
            "PYTHONPATH": str(ROOT),
        }
    )
    (work / "dags").mkdir(parents=True, exist_ok=True)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    migrated = subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    if migrated.returncode != 0:
        raise CheckFailed(f"airflow db migrate failed:\n{migrated.stdout[-2000:]}{migrated.stderr[-2000:]}")
    processes: list[Process] = []
    results: list[tuple[str, str, bool, str]] = []
    driver: WebDriver | None = None
    try:
        emulators = {}
        for vendor in ("metrika", "commercelayer", "fleetio"):
            process, url = start_emulator(python, vendor, env, logs)
            processes.append(process)
            emulators[vendor] = url
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        ui = Airflow3(base, airflow, env) if line == "af3" else Airflow2(base, airflow, env)
        server = Process(f"{line}-server", ui.server_command(port), env, logs)
        processes.append(server)
        wait_for(f"the {line} server at {base}", ui.ready, 240, every=2)
        driver = browser()
        for vendor in vendors(emulators):
            label = f"{line} {vendor['conn_type']}"
            try:
                saved = ui.add(driver, vendor, shots)
                tested = ui.test(driver, vendor, shots)
                detail = "; ".join(f"{k}: {v}" for k, v in {**tested, **saved}.items())
                results.append((line, vendor["conn_type"], True, detail))
            except (CheckFailed, WebDriverException) as error:
                failure = shots / f"{line}-{vendor['vendor']}-FAILED.png"
                try:
                    driver.save_screenshot(str(failure))
                    page = driver.find_element(By.TAG_NAME, "body").text[-1500:]
                except WebDriverException:
                    page = "(the page could not be read)"
                detail = (
                    f"{type(error).__name__}: {str(error)[:1500]}\n--- page text ---\n{page}\n--- screenshot {failure}"
                )
                detail += f"\n--- {server.name} log tail ---\n{server.log_tail(2000)}"
                results.append((line, vendor["conn_type"], False, detail))
                print(f"FAIL {label}\n{detail}", file=sys.stderr, flush=True)
    finally:
        if driver is not None:
            driver.quit()
        for process in reversed(processes):
            process.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--line", choices=("af3", "af2"), required=True)
    parser.add_argument("--venv", type=Path, required=True, help="the Airflow line's virtualenv")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "_static" / "ui", help="where screenshots go")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"metrika-ui-{args.line}-") as work:
        try:
            results = run(args.line, args.venv, args.out, Path(work))
        except CheckFailed as error:
            print(f"FAIL {args.line}: {error}", file=sys.stderr)
            return 1
    for line, conn_type, ok, detail in results:
        print(f"{'PASS' if ok else 'FAIL'}  {line}  {conn_type:15s} {detail.splitlines()[0][:400]}")
    passed = sum(ok for *_, ok, _ in results)
    print(f"ui_check {args.line}: {passed} of {len(results)} connection types passed")
    return 0 if results and passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
