"""The run's outcome from its state: conforms, failed, incomplete (with reasons) or no verdict, and the exit
code that says it.
"""

from __future__ import annotations

import pytest

from conformance.endpoints import RESOURCES
from conformance.runner.state import RunState
from conformance.transport.client import NotRecorded
from conformance.transport.limits import BudgetExhausted

NOT_ERRORS = (pytest.fail.Exception, pytest.skip.Exception, pytest.exit.Exception, NotRecorded, BudgetExhausted)
EXIT_INCOMPLETE = 3  # nothing failed in what ran, but the run did not finish (also the CLI's code)


WIRE_COUNTS = ("answered", "unserved", "valid_answers", "valid_refused", "finished", "errored", "budget_skipped")


def tally(run: RunState) -> dict[str, int]:
    """This process's counts that the verdict rests on, plus those the workers sent (under pytest-xdist)."""
    own = {"answered": run.api.answered if run.api else 0, "unserved": run.api.unserved if run.api else 0,
           "valid_answers": run.valid_answers, "valid_refused": run.valid_refused, "finished": run.finished,
           "errored": run.errored, "budget_skipped": run.budget_skipped, "collected": len(run.suite_tests)}
    merged = {key: own[key] + run.remote.get(key, 0) for key in WIRE_COUNTS}
    merged["collected"] = max(own["collected"], run.remote.get("collected", 0))
    return merged


def fallback_no_verdict(run: RunState, counts: dict[str, int]) -> str | None:
    """For a run whose first request was not the smallest valid one (``-k``, or under pytest-xdist): nothing
    to judge when every answer said the endpoint is not there, or every valid request was refused 401/403."""
    if counts["answered"] and counts["unserved"] == counts["answered"]:
        return (f"the target does not serve {RESOURCES[0].title} at {run.config.target_url or 'the embedded server'}: "
                f"all {counts['answered']} answers were 404, 405, 501 or an HTML page. Check the base URL (and the "
                "model: --model).")
    if counts["valid_answers"] and counts["valid_refused"] == counts["valid_answers"]:
        return (f"the target refused the API key: all {counts['valid_answers']} valid requests were answered 401 or "
                "403. Give the key it accepts with --api-key or $OPENAI_API_KEY.")
    return None


def incomplete_reasons(run: RunState, counts: dict[str, int]) -> list[str]:
    """Why the run did not finish; empty when it did. Such a run never says it conforms."""
    reasons = []
    ran = f"{counts['finished']} of {counts['collected']} tests"
    if run.interrupted:
        reasons.append(f"interrupted after {ran}")
    if run.stopped:
        reasons.append(run.stopped)
    if run.budget_exhausted:
        reasons.append(f"{budget_spent(run)}; {counts['budget_skipped']} test(s) skipped")
    if run.not_recorded:
        reasons.append(f"the cassettes lack requests of {len(run.not_recorded)} test(s): re-record them")
    if counts["errored"]:
        reasons.append(f"{counts['errored']} test(s) failed without a verdict (see the output)")
    if not reasons and counts["finished"] < counts["collected"]:
        reasons.append(f"only {ran} ran")
    return reasons


def budget_spent(run: RunState) -> str | None:
    """Why the budget stopped the run: a worker's own words are about its share, so the controller speaks
    for the whole run."""
    if not run.budget_exhausted or not run.workers:
        return run.budget_exhausted
    limit = run.config.limits.max_requests
    sent = (run.api.requests if run.api else 0) + run.remote_requests
    return (f"the request budget of {limit} is spent ({sent} sent by {run.workers} workers, each with a share of "
            f"{(limit or 0) // run.workers}; {run.workers_out_of_budget} spent theirs)")


def outcome(run: RunState, session: pytest.Session) -> tuple[str | None, list[str]]:
    """Decide the run's verdict and exit code: no verdict (2), a failure (1), incomplete (3), conforms."""
    if run.dry_run is not None or session.config.option.collectonly:  # nothing was asked of the target
        return None, []
    counts = tally(run)
    if run.no_verdict is None:  # failures against a target that never served the endpoint mean nothing
        reason = fallback_no_verdict(run, counts)
        if reason is not None:
            run.no_verdict = reason
            run.ledger.reset()
    incomplete = [] if run.no_verdict else incomplete_reasons(run, counts)
    status = session.exitstatus
    if run.no_verdict is not None or run.not_recorded or (run.ledger.target_errors and not run.ledger.judged()):
        status = 2
    elif run.ledger.failures:
        status = pytest.ExitCode.TESTS_FAILED
    elif incomplete or run.ledger.target_errors:
        status = EXIT_INCOMPLETE
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.INTERRUPTED):
        session.exitstatus = status
    return run.no_verdict, incomplete


