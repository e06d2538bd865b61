"""The schemas against what the real API sent back, as recorded in public test suites (tests/real_answers/).

Every v2-era assistant object (create, retrieve, modify, each item of a list's data) must pass the assistant
schema, every delete answer the delete schema, every error envelope the error schema, under both profiles:
the v2 answers recorded from April 2024 to March 2026 fit the documentation of 2024-05-13 and today's spec
alike. v1-era objects (top-level file_ids) are kept for reference and not judged: no profile describes them.
An item marked "known_mismatch": {"PROFILE": "why"} is one our schema refuses although the API sent it; the
test then requires that it is still refused, so the mark goes stale loudly once the schema is fixed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from conformance.contract.profiles import load_profile
from conformance.contract.schemas import DELETE, ERROR, OBJECT

CORPUS_DIR = Path(__file__).parent / "real_answers"
PROFILES = ("2024-05-13", "latest")
SCHEMA_OF = {"create": OBJECT, "retrieve": OBJECT, "modify": OBJECT, "list": OBJECT,
             "delete": DELETE, "error": ERROR}


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS_DIR.glob("*.json") if p.name != "sources.json")


def answers(files: list[Path]) -> Iterator[tuple[str, str, Any, dict[str, str]]]:
    """(where, schema name, the object, known mismatches by profile) for every answer the tests judge."""
    for path in files:
        for item in json.loads(path.read_text(encoding="utf-8"))["items"]:
            kind, response = item["kind"], item["response"]
            if SCHEMA_OF[kind] == OBJECT and item["era"] != "v2":
                continue
            where = f"{path.name}: {item['item']} ({kind}, {item['request']['method']} {item['request']['path']})"
            known = item.get("known_mismatch", {})
            if kind == "list":
                for index, obj in enumerate(response["data"]):
                    yield f"{where} data[{index}]", OBJECT, obj, known.get(f"data[{index}]", {})
            else:
                yield where, SCHEMA_OF[kind], response, known


def _first_error(validator: Draft202012Validator, obj: Any) -> str | None:
    errors = sorted(validator.iter_errors(obj), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if not errors:
        return None
    e = errors[0]
    return f"at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"


def judge(profile: str, files: list[Path]) -> list[str]:
    """Every problem: an answer refused without a mark, or a marked answer that now passes (a stale mark)."""
    schemas = load_profile(profile)
    problems = []
    for where, name, obj, known in answers(files):
        error = _first_error(schemas.validator(name), obj)
        if profile in known:
            if error is None:
                problems.append(f"{where}: marked known_mismatch under {profile} ({known[profile]}), but now passes {name}"
                                " - remove the mark")
        elif error is not None:
            problems.append(f"{where}: refused by {name} under {profile}: {error}")
    return problems


def test_the_corpus_is_there_and_small() -> None:
    files = corpus_files()
    assert len(files) >= 4
    assert sum(p.stat().st_size for p in CORPUS_DIR.iterdir()) < 1_000_000
    kinds = {name for _, name, _, _ in answers(files)}
    assert kinds == {OBJECT, DELETE, ERROR}


def test_every_item_names_its_source() -> None:
    for path in corpus_files():
        corpus = json.loads(path.read_text(encoding="utf-8"))
        assert corpus["source"]["repository"] and corpus["source"]["commit"], path.name
        for item in corpus["items"]:
            assert item["kind"] in SCHEMA_OF and item["era"] in {"v1", "v2", "none"}, (path.name, item["item"])
            assert item["source_path"] and item["request"]["method"] and isinstance(item["status"], int)
            assert (item["status"] >= 400) == (item["kind"] == "error"), (path.name, item["item"])


@pytest.mark.parametrize("profile", PROFILES)
def test_the_schemas_accept_every_real_answer(profile: str) -> None:
    problems = judge(profile, corpus_files())
    assert not problems, f"{len(problems)} real answers disagree with the schemas:\n" + "\n".join(problems)


@pytest.mark.parametrize("profile", PROFILES)
def test_a_corrupted_answer_is_caught_and_named(profile: str, tmp_path: Path) -> None:
    """The test can fail: one answer broken in a copy of the corpus is named with its file, item and error."""
    source = CORPUS_DIR / "openai-dotnet.assistants.json"
    corpus = json.loads(source.read_text(encoding="utf-8"))
    victim = next(i for i in corpus["items"] if i["kind"] == "create")
    victim["response"]["tools"] = [{"type": "retrieval"}]
    (tmp_path / source.name).write_text(json.dumps(corpus), encoding="utf-8")
    problems = judge(profile, [tmp_path / source.name])
    assert len(problems) == 1
    assert f"{source.name}: {victim['item']} (create" in problems[0] and "at tools/0" in problems[0]


def test_a_stale_known_mismatch_is_reported(tmp_path: Path) -> None:
    source = CORPUS_DIR / "ruby-openai.json"
    corpus = json.loads(source.read_text(encoding="utf-8"))
    victim = next(i for i in corpus["items"] if i["kind"] == "delete")
    victim["known_mismatch"] = {"latest": "pretend"}
    (tmp_path / source.name).write_text(json.dumps(corpus), encoding="utf-8")
    problems = judge("latest", [tmp_path / source.name])
    assert len(problems) == 1 and "now passes" in problems[0] and victim["item"] in problems[0]


# --- the modify and list schemas against the recordings ------------------------------------------------------


def _recorded(kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in corpus_files():
        for item in json.loads(path.read_text(encoding="utf-8"))["items"]:
            if item["kind"] == kind and item["era"] == "v2":
                yield f"{path.name}: {item['item']}", item


def _query(target: str) -> dict[str, Any]:
    """A recorded list request's query as the list query schema models it (limit an integer)."""
    from urllib.parse import parse_qsl, urlsplit

    pairs = dict(parse_qsl(urlsplit(target).query))
    return {k: int(v) if k == "limit" and v.isdigit() else v for k, v in pairs.items()}


@pytest.mark.parametrize("profile", PROFILES)
def test_every_real_list_answer_fits_the_list_schemas(profile: str) -> None:
    """Each recorded v2 list answer passes the list answer schema, its first_id and last_id are its first and last
    items' ids (LIST-FIRST-LAST-ID), and the query that asked for it passes the list query schema."""
    from .spec_walk import LIST_QUERY, LIST_RESPONSE, profile_schemas

    schemas = profile_schemas(profile)
    answer, query = schemas.validator(LIST_RESPONSE), schemas.validator(LIST_QUERY)
    problems, seen = [], 0
    for where, item in _recorded("list"):
        seen += 1
        response = item["response"]
        for validator, obj in ((answer, response), (query, _query(item["request"]["path"]))):
            error = _first_error(validator, obj)
            if error is not None:
                problems.append(f"{where}: {error}")
        if response["data"] and (response["first_id"], response["last_id"]) != (
                response["data"][0]["id"], response["data"][-1]["id"]):
            problems.append(f"{where}: first_id/last_id are not the ids of data's first and last items")
    assert seen >= 30 and problems == []


@pytest.mark.parametrize("profile", PROFILES)
def test_every_real_modify_request_fits_the_modify_schema(profile: str) -> None:
    """The bodies the SDKs' suites sent to POST /v1/assistants/{id} (and the API took) pass the modify schema."""
    from .spec_walk import MODIFY, profile_schemas

    validator = profile_schemas(profile).validator(MODIFY)
    bodies = [(where, item["request"]["body"]) for where, item in _recorded("modify") if "body" in item["request"]]
    problems = [f"{where}: {error}" for where, body in bodies if (error := _first_error(validator, body)) is not None]
    assert len(bodies) >= 8 and problems == []
