"""Per-token limit on requests in flight.

Metrika lets one user have at most 3 requests in flight (``quota_parallel_requests``
beyond that). Tasks sharing a worker process (and triggers sharing the triggerer's
event loop) would trip it, so every request first takes a slot keyed by the token's
hash (the token itself is never used as a key or kept here).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import weakref

MAX_REQUESTS_IN_FLIGHT = 3

_lock = threading.Lock()
_thread_slots: dict[str, threading.BoundedSemaphore] = {}
_loop_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def token_key(token: str) -> str:
    """A stable, non-reversible key for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def request_slots(token: str) -> threading.BoundedSemaphore:
    """The process-wide semaphore of ``token`` for threads; use as ``with request_slots(token): ...``."""
    key = token_key(token)
    with _lock:
        slots = _thread_slots.get(key)
        if slots is None:
            slots = _thread_slots[key] = threading.BoundedSemaphore(MAX_REQUESTS_IN_FLIGHT)
        return slots


def async_request_slots(token: str) -> asyncio.Semaphore:
    """The running loop's semaphore of ``token``; asyncio semaphores cannot be shared across loops."""
    loop = asyncio.get_running_loop()
    key = token_key(token)
    with _lock:
        per_token = _loop_slots.setdefault(loop, {})
        slots = per_token.get(key)
        if slots is None:
            slots = per_token[key] = asyncio.Semaphore(MAX_REQUESTS_IN_FLIGHT)
        return slots
