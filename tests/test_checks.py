"""The comparison rules behind the echo and default checks: strict where the documentation is, lenient
where a conforming server may differ."""

from __future__ import annotations

from conformance.checks.core import _echo_diff, same
from conformance.contract.schemas import load_schemas

OBJECT = load_schemas().object_schema["properties"]


def test_same_is_json_equality() -> None:
    assert same(1, 1.0)
    assert not same(True, 1)
    assert not same(float("nan"), float("nan"))
    assert same({"a": [1, "x"]}, {"a": [1.0, "x"]})
    assert not same({"a": 1}, {"a": 1, "b": 2})
    assert not same("1", 1)


def test_echo_ignores_fields_a_server_adds_to_documented_objects() -> None:
    sent = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    got = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": False}}]
    assert _echo_diff(sent, got, OBJECT["tools"], "tools") is None


def test_echo_is_exact_inside_free_form_objects_and_maps() -> None:
    sent = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    got = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "extra": 1}}}]
    assert _echo_diff(sent, got, OBJECT["tools"], "tools") is not None
    assert _echo_diff({"a": "1"}, {"a": "1", "b": "2"}, OBJECT["metadata"], "metadata") is not None


def test_echo_compares_only_what_the_response_documents() -> None:
    sent = {"file_search": {"vector_stores": [{"file_ids": ["file-1"]}]}}
    got = {"file_search": {"vector_store_ids": ["vs_new"]}}
    assert _echo_diff(sent, got, OBJECT["tool_resources"], "tool_resources") is None
    sent = {"code_interpreter": {"file_ids": ["file-1"]}}
    assert _echo_diff(sent, {"code_interpreter": {"file_ids": []}}, OBJECT["tool_resources"], "t") is not None


def test_echo_of_floats_is_exact() -> None:
    assert _echo_diff(0.7, 0.7000000000000001, OBJECT["temperature"], "temperature") is not None
    assert _echo_diff(1, 1.0, OBJECT["temperature"], "temperature") is None


# --- the check contract ------------------------------------------------------------------------------


def test_every_check_declares_what_it_judges_and_how_severe_a_break_is() -> None:
    """One contract: a registered function ``(ctx, ex, ...)``, its report text, the schema annotations whose
    requirements it judges (each one a keyword some schema annotates) and a severity."""
    import inspect

    from conformance.checks import core, resource
    from conformance.checks.core import CHECKS, SEVERITIES
    from conformance.contract.requirements import catalog

    keywords = {kw for req in catalog().values() for kw in req.keywords}
    assert len(CHECKS) >= 25
    for name, declared in CHECKS.items():
        fn = getattr(core, name, None) or getattr(resource, name)
        assert list(inspect.signature(fn).parameters)[:2] == ["ctx", "ex"], name
        assert declared.description and declared.severity in SEVERITIES, name
        assert declared.judges and set(declared.judges) <= keywords, (name, set(declared.judges) - keywords)


def test_a_requirements_severity_is_that_of_the_checks_that_judge_its_own_annotation() -> None:
    from conformance.checks.core import severity_of

    assert severity_of(("x-auth",), ["unauthorized"]) == "critical"
    assert severity_of(("x-echo",), ["echoed"]) == "minor"
    # a limit a probe broke is judged by 'rejected', whose own annotation is x-reject: the limit stays normal
    assert severity_of(("maxLength",), ["accepted", "rejected"]) == "normal"
    assert severity_of(("x-no-repeat",), ["pages_complete"]) == "critical"
    assert severity_of(("type",), []) == "normal"
