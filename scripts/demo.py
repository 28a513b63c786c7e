"""Demo: start the Metrika emulator, seed the CRM database, run the example DAG, print the summary.

Usage: scripts/demo.sh [--dag metrika_crm_to_offline_conversions|metrika_crm_to_cdp|fleetio_wait_for_import|
                       commercelayer_skus_prices|all]
                      [--deals N] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "example_dags"))

from demo_crm import create_crm_database  # noqa: E402
from demo_runner import (  # noqa: E402
    airflow_env,
    commercelayer_env,
    fleetio_env,
    migrate,
    person_uploads_meter_readings,
    run_dag,
)

from airflow_provider_metrika.emulator.testing import EmulatorProcess  # noqa: E402

DAGS = (
    "metrika_crm_to_offline_conversions",
    "metrika_crm_to_cdp",
    "fleetio_wait_for_import",
    "commercelayer_skus_prices",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag", default=DAGS[0], choices=(*DAGS, "all"))
    parser.add_argument("--deals", type=int, default=5000, help="deals seeded into the CRM database")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".demo")
    parser.add_argument("--verbose", action="store_true", help="stream the full `airflow dags test` output")
    args = parser.parse_args(argv)

    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    started = time.monotonic()
    crm_db = create_crm_database(args.workdir / "crm.db", customers=args.customers, deals=args.deals)
    print(f"Seeded CRM database {crm_db} ({args.customers} customers, {args.deals} deals over 3 days)")
    # A fast emulator clock: each processing stage takes 60 emulated seconds = 0.2 s real time.
    with (
        EmulatorProcess(str(args.workdir / "emulator.db"), "--clock", "real", "--speed", "300") as emu,
        EmulatorProcess(
            str(args.workdir / "fleetio.db"), "--vendor", "fleetio", "--clock", "real", "--speed", "300"
        ) as fleetio,
        EmulatorProcess(
            str(args.workdir / "commercelayer.db"), "--vendor", "commercelayer", "--clock", "real", "--speed", "300"
        ) as commercelayer,
    ):
        print(f"Emulators: Metrika at {emu.url}, Fleetio at {fleetio.url}, Commerce Layer at {commercelayer.url}")
        env = {
            **airflow_env(args.workdir, emu.url, crm_db),
            **fleetio_env(fleetio.url),
            **commercelayer_env(commercelayer.url),
        }
        migrate(env)
        status = 0
        for dag_id in DAGS if args.dag == "all" else (args.dag,):
            if dag_id == "fleetio_wait_for_import":  # a person uploads the day's file in Fleetio's web app
                upload = person_uploads_meter_readings(fleetio.client, datetime.now(UTC))
                print(f"Fleetio emulator: a person imported {upload['file_name']} (import {upload['id']})")
            print(f"Running `airflow dags test {dag_id}` ...")
            result = run_dag(dag_id, env, echo=args.verbose)
            if result.returncode != 0:
                if not args.verbose:
                    print(result.output[-6000:])
                print(f"FAILED: {dag_id} (exit code {result.returncode})")
                status = 1
                continue
            print(f"Summary of {dag_id}: {json.dumps(result.summary, indent=2, sort_keys=True)}")
        uploadings = emu.client.uploadings()
        print(f"The emulator now holds {len(uploadings)} uploading(s):")
        for u in uploadings:
            print(f"  {u.get('kind')} #{u.get('id')}: status {u.get('status')}, rows {u.get('rows')}")
        imports = commercelayer.client.call("GET", "commercelayer/imports")["imports"]
        print(f"The Commerce Layer emulator now holds {len(imports)} import(s):")
        for item in imports:
            attributes = item["attributes"]
            print(
                f"  {attributes['resource_type']} {item['id']}: {attributes['status']}, "
                f"{attributes['processed_count']} of {attributes['inputs_size']} inputs processed"
            )
    print(f"Done in {time.monotonic() - started:.1f}s")
    return status


if __name__ == "__main__":
    sys.exit(main())
