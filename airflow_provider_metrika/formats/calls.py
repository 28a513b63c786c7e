"""Calls CSV (§3.1): an offline-conversion event file without Target, plus call details."""

from __future__ import annotations

from airflow_provider_metrika.formats.offline_conversions import (
    CLIENT_ID,
    CURRENCY,
    DATE_TIME,
    DATETIME,
    PRICE,
    USER_ID,
    YCLID,
    EventFileFormat,
)
from airflow_provider_metrika.formats.values import check_call_phone, check_flag, check_non_negative_int
from airflow_provider_metrika.formats.writer import Column, to_int_text

CALLS = EventFileFormat(
    "calls",
    columns=(
        CLIENT_ID,
        USER_ID,
        YCLID,
        DATE_TIME,
        Column("StaticCall", check_flag, ("static_call",), to_int_text),
        PRICE,
        CURRENCY,
        Column("PhoneNumber", check_call_phone, ("phone_number",)),
        Column("TalkDuration", check_non_negative_int, ("talk_duration",), to_int_text),
        Column("HoldDuration", check_non_negative_int, ("hold_duration",), to_int_text),
        Column("CallMissed", check_flag, ("call_missed",), to_int_text),
        Column("Tag", None, ("tag",)),
        Column("FirstTimeCaller", check_flag, ("first_time_caller",), to_int_text),
        Column("URL", None, ("url",)),
        Column("CallTrackerURL", None, ("call_tracker_url",)),
    ),
    required=(DATETIME,),
    ids=("ClientId", "UserId", "Yclid"),
    foreign=("Target",),
)
