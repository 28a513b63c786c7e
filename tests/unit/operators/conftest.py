"""A mocked MetrikaHook in place of the real one for operator tests (files here may still define their own)."""

from __future__ import annotations

import pytest

from airflow_provider_metrika.operators import upload as upload_module


@pytest.fixture
def hook(mocker):
    instance = mocker.Mock()
    instance.resolve_counter_id.return_value = 5
    instance.iter_uploadings.side_effect = lambda *args, **kwargs: iter(())
    mocker.patch.object(upload_module.MetrikaSendOperator, "hook_class", return_value=instance)
    return instance


@pytest.fixture
def warnings_of(mocker):
    """``warnings_of(OperatorClass)``: the mock behind that class's ``log.warning`` (Airflow 3 logs through
    structlog, which caplog does not see)."""

    def patch(operator_class):
        log = mocker.Mock()
        mocker.patch.object(operator_class, "log", new_callable=mocker.PropertyMock, return_value=log)
        return log.warning

    return patch
