"""The benchmark's own helpers: the spec repair that lets Schemathesis load the 2024-05-13 spec, and the
server-side request count both tools are measured by."""

from __future__ import annotations

import sys

import httpx
import pytest
import yaml

from benchmarks._spec import rename_repeated_anchors, restrict
from conformance.transport.server import free_port, server_process
from tests.conftest import ROOT

TWICE = """\
first: &text one
use_first: *text
second: &text two
use_second: *text
list: [&n 1, *n]
"""


def test_repeated_anchors_are_renamed_and_aliases_keep_their_meaning() -> None:
    with pytest.raises(yaml.composer.ComposerError):
        yaml.safe_load(TWICE)
    fixed, renamed = rename_repeated_anchors(TWICE)
    assert renamed == 1
    assert yaml.safe_load(fixed) == {"first": "one", "use_first": "one", "second": "two", "use_second": "two",
                                      "list": [1, 1]}


def test_restrict_keeps_the_assistant_operations_and_what_they_reach() -> None:
    ref = {"$ref": "#/components/schemas/Obj"}
    doc = {
        "openapi": "3.0.0",
        "paths": {
            "/assistants": {"get": {"operationId": "list"}, "post": {"requestBody": {"content": {"a": {"schema": ref}}}}},
            "/assistants/{assistant_id}": {"get": {}, "delete": {}, "post": {"operationId": "modify"}},
            "/threads": {"post": {"requestBody": {"$ref": "#/components/schemas/Thread"}}},
        },
        "components": {
            "schemas": {"Obj": {"properties": {"inner": {"$ref": "#/components/schemas/Inner"}}}, "Inner": {},
                        "Thread": {}},
            "securitySchemes": {"ApiKeyAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
    out = restrict(doc)
    assert out["paths"] == {"/assistants": doc["paths"]["/assistants"],
                            "/assistants/{assistant_id}": doc["paths"]["/assistants/{assistant_id}"]}
    assert sorted(out["components"]["schemas"]) == ["Inner", "Obj"]
    assert out["components"]["securitySchemes"] == doc["components"]["securitySchemes"]


def test_the_benchmark_server_counts_requests_per_mount() -> None:
    port = free_port()
    with server_process([sys.executable, "-m", "benchmarks._server", "--port", str(port), "--catalog"], port,
                        ready="/_bench/counts", cwd=ROOT) as root:
        headers = {"Authorization": "Bearer conformance-test-key", "OpenAI-Beta": "assistants=v2"}
        assert httpx.post(root + "/v1/assistants", json={"model": "gpt-4o"}, headers=headers).status_code == 200
        httpx.get(root + "/broken/id-reused/v1/assistants/x", headers=headers)
        httpx.get(root + "/broken/id-reused/v1/assistants/y", headers=headers)
        assert httpx.get(root + "/_bench/counts").json() == {"": 1, "/broken/id-reused": 2}


def test_the_latency_benchmark_counts_a_run_at_the_server() -> None:
    """``python -m benchmarks.latency``'s pieces: a served latency, a run at a concurrency, counted server-side."""
    from benchmarks.latency import served, suite

    with served(0.0) as root:
        figures = suite(root, 4)
    assert figures["outcome"] == "conforms", figures
    assert figures["requests"] > 500
    assert set(figures["verdicts"].values()) == {"passed"}
