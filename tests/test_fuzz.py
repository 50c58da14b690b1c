"""Fuzzing every operation of Threadline's own OpenAPI document with schemathesis: data that
fits it and data that does not, on SQLite and PostgreSQL. No answer is a 5xx, and every 4xx
has the OpenAI error shape. Bounded: a fixed number of examples per operation and mode,
derandomized, so that CI runs the same cases each time."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.support.server import Server
from threadline.app import create_app
from threadline.config import Settings

EXAMPLES = 40
# The document the server serves at /openapi.json, built here for collection
# (tests/test_openapi.py checks that the two are the same).
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings(embedded=False)).openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def check(response: httpx.Response | object, label: str) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    assert status < 500, (label, status, response.text)  # type: ignore[attr-defined]
    if status >= 400:
        error = response.json()["error"]  # type: ignore[attr-defined]
        assert set(error) == {"message", "type", "param", "code"}, (label, error)
        assert isinstance(error["message"], str) and error["message"], (label, error)


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda mode: mode.value)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_fuzz(operation, mode: GenerationMode, server: Server, api_key: str) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case) -> None:
        response = case.call(base_url=server.origin, headers=headers, timeout=30)
        check(response, f"{operation.label} {mode.value}: {case.body!r:.300}")

    fuzz()
