"""What a run says at its end: the terminal summary, the compliance report's files, the dry run's list.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.endpoints import RESOURCES, SUITES
from conformance.generate.probes import Probe
from conformance.results.reports import REPORT_VERSION, headline, write_reports
from conformance.runner.config import EMBEDDED, SHRINK_BUDGET, cassette_settings, record_command
from conformance.runner.state import STATE, RunState, is_worker, suite_collected
from conformance.runner.verdict import budget_spent, tally
from conformance.transport import cassettes as _cassettes
from conformance.transport.client import NotRecorded
from conformance.transport.secrets import shown


def not_recorded_message(run: RunState, item: pytest.Item, exc: NotRecorded) -> str:
    callspec = getattr(item, "callspec", None)
    probe = callspec.params.get("probe") if callspec is not None else None
    return _cassettes.explain_missing(
        exc.sent, exc.error, test=item.nodeid, requirement=probe.requirement if isinstance(probe, Probe) else None,
        settings=cassette_settings(run.config, run.schemas.digest, item.nodeid),
        command=record_command(run.config, item.name),
    )


def cassette_summary(run: RunState) -> dict[str, Any] | None:
    transport = run.transport
    if transport is None or not (transport.replayed or transport.recorded or run.config.record_mode):
        return None
    return {"record_mode": run.config.record_mode, "dir": str(run.config.cassette_dir),
            "replayed": transport.replayed, "recorded": transport.recorded, "not_recorded": list(run.not_recorded)}


def write_report(run: RunState) -> None:
    cfg = run.config
    assert cfg.report_dir is not None
    cfg.report_dir.mkdir(parents=True, exist_ok=True)
    if run.dry_run is not None:  # a dry run says what would be sent; it has no verdicts to report
        (cfg.report_dir / "dry-run.txt").write_text("".join(_dry_line(r) + "\n" for r in run.dry_run.requests),
                                                   encoding="utf-8")
        return
    no_verdict, incomplete = run.verdict
    report = run.ledger.report(
        cfg.target_url or EMBEDDED, incomplete=tuple(incomplete), no_verdict=no_verdict, extra=
        {
            "version": REPORT_VERSION,
            "run": {
                "seed": cfg.seed, "max_examples": cfg.max_examples, "schemas_sha256": run.schemas.digest,
                "requests": (run.api.requests if run.api else 0) + run.remote_requests,
                "cleanup_failed": run.cleanup_failed,
                "target_name": cfg.target_name, "cassettes": cassette_summary(run), **_run_extra(run),
            }
        },
    )
    write_reports(report, cfg.report_dir, cfg.api_key)


def _run_extra(run: RunState) -> dict[str, Any]:
    limits = run.config.limits
    return {
        "profile": run.config.profile,
        "endpoints": [name for name in SUITES if name in run.config.endpoints],
        "budget": {"max_requests": limits.max_requests, "exhausted": budget_spent(run),
                   "tests_skipped": tally(run)["budget_skipped"]},
        "rate_limited_retries": run.api.rate_limited if run.api else 0,
        "in_process": run.config.transport,
    }


def _dry_line(recorded: Any) -> str:
    body = recorded.body.decode("utf-8", errors="replace")
    body = body if len(body) <= 300 else body[:300] + f"…({len(recorded.body)} bytes)"
    return f"{recorded.method} {recorded.url}" + (f" {body}" if body else "")


def dry_run_summary(terminalreporter: Any, run: RunState) -> None:
    recorded = run.dry_run.requests if run.dry_run else []
    by_method: dict[str, int] = {}
    for r in recorded:
        by_method[r.method] = by_method.get(r.method, 0) + 1
    terminalreporter.section("conformance dry run")
    terminalreporter.write_line(f"nothing was sent to {run.config.target_url or 'any target'}; profile {run.config.profile}")
    if terminalreporter.config.getoption("verbose") > 0:
        for r in recorded:
            terminalreporter.write_line("  " + _dry_line(r))
    split = ", ".join(f"{m} {n}" for m, n in sorted(by_method.items()))
    terminalreporter.write_line(f"would send {len(recorded)} requests ({split}), cleanup included, to a target that "
                                "answers as the reference does")
    terminalreporter.write_line(f"  a target that fails a test costs up to {SHRINK_BUDGET} more requests per failing "
                                f"test (shrinking), and each 429 one more (up to --max-retries "
                                f"{run.config.limits.max_retries})")
    if run.config.limits.max_requests is not None:
        terminalreporter.write_line(f"  --max-requests {run.config.limits.max_requests} caps it in any case")
    if run.config.report_dir is not None:
        terminalreporter.write_line(f"requests: {run.config.report_dir / 'dry-run.txt'}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not suite_collected(config) or is_worker(config) or config.option.collectonly:
        return
    run = config.stash[STATE]
    if run.dry_run is not None:
        dry_run_summary(terminalreporter, run)
        return
    ledger = run.ledger
    no_verdict, incomplete = run.verdict
    terminalreporter.section("conformance")
    if no_verdict is not None:  # one line: what to fix, not a score
        terminalreporter.write_line(shown(f"NO VERDICT: {no_verdict}"))
        if run.config.report_dir is not None:
            terminalreporter.write_line(f"reports: {run.config.report_dir / 'compliance.json'} (and .md, .html)")
        return
    report = ledger.report(run.config.target_name, incomplete=tuple(incomplete))
    summary = report["summary"]
    failed = [r for r in ledger.requirements if ledger.verdict(r) == "failed"]
    terminalreporter.write_line(
        f"{headline(report)}; {summary['failed']} failed, {summary['not_exercised']} not exercised "
        f"({run.config.target_name})"
    )
    for rid in failed:
        finding = ledger.failures[rid]
        terminalreporter.write_line(shown(f"  FAILED {rid}: {finding.title} (received {finding.received[:160]})"))
    for message in ledger.target_errors:
        terminalreporter.write_line(shown(f"  TARGET ERROR: {message}"))
    if ledger.target_errors and not ledger.judged():
        terminalreporter.write_line("no verdict: the target failed every request, so no requirement could be judged")
    elif incomplete and not failed:
        terminalreporter.write_line("INCOMPLETE: the run did not finish; nothing it ran failed, but that is no verdict "
                                    "of conformance")
    cassettes = cassette_summary(run)
    if cassettes:
        terminalreporter.write_line(
            f"cassettes: {cassettes['dir']} ({cassettes['record_mode'] or 'per test'}): {cassettes['replayed']} answers "
            f"replayed, {cassettes['recorded']} recorded, {len(run.not_recorded)} tests not recorded")
    if run.budget_exhausted:
        terminalreporter.write_line(f"  BUDGET: {budget_spent(run)}; {tally(run)['budget_skipped']} test(s) skipped, their "
                                    "requirements left not exercised")
    if run.cleanup_failed:
        label = RESOURCES[0].id_label
        terminalreporter.write_line(shown(f"  CLEANUP: {len(run.cleanup_failed)} {label}(s) could not be deleted: "
                                          + ", ".join(run.cleanup_failed[:20])))
    if run.config.report_dir is not None:
        terminalreporter.write_line(f"reports: {run.config.report_dir / 'compliance.json'} (and .md, .html)")
