"""Runtime settings of the emulator, changeable through ``POST /_emulator/config``.

The CLI gives the defaults; overrides set over the control API are persisted in the
state store and survive a restart; ``reset`` drops them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any

from airflow_provider_metrika.emulator.errors import invalid_parameter
from airflow_provider_metrika.emulator.settings import EmulatorSettings, number

QUOTA_STATUSES = (420, 429)
#: Switches that pick the documented (strict) or the observed (lenient) reading where they differ.
CHOICES: dict[str, tuple[str, ...]] = {
    "first_status": ("UPLOADED", "PREPARED"),
    "comment_chars": ("any", "seed"),
    "upload_comment": ("keep", "ignore"),
    "cdp_schema": ("strict", "lenient"),
}


@dataclasses.dataclass(frozen=True)
class EmulatorConfig(EmulatorSettings):
    """Settings read on every request.

    ``tokens`` maps the sha256 of a token to the counter ids it may use (tokens
    themselves are never kept); ``None`` accepts any non-empty token for any counter.
    ``future_tolerance_seconds`` is how far a conversion's ``DateTime`` may lie ahead
    of the emulator clock (client clocks and a frozen emulator clock drift apart
    during a test). ``body_timeout_seconds`` is how long (real seconds) a request may go
    without sending a byte of its body before it gets 408 and frees its parallel slot.

    Where production practice and the documentation part ways, a switch picks the reading:

    - ``first_status``: the status an offline-conversions/calls uploading has right after
      upload. ``UPLOADED`` (default) is what clients tested against production see
      (https://github.com/pikhovkin/yametrikapy, its test suite); ``PREPARED`` keeps the
      status list's first entry.
    - ``comment_chars``: ``any`` (default) accepts any comment up to 255 characters, as
      widely used clients send spaces and punctuation
      (https://github.com/selesnow/rym, "Upload by rym at ..."); ``seed`` enforces the
      documented letters-and-digits rule of the offline-conversions upload
      (https://yandex.com/dev/metrika/en/management/openapi/offline_conversions/upload_1).
      Calls are never checked: their page states no rule.
    - ``upload_comment``: ``keep`` (default) stores the ``comment`` query parameter of a
      user-params upload; ``ignore`` drops it, as production may (the upload page lists only
      ``action``: https://yandex.com/dev/metrika/en/management/openapi/user_params/upload),
      so only the confirm body sets the comment.
    - ``cdp_schema``: ``strict`` (default) fails CDP orders whose status is neither a default
      status nor mapped, and mappings or ``attribute_values`` naming an attribute that is
      neither system nor created
      (https://yandex.ru/dev/metrika/en/data-import/maporderstatuses-about; what production
      does with an unmapped status is not documented); ``lenient`` accepts them.
    """

    stage_seconds: float = 60.0
    daily_quota: int | None = None
    parallel_limit: int = 3
    quota_status: int = 429
    tokens: Mapping[str, tuple[int, ...]] | None = None
    future_tolerance_seconds: float = 120.0
    first_status: str = "UPLOADED"
    comment_chars: str = "any"
    upload_comment: str = "keep"
    cdp_schema: str = "strict"
    body_timeout_seconds: float = 30.0

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["tokens"] = None if self.tokens is None else {token: list(ids) for token, ids in self.tokens.items()}
        return data

    def with_stored(self, overrides: Mapping[str, Any]) -> EmulatorConfig:
        """Apply overrides read back from the store (token keys are hashes already)."""
        values = dict(overrides)
        if values.get("tokens") is not None:
            values["tokens"] = {key: tuple(ids) for key, ids in values["tokens"].items()}
        return dataclasses.replace(self, **values)

    @classmethod
    def coerce(cls, name: str, value: Any) -> Any:
        return _coerce(name, value)


def token_hash(token: str) -> str:
    """How tokens are identified in counters, config and logs: never the token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _coerce(name: str, value: Any) -> Any:
    if name in ("stage_seconds", "future_tolerance_seconds"):
        return number(name, value, minimum=0.0)
    if name == "body_timeout_seconds":
        return _positive(name, value)
    if name == "daily_quota":
        return None if value is None else int(number(name, value, minimum=0, integer=True))
    if name == "parallel_limit":
        return int(number(name, value, minimum=1, integer=True))
    if name == "quota_status":
        if value not in QUOTA_STATUSES:
            raise invalid_parameter(f"quota_status must be one of {QUOTA_STATUSES}")
        return int(value)
    if name == "tokens":
        return parse_token_map(value)
    if name in CHOICES:
        if value not in CHOICES[name]:
            raise invalid_parameter(f"{name} must be one of {', '.join(CHOICES[name])}, not {value!r}")
        return value
    raise AssertionError(name)  # pragma: no cover - guarded by updated()


def _positive(name: str, value: Any) -> float:
    checked = number(name, value, minimum=0.0)
    if checked == 0:
        raise invalid_parameter(f"{name} must be > 0")
    return float(checked)


def parse_token_map(value: Any) -> Mapping[str, tuple[int, ...]] | None:
    """Validate a ``{token: [counter ids]}`` map into ``{token sha256: ids}`` (``None`` switches it off)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise invalid_parameter("tokens must be an object {token: [counter ids]} or null")
    result: dict[str, tuple[int, ...]] = {}
    for token, ids in value.items():
        if not isinstance(token, str) or not token or not isinstance(ids, list):
            raise invalid_parameter("tokens must map non-empty token strings to lists of counter ids")
        if not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
            raise invalid_parameter("counter ids in tokens must be positive integers")
        result[token_hash(token)] = tuple(ids)
    return result
