"""Settings of the Commerce Layer emulator (``POST /_emulator/config`` changes them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from airflow_provider_metrika.commercelayer.import_object import MAX_INPUTS
from airflow_provider_metrika.emulator.config import token_hash
from airflow_provider_metrika.emulator.errors import invalid_parameter
from airflow_provider_metrika.emulator.settings import EmulatorSettings, boolean, number

_NUMBERS = {
    "stage_seconds": (0.0, False),
    "token_ttl_seconds": (1, True),
    "oauth_limit": (1, True),
    "oauth_interval": (1.0, False),
    "api_limit": (1, True),
    "api_interval": (1.0, False),
    "max_inputs": (1, True),
    "max_open_imports": (1, True),
}

#: What an import does with an input whose natural key an earlier input took: lenient, strict.
DUPLICATE_INPUTS = ("skip", "error")


@dataclasses.dataclass(frozen=True)
class Settings(EmulatorSettings):
    """Limits and timings, defaulting to the documented values.

    - ``stage_seconds``: an import stays ``pending`` this long after it may start, then
      ``in_progress`` this long before it ends (https://docs.commercelayer.io/core/importing-resources).
    - ``token_ttl_seconds``: lifetime of an access token (the docs show 2 h for integrations,
      https://docs.commercelayer.io/core/authentication).
    - ``oauth_limit`` per ``oauth_interval`` seconds on ``/oauth/token`` and ``api_limit`` per
      ``api_interval`` on ``/api/`` (https://docs.commercelayer.io/core/rate-limits).
    - ``max_inputs`` per import and ``max_open_imports`` running at once per organization.
    - ``duplicate_inputs``: an input whose natural key an earlier input of the same import already took:
      ``skip`` (lenient, the default: skipped, a ``warnings_log`` line keyed by its position) or ``error``
      (strict: an ``errors_log`` entry, counted against the 10 % threshold).
    - ``warn_unchanged``: an input identical to the stored record gets a ``warnings_log`` line ("updated
      nothing"); off by default, so a re-import is quiet.
    - ``mode``: ``test`` or ``live`` in ``meta.mode``.
    - ``clients``: ``{client_id: client_secret}`` the token endpoint accepts (kept as the
      secrets' sha256); ``None`` accepts any non-empty pair.
    - ``echo_credentials``: a hostile server that repeats the token or client secret in its
      error details, to prove clients keep them out of their messages.
    """

    stage_seconds: float = 5.0
    token_ttl_seconds: int = 7200
    oauth_limit: int = 30
    oauth_interval: float = 60.0
    api_limit: int = 50
    api_interval: float = 10.0
    max_inputs: int = MAX_INPUTS
    max_open_imports: int = 10
    duplicate_inputs: str = "skip"
    warn_unchanged: bool = False
    mode: str = "test"
    echo_credentials: bool = False
    clients: Mapping[str, str] | None = None

    @classmethod
    def coerce(cls, name: str, value: Any) -> Any:
        if name in _NUMBERS:
            minimum, integer = _NUMBERS[name]
            result = number(name, value, minimum=minimum, integer=integer)
            return int(result) if integer else float(result)
        if name == "duplicate_inputs":
            if value not in DUPLICATE_INPUTS:
                raise invalid_parameter("duplicate_inputs must be 'skip' (a warning) or 'error'")
            return value
        if name == "mode":
            if value not in ("test", "live"):
                raise invalid_parameter("mode must be 'test' or 'live'")
            return value
        if name == "clients":
            return _clients(value)
        return boolean(name, value)


def _clients(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        raise invalid_parameter("clients must map non-empty client ids to non-empty secrets, or be null")
    return {client_id: token_hash(secret) for client_id, secret in value.items()}
