"""Settings of the Fleetio emulator (``POST /_emulator/config`` changes them)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_metrika.emulator.config import token_hash
from airflow_provider_metrika.emulator.errors import invalid_parameter
from airflow_provider_metrika.emulator.settings import EmulatorSettings, boolean, number

DATE_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclasses.dataclass(frozen=True)
class Settings(EmulatorSettings):
    """Timings and limits.

    - ``stage_seconds``: an import is ``new``, ``queued`` and ``processing`` this long each
      before its terminal status; ``rolling_back`` lasts as long.
    - ``rate_limit`` requests per ``rate_window`` seconds per API key, sliding
      (https://developer.fleetio.com/docs/overview/rate-limiting).
    - ``key_version``: the date version an API key is pinned to, used when a request sends
      no ``X-Api-Version`` (https://developer.fleetio.com/docs/overview/versioning).
    - ``api_keys``: ``{api key: account token}`` accepted (kept as the keys' sha256);
      ``None`` accepts any non-empty pair.
    - ``echo_credentials``: a hostile server repeating the credentials in error bodies.
    """

    stage_seconds: float = 5.0
    rate_limit: int = 20
    rate_window: float = 60.0
    key_version: str = "2023-01-01"
    api_keys: Mapping[str, str] | None = None
    echo_credentials: bool = False

    @classmethod
    def coerce(cls, name: str, value: Any) -> Any:
        if name in ("stage_seconds", "rate_window"):
            return float(number(name, value, minimum=0.0 if name == "stage_seconds" else 1.0))
        if name == "rate_limit":
            return int(number(name, value, minimum=1, integer=True))
        if name == "key_version":
            if not isinstance(value, str) or not DATE_VERSION.fullmatch(value):
                raise invalid_parameter("key_version must be a date version like 2024-01-01")
            return value
        if name == "api_keys":
            if value is None:
                return None
            if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
            ):
                raise invalid_parameter("api_keys must map non-empty API keys to non-empty account tokens, or be null")
            return {token_hash(key): account for key, account in value.items()}
        return boolean(name, value)
