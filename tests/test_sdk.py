"""The official client against the reference server: the OpenAI Python SDK round-trips through it.

If the reference server is usable by the client people actually use, its answers carry the shapes, status
codes and error envelopes the SDK expects: objects parse into its types, errors into its exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from .serving import KEY, Served, serve

# The SDK marks the Assistants API deprecated (today's spec does too); the warning says nothing about the server.
pytestmark = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    """``conformance serve`` (uvicorn on a free loopback port, in its own process), inspectable."""
    with serve() as served:
        yield served


def _client(base: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=10)


def test_create_retrieve_delete_round_trip(server: Served) -> None:
    client = _client(server.base)
    created = client.beta.assistants.create(
        model="gpt-4o", name="Math Tutor", description="helps with sums",
        instructions="You are a personal math tutor. Write and run code to answer math questions.",
        tools=[{"type": "code_interpreter"},
               {"type": "function", "function": {"name": "get_weather", "description": "weather",
                                                 "parameters": {"type": "object", "properties": {}}}}],
        tool_resources={"code_interpreter": {"file_ids": ["file-abc123"]}},
        metadata={"team": "conformance"}, temperature=0.5, top_p=0.9, response_format={"type": "json_object"},
    )
    assert isinstance(created, openai.types.beta.Assistant)
    assert created.id.startswith("asst_") and created.object == "assistant"
    assert (created.name, created.model, created.temperature, created.top_p) == ("Math Tutor", "gpt-4o", 0.5, 0.9)
    assert [t.type for t in created.tools] == ["code_interpreter", "function"]
    assert created.tools[1].function.name == "get_weather"  # type: ignore[union-attr]
    assert created.tool_resources is not None and created.tool_resources.code_interpreter is not None
    assert created.tool_resources.code_interpreter.file_ids == ["file-abc123"]
    assert created.metadata == {"team": "conformance"}
    assert created.response_format.type == "json_object"  # type: ignore[union-attr]
    assert server.inspect()["assistants"] == [created.id]

    fetched = client.beta.assistants.retrieve(created.id)
    assert fetched == created

    deleted = client.beta.assistants.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "assistant.deleted")
    assert server.inspect()["assistants"] == []
    with pytest.raises(openai.NotFoundError) as gone:
        client.beta.assistants.retrieve(created.id)
    assert gone.value.status_code == 404


def test_defaults_come_back_as_documented(server: Served) -> None:
    client = _client(server.base)
    created = client.beta.assistants.create(model="gpt-4")
    try:
        assert created.tools == [] and created.temperature == 1 and created.top_p == 1
        assert created.response_format == "auto" and created.name is None and created.metadata == {}
    finally:
        client.beta.assistants.delete(created.id)


def test_errors_reach_the_sdk_as_its_exceptions(server: Served) -> None:
    client = _client(server.base)
    with pytest.raises(openai.BadRequestError) as invalid:
        client.beta.assistants.create(model="gpt-4o", name="x" * 257)
    assert invalid.value.status_code == 400
    assert invalid.value.param == "name" and invalid.value.code == "invalid_value"
    with pytest.raises(openai.AuthenticationError) as denied:
        _client(server.base, key="sk-not-the-key").beta.assistants.create(model="gpt-4o")
    assert denied.value.status_code == 401 and denied.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as unknown:
        client.beta.assistants.create(model="conformance-unknown-model")
    assert unknown.value.param == "model"
    assert server.inspect()["assistants"] == []


def test_the_latest_profile_takes_todays_fields_from_the_sdk() -> None:
    with serve("--profile", "latest") as server:
        client = _client(server.base)
        created = client.beta.assistants.create(
            model="gpt-5", reasoning_effort="low",
            response_format={"type": "json_schema", "json_schema": {"name": "answer", "strict": True,
                                                                    "schema": {"type": "object"}}},
        )
        assert created.model == "gpt-5"
        assert created.response_format.type == "json_schema"  # type: ignore[union-attr]
        assert client.beta.assistants.retrieve(created.id) == created
        with pytest.raises(openai.BadRequestError):
            client.beta.assistants.create(model="gpt-5", response_format="none")  # type: ignore[arg-type]
        client.beta.assistants.delete(created.id)
        assert server.inspect()["assistants"] == []
