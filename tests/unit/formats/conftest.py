from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from airflow_provider_metrika.formats import ValidationOptions

DATA = Path(__file__).resolve().parents[2] / "data"
NOW_TS = 1732400000
NOW = datetime.fromtimestamp(NOW_TS, UTC)


@pytest.fixture
def options() -> ValidationOptions:
    return ValidationOptions(now=NOW)
