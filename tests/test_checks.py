"""The comparison rules behind the echo and default checks: strict where the documentation is, lenient
where a conforming server may differ."""

from __future__ import annotations

from typing import Any

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


# --- list pages: a pass only where a page showed it ---------------------------------------------------


def _context() -> Any:
    from conformance.checks.core import Context
    from conformance.contract.requirements import catalog
    from conformance.results.ledger import Ledger

    return Context(load_schemas(), Ledger(catalog()))


def _list(*stamps: int, has_more: bool = False) -> dict[str, Any]:
    data = [{"id": f"asst_{index}", "created_at": stamp} for index, stamp in enumerate(stamps)]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": has_more}


def test_order_passes_only_on_a_page_holding_the_two_assistants_created_a_second_apart() -> None:
    from conformance.checks.resource import page_order

    ctx = _context()
    page_order(ctx, None, _list(5, 5, 5), None)  # made in one second: shows nothing
    page_order(ctx, None, _list(6, 5, 5), None)  # sorted, but its stamps are the clock's doing: not counted
    page_order(ctx, None, _list(6, 5, 5), None, ("asst_1", "asst_9"))  # the two are not both on the page
    page_order(ctx, None, _list(6, 5, 5), None, ("asst_2", "asst_1"))  # both on it, in one second
    assert ctx.ledger.verdict("LIST-ORDER-DEFAULT") == "not_exercised"
    page_order(ctx, None, _list(6, 5, 5), None, ("asst_1", "asst_0"))
    assert ctx.ledger.verdict("LIST-ORDER-DEFAULT") == "passed" and ctx.ledger.examples["LIST-ORDER-DEFAULT"] == 1
    page_order(ctx, None, _list(6, 5, 5), "asc")  # out of order fails on any page, the two on it or not
    assert ctx.ledger.verdict("LIST-ORDER") == "failed"


def test_limit_passes_only_on_a_page_cut_at_its_limit() -> None:
    from conformance.checks.resource import page_limit

    ctx = _context()
    page_limit(ctx, None, _list(*[1] * 5), None)  # 5 of a possible 20, the end of the list: shows nothing
    page_limit(ctx, None, _list(*[1] * 20, has_more=True), None)  # 20, but the suite does not know more exist
    page_limit(ctx, None, _list(1), 1)
    assert ctx.ledger.verdict("LIST-LIMIT-DEFAULT") == ctx.ledger.verdict("LIST-LIMIT-MIN") == "not_exercised"
    page_limit(ctx, None, _list(*[1] * 20, has_more=True), None, True)
    page_limit(ctx, None, _list(1, has_more=True), 1, True)
    assert ctx.ledger.verdict("LIST-LIMIT-DEFAULT") == ctx.ledger.verdict("LIST-LIMIT-MIN") == "passed"
    page_limit(ctx, None, _list(*[1] * 101), 100)  # more than its limit fails whoever made them
    page_limit(ctx, None, _list(*[1] * 99, has_more=True), 100)  # fewer, while it says more follow
    assert ctx.ledger.verdict("LIST-LIMIT-MAX") == "failed" and ctx.ledger.failure_counts["LIST-LIMIT-MAX"] == 2


def test_a_walk_through_the_pages_passes_only_when_it_reached_the_end() -> None:
    from conformance.checks.resource import pages_complete

    cut, done, twice, skipped = (_context() for _ in range(4))
    pages_complete(cut, None, ["a", "b"], ["a", "b", "c"], False)
    assert cut.ledger.verdict("LIST-NO-REPEAT-SKIP") == "not_exercised"
    pages_complete(done, None, ["a", "b", "c"], ["a", "b", "c"], True)
    assert done.ledger.verdict("LIST-NO-REPEAT-SKIP") == "passed"
    pages_complete(twice, None, ["a", "b", "a"], ["a", "b"], False)  # a repeat needs no end to show
    pages_complete(skipped, None, ["a", "c"], ["a", "b", "c"], True)
    assert twice.ledger.verdict("LIST-NO-REPEAT-SKIP") == skipped.ledger.verdict("LIST-NO-REPEAT-SKIP") == "failed"
