"""Two tries of one task instance at once: only the current one uploads (Airflow 3.3 task state store).

A worker that lost its heartbeat keeps running its try while Airflow starts the retry. The
race is played against the emulator: the stale try has searched (nothing found) when the
new try starts, claims the upload and searches (nothing found either); then both would
post. The stale try must stop before posting; the emulator holds one uploading. The state
check is tested too: a try whose task instance Airflow no longer has running does not post.
"""

from __future__ import annotations

import time
import uuid

import pytest

from airflow_provider_metrika.exceptions import MetrikaSupersededError
from airflow_provider_metrika.jobs.current_try import CurrentTry
from airflow_provider_metrika.operators import upload as upload_module
from airflow_provider_metrika.operators.upload import MetrikaUploadOfflineConversionsOperator
from tests.integration.conftest import FakeTaskInstance
from tests.unit.operators.fakes import FakeStore

pytestmark = [pytest.mark.adversarial, pytest.mark.integration]


class TryOf(FakeTaskInstance):
    """One try of the same task instance: its own id and try number; Airflow's view of the state is settable."""

    def __init__(self, try_number: int, state: str = "running") -> None:
        super().__init__()
        self.id, self.try_number, self.state = uuid.uuid4(), try_number, state

    def get_task_states(self, *, dag_id, task_ids, run_ids, map_index):
        assert (dag_id, task_ids, run_ids, map_index) == (self.dag_id, [self.task_id], [self.run_id], -1)
        return {self.run_id: {self.task_id: self.state}}


def conversions(tmp_path):
    path = tmp_path / "c.csv"
    now = int(time.time()) - 3600
    path.write_text("ClientId,Target,DateTime\n" + "".join(f"{100 + i},paid,{now - i}\n" for i in range(5)))
    return path


def test_a_stale_try_stops_when_a_newer_try_claimed_the_upload(metrika_conn, emulator, tmp_path, monkeypatch):
    store = FakeStore()
    path = conversions(tmp_path)
    stale_ti, fresh_ti = TryOf(1), TryOf(2)
    real_find = upload_module.find_uploading
    fresh_search: list[object] = []

    def find_then_let_the_new_try_start(*args):
        found = real_find(*args)
        if not fresh_search:  # the stale try found nothing and is about to post: now the new try starts,
            CurrentTry.of({"ti": fresh_ti, "task_state_store": store}).claim()  # claims the upload
            fresh_search.append(real_find(*args))  # and searches before the stale try posts
        return found

    monkeypatch.setattr(upload_module, "find_uploading", find_then_let_the_new_try_start)
    stale = MetrikaUploadOfflineConversionsOperator(task_id="task", src=str(path))
    with pytest.raises(MetrikaSupersededError, match="try 2 of this task instance claimed the upload") as info:
        stale.execute({"ti": stale_ti, "task_state_store": store})
    assert fresh_search == [None]  # both tries searched before either posted: the race
    assert emulator.uploadings(kind="offline_conversions") == []  # the stale try sent nothing
    assert "try (1)" in str(info.value)

    monkeypatch.setattr(upload_module, "find_uploading", real_find)
    fresh = MetrikaUploadOfflineConversionsOperator(task_id="task", src=str(path))
    assert fresh.execute({"ti": fresh_ti, "task_state_store": store})["ids"]
    assert len(emulator.uploadings(kind="offline_conversions")) == 1


@pytest.mark.parametrize("state", ["up_for_retry", "failed", "queued", "scheduled", "restarting", "success"])
def test_a_try_airflow_no_longer_runs_does_not_post(metrika_conn, emulator, tmp_path, state):
    op = MetrikaUploadOfflineConversionsOperator(task_id="task", src=str(conversions(tmp_path)))
    with pytest.raises(MetrikaSupersededError, match=f"Airflow now has this task instance {state}"):
        op.execute({"ti": TryOf(1, state=state), "task_state_store": FakeStore()})
    assert emulator.uploadings(kind="offline_conversions") == []


def test_the_current_try_uploads(metrika_conn, emulator, tmp_path):
    store = FakeStore()
    op = MetrikaUploadOfflineConversionsOperator(task_id="task", src=str(conversions(tmp_path)))
    op.execute({"ti": TryOf(3), "task_state_store": store})
    assert store.values["metrika_upload_claim"]["try_number"] == 3
    assert len(emulator.uploadings(kind="offline_conversions")) == 1


def test_a_guard_that_cannot_read_does_not_block(metrika_conn, emulator, tmp_path):
    """Store and state failures leave the decision to the fingerprint search (logged, not fatal)."""

    class Unreachable(TryOf):
        def get_task_states(self, **kwargs):
            raise RuntimeError("supervisor comms down")

    op = MetrikaUploadOfflineConversionsOperator(task_id="task", src=str(conversions(tmp_path)), durable=True)
    store = FakeStore(fail_get=True, fail_set=True)
    op.execute({"ti": Unreachable(1), "task_state_store": store})
    assert len(emulator.uploadings(kind="offline_conversions")) == 1
