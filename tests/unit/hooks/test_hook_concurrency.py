"""The per-token in-flight limit, for threads and for event loops (no sleeps: events and barriers)."""

from __future__ import annotations

import asyncio
import threading

from airflow_provider_metrika.hooks.concurrency import (
    MAX_REQUESTS_IN_FLIGHT,
    async_request_slots,
    request_slots,
    token_key,
)


def test_token_key_is_a_hash_not_the_token():
    assert token_key("tok") == token_key("tok") != token_key("tok2")
    assert "tok" not in token_key("tok") and len(token_key("tok")) == 64


def test_same_token_shares_one_semaphore_other_tokens_do_not():
    assert request_slots("concurrency-a") is request_slots("concurrency-a")
    assert request_slots("concurrency-a") is not request_slots("concurrency-b")


def test_threads_are_capped_at_three():
    token = "concurrency-threads"
    release = threading.Event()
    entered = threading.Semaphore(0)
    lock = threading.Lock()
    state = {"inside": 0, "peak": 0, "done": 0}

    def worker():
        with request_slots(token):
            with lock:
                state["inside"] += 1
                state["peak"] = max(state["peak"], state["inside"])
            entered.release()
            release.wait(10)
            with lock:
                state["inside"] -= 1
                state["done"] += 1

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for _ in range(MAX_REQUESTS_IN_FLIGHT):
        assert entered.acquire(timeout=10)
    # Three are inside and holding their slots: the semaphore is exhausted for this token ...
    assert not request_slots(token).acquire(blocking=False)
    # ... but not for another token.
    other = request_slots("concurrency-threads-other")
    assert other.acquire(blocking=False)
    other.release()
    release.set()
    for thread in threads:
        thread.join(10)
    assert state == {"inside": 0, "peak": MAX_REQUESTS_IN_FLIGHT, "done": 6}


async def test_tasks_on_one_loop_are_capped_at_three():
    token = "concurrency-async"
    release = asyncio.Event()
    state = {"inside": 0, "peak": 0}

    async def worker():
        async with async_request_slots(token):
            state["inside"] += 1
            state["peak"] = max(state["peak"], state["inside"])
            await release.wait()
            state["inside"] -= 1

    tasks = [asyncio.create_task(worker()) for _ in range(5)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert state["inside"] == MAX_REQUESTS_IN_FLIGHT
    assert async_request_slots(token).locked()
    release.set()
    await asyncio.gather(*tasks)
    assert state == {"inside": 0, "peak": MAX_REQUESTS_IN_FLIGHT}


def test_each_event_loop_gets_its_own_semaphore():
    async def grab():
        return async_request_slots("concurrency-loops")

    first, second = asyncio.run(grab()), asyncio.run(grab())
    assert first is not second
