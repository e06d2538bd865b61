"""The options of a run, declared once for pytest (the command line builds its own from the same table).
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.contract.profiles import DEFAULT_PROFILE, PROFILES
from conformance.transport import cassettes as _cassettes


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "conformance: POST /v1/assistants")
    group.addoption("--target-url", default=None,
                    help="base URL of the API under test, like the OpenAI SDK's base_url "
                         "(e.g. http://127.0.0.1:8000/v1). Default: $CONFORMANCE_TARGET_URL, else the embedded "
                         "reference server.")
    group.addoption("--api-key", default=None, help="API key sent as 'Authorization: Bearer'. Default: $OPENAI_API_KEY.")
    group.addoption("--target-name", default=None, help="a name for the target in reports (default: its host)")
    group.addoption("--request-timeout", type=float, default=30.0, help="seconds per exchange, connect to last byte (default 30)")
    group.addoption("--seed", type=int, default=0, help="generation seed; the same seed sends the same requests (default 0)")
    group.addoption("--max-examples", type=int, default=25,
                    help="examples per property; probes use a few each (default 25)")
    group.addoption("--model", action="append", default=None,
                    help="a model the target serves (repeatable). Default: the documented list.")
    group.addoption("--unknown-model", default="conformance-unknown-model",
                    help="a model name the target must not know (default conformance-unknown-model)")
    group.addoption("--file-id", action="append", default=None,
                    help="a file ID the target knows (repeatable). Default: synthetic IDs.")
    group.addoption("--vector-store-id", action="append", default=None,
                    help="a vector store ID the target knows (repeatable). Default: synthetic IDs.")
    group.addoption("--no-files", action="store_true", help="the target has no files: send no file IDs")
    group.addoption("--clock-skew", type=float, default=60.0,
                    help="seconds created_at may differ from this machine's clock (default 60)")
    group.addoption("--report-dir", default=None,
                    help="write compliance.json, compliance.md and compliance.html here")
    # cassettes (conformance/transport/cassettes.py)
    group.addoption("--record-mode", default=None, choices=_cassettes.RECORD_MODES,
                    help="record and replay a cassette per test, with vcrpy's record modes: 'none' replays only "
                         "and sends nothing, 'once' records the tests that have no cassette, 'new_episodes' "
                         "records what the cassettes lack, 'all' re-records. Default: no cassettes (unless a "
                         "'vcr' marker or the 'vcr_config' fixture sets record_mode).")
    group.addoption("--cassette-dir", default=None,
                    help="where cassettes are (default: cassettes/<target name>/, cassettes/reference/ for the "
                         "embedded reference server)")
    _addoption_realworld(group)


def _addoption_realworld(group: Any) -> None:
    """Options for real-world targets: profile, pools file, request budget, 429 handling, in-process, dry run."""
    group.addoption("--profile", default=DEFAULT_PROFILE, choices=PROFILES,
                    help=f"the contract: {DEFAULT_PROFILE} (the documentation of May 2024, default) or latest "
                         "(today's spec); see schemas/README.md")
    group.addoption("--pools", default=None, metavar="FILE",
                    help='resource pools from a JSON file: {"models": [...], "file_ids": [...], '
                         '"vector_store_ids": [...], "unknown_model": "...", "no_files": false}; options win')
    group.addoption("--max-requests", type=int, default=None, metavar="N",
                    help="never send more than N requests (cleanup included); tests past it are skipped")
    group.addoption("--max-retries", type=int, default=3, metavar="N",
                    help="retries of a request answered 429 (default 3); each counts against --max-requests")
    group.addoption("--max-wait", type=float, default=60.0, metavar="S",
                    help="longest wait a 429 may ask for, in seconds (default 60); longer is a target error")
    group.addoption("--transport", default=None, metavar="MODULE:FACTORY",
                    help="an in-process target: a callable (module:name or file.py:name) returning an httpx "
                         "transport, called with base_url= if it takes it")
    group.addoption("--max-target-errors", type=int, default=3, metavar="N",
                    help="stop after N tests in a row end in a target error (default 3; 0 never stops)")
    group.addoption("--concurrency", type=int, default=1, metavar="N",
                    help="up to N requests in flight: tests still run one at a time, in order, and the requests "
                         "known beforehand are sent ahead (same requests, same verdicts). Default 1: one at a time")
    group.addoption("--dry-run", action="store_true",
                    help="send nothing: the reference answers in the target's place; print what would be sent")


