"""The assistants resource of the Assistants API v2: create, retrieve, modify, list and delete.

Create is the documented focus (its documentation is ``create-assistant-api.txt``); retrieve and delete are
exercised by the lifecycle of what create makes, so they belong to the ``create`` selection. Modify and list
follow the spec of the same date, where the documentation is silent.
"""

from __future__ import annotations

from conformance.endpoints.base import Operation, Resource

__all__ = ["ASSISTANTS"]

OBJECT = "assistant.schema.json"

ASSISTANTS = Resource(
    name="assistants",
    object=OBJECT,
    error="error.schema.json",
    headers=(("OpenAI-Beta", "assistants=v2"),),
    id_label="assistant",
    title="the Assistants API",
    gone="OpenAI's own API answers 404 there: it shut the Assistants API down on 2026-08-26.",
    operations=(
        Operation("create", "POST", "/assistants", OBJECT, "create", request="create-assistant-request.schema.json"),
        Operation("retrieve", "GET", "/assistants/{id}", OBJECT, "create"),
        Operation("delete", "DELETE", "/assistants/{id}", "delete-assistant-response.schema.json", "create"),
        Operation("modify", "POST", "/assistants/{id}", OBJECT, "modify",
                  request="modify-assistant-request.schema.json", prefix="MODIFY-"),
        Operation("list", "GET", "/assistants", "list-assistants-response.schema.json", "list",
                  query="list-assistants-query.schema.json"),
    ),
)
