"""A pytest plugin the benchmark loads into the suite's own runs (``-p benchmarks._plugin``): it times the
test phase (wall and this process' CPU) and counts the requests the suite sent until it first saw an expected requirement fail.

It only observes: it wraps ``Ledger.failed`` and ``Api.send`` to read the request counter, changes no
verdict, and writes its figures as JSON to the file named by ``$BENCH_OUT``. ``$BENCH_EXPECTED`` is a
comma-separated list of requirement IDs (a catalog defect's); ``$BENCH_RECORD`` names a file where every
request sent is pickled (the run's key masked as ``***``), for the benchmark to replay.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from typing import Any

import pytest

from conformance.runner import state
from conformance.transport import client as _client
from conformance.transport.secrets import mask


class _Observer:
    def __init__(self) -> None:
        self.expected = {r for r in os.environ.get("BENCH_EXPECTED", "").split(",") if r}
        self.session_start = time.monotonic()
        self.tests_start: float | None = None
        self.tests_end: float | None = None
        self.tests_cpu_start = 0.0
        self.tests_cpu_end = 0.0
        self.detected_at: int | None = None  # requests sent up to and including the one that showed it
        self.detected_seconds: float | None = None
        self.first_failed_test: str | None = None
        self.first_failed_test_end: int | None = None  # requests sent by the end of that test (shrinking included)
        self.run: state.RunState | None = None
        self.recorded: list[tuple[str, str, dict[str, str], bytes | None]] = []
        self._record = os.environ.get("BENCH_RECORD")

    def _requests(self) -> int:
        return self.run.api.requests if self.run is not None and self.run.api is not None else 0

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not state.suite_collected(session.config):
            return
        self.run = run = state.state(session.config)
        original = run.ledger.failed

        def failed(finding: Any, *, final: bool = False) -> None:
            if self.detected_at is None and finding.requirement in self.expected:
                self.detected_at = self._requests()
                self.detected_seconds = time.monotonic() - self.session_start
            original(finding, final=final)

        run.ledger.failed = failed  # type: ignore[method-assign]
        if self._record:
            send = _client.Api.send
            recorded = self.recorded

            def recording(api: _client.Api, method: str, path: str, payload: Any = None, *, has_body: bool = False,
                          api_key: Any = _client._DEFAULT) -> _client.Exchange:
                body = _client.encode(payload) if has_body else None
                headers = {k: mask(v, api.target.api_key) for k, v in api._headers(api_key, has_body).items()}
                recorded.append((method, path, headers, body))
                return send(api, method, path, payload, has_body=has_body, api_key=api_key)

            _client.Api.send = recording  # type: ignore[method-assign,assignment]

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        if self.tests_start is None:
            self.tests_start = time.monotonic()
            self.tests_cpu_start = time.process_time()

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self.tests_end = time.monotonic()
        self.tests_cpu_end = time.process_time()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.failed and self.detected_at is not None and self.first_failed_test is None:
            self.first_failed_test = report.nodeid
            self.first_failed_test_end = self._requests()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        out = os.environ.get("BENCH_OUT")
        if not out:
            return
        figures = {
            "requests": self._requests(),
            "session_seconds": time.monotonic() - self.session_start,
            "tests_seconds": (self.tests_end or 0.0) - (self.tests_start or 0.0),
            "tests_cpu_seconds": self.tests_cpu_end - self.tests_cpu_start,
            "tests": session.testscollected,
            "detected_at": self.detected_at,
            "detected_seconds": self.detected_seconds,
            "first_failed_test": self.first_failed_test,
            "first_failed_test_end": self.first_failed_test_end,
        }
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(figures, fh)
        if self._record:
            with open(self._record, "wb") as fh:
                pickle.dump(self.recorded, fh)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Observer(), "benchmark-observer")
