"""openai-responses (PyPI) as an in-process target for ``conformance run --transport``.

openai-responses mocks the OpenAI API for tests by routing httpx requests through a RESPX router
(``OpenAIMock().router``); its stateful routes keep assistants in a ``StateStore``. ``router.handler`` is
a plain function from ``httpx.Request`` to ``httpx.Response``, so ``httpx.MockTransport`` turns it into a
transport, and the suite talks to the mock exactly as code under test does, with nothing on the network.

The mock checks that the files a ``vector_stores`` helper names exist (404 otherwise), as the API does, so
the state starts with the files listed in ``openai-responses.pools.json``, the pools the run draws from.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from openai.types import FileObject
from openai_responses import OpenAIMock
from openai_responses.stores import StateStore

POOLS = Path(__file__).with_name("openai-responses.pools.json")


def transport(base_url: str) -> httpx.BaseTransport:
    """A fresh mock answering at ``base_url``, its state holding the pool's files."""
    state = StateStore()
    for file_id in json.loads(POOLS.read_text(encoding="utf-8"))["file_ids"]:
        state.files.put(FileObject(id=file_id, bytes=1, created_at=int(time.time()), filename=f"{file_id}.txt",
                                   object="file", purpose="assistants", status="processed"))
    return httpx.MockTransport(OpenAIMock(base_url=base_url, state=state).router.handler)
