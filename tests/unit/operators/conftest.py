"""A mocked MetrikaHook in place of the real one for operator tests (files here may still define their own)."""

from __future__ import annotations

import pytest

from airflow_provider_metrika.operators import upload as upload_module


@pytest.fixture
def hook(mocker):
    instance = mocker.Mock()
    instance.resolve_counter_id.return_value = 5
    instance.iter_uploadings.side_effect = lambda *args, **kwargs: iter(())
    mocker.patch.object(upload_module, "MetrikaHook", return_value=instance)
    return instance
