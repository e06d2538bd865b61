"""The command line: ``conformance run`` wraps pytest (one runner), ``conformance serve`` runs the reference.

Exit codes of ``run``: 0 the target conforms, 1 a requirement failed, 2 no verdict: the run could not be
made (bad usage, unreadable schemas, a cassette that lacks a request) or found nothing to judge (the target
cannot be reached, does not serve the endpoint, or refuses the key), 3 incomplete: nothing failed in what ran,
but the run did not finish (interrupted, the request budget spent, stopped by target errors).
``report --html`` builds the Allure report (0, or 2);
``diff`` compares two compliance reports (0, 1 when a requirement regressed, 2 on unreadable input).
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
import tempfile
from collections.abc import Generator, Iterable, Sequence
from pathlib import Path
from typing import Any

from pluggy import HookimplMarker

from conformance._meta import DISTRIBUTION
from conformance.contract.profiles import DEFAULT_PROFILE, PROFILES
from conformance.endpoints import RESOURCES, SUITES
from conformance.runner.options import add_run_arguments, cli_type, count, pytest_args, seconds
from conformance.selftest.rehearsal import THROTTLE_HEADERS

__all__ = ["main"]

EXIT_CONFORMS, EXIT_FAILED, EXIT_ERROR, EXIT_INCOMPLETE = 0, 1, 2, 3
pytest_hookimpl = HookimplMarker("pytest")  # pytest.hookimpl, without importing pytest for every command


_EXIT_HELP = """exit codes:
  0  the target conforms: the run finished and every requirement it exercised passed
  1  a requirement failed (also when the run did not finish: a failure is a failure)
  2  no verdict: bad usage, unreadable schemas, a cassette that lacks a request, or nothing to judge
     (the target cannot be reached, does not serve the endpoint, or refuses the API key)
  3  incomplete: nothing failed in what ran, but the run did not finish (interrupted, --max-requests
     spent, stopped after --max-target-errors, tests ended in target errors)"""


class _UsageError(Exception):
    """Arguments that parse but do not fit together."""


class _CannotServe(Exception):
    """``serve`` cannot listen where it was asked to (the message says why)."""


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"invalid port: {text!r}") from None
    if not 0 <= value <= 65535:
        raise ValueError(f"a port is 0-65535 (0: any free port), not {value}")
    return value


def _version() -> str:
    """The installed distribution's version (the package's own when it runs from a source tree, uninstalled)."""
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        from conformance._meta import __version__

        return __version__


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_ERROR, f"conformance: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="conformance", description=f"Conformance suite for {RESOURCES[0].title}: {RESOURCES[0].summary()}.")
    parser.add_argument("--version", action="version", version=f"conformance {_version()} ({DISTRIBUTION})")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run the suite against a target (default: the embedded reference server)",
                         epilog=_EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(run)
    run.add_argument("-k", dest="select", help="only tests matching this pytest -k expression")
    run.add_argument("-v", "--verbose", action="count", default=0, help="more output")
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after '--': more pytest arguments")

    serve = sub.add_parser("serve", help="serve the reference implementation on loopback")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=cli_type(_port), default=8000, help="default 8000; 0: any free port")
    serve.add_argument("--api-key", action="append", help="an accepted API key (repeatable; default: the test key)")
    serve.add_argument("--catalog", action="store_true",
                       help="also serve every broken server of the self-test catalog at /broken/NAME/v1 (and the "
                            "conforming variants at /variant/NAME/v1)")
    serve.add_argument("--list", action="store_true", help="with --catalog: print the catalog's base paths and exit")
    _add_serve_rehearsal(serve)

    requirements = sub.add_parser("requirements", help="list the requirement catalog derived from the schemas")
    requirements.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILES, help="the schema set")
    requirements.add_argument("--endpoint", action="append", choices=SUITES,
                              help="only the requirements this selection judges (repeatable; default: all)")

    merge = sub.add_parser("merge", help="merge compliance.json files of shards of one run")
    merge.add_argument("reports", nargs="+", help="compliance.json files")
    merge.add_argument("-o", "--output", required=True, help="where to write the merged compliance.json")
    report = sub.add_parser("report", help="build the Allure HTML report of a run (needs the Allure command line)")
    report.add_argument("--html", metavar="DIR", required=True,
                        help="a --report-dir of 'conformance run': reads DIR/allure-results, writes DIR/allure-report")

    diff = sub.add_parser("diff", help="the requirements whose verdict changed between two compliance.json files")
    diff.add_argument("old", metavar="OLD.json")
    diff.add_argument("new", metavar="NEW.json")
    return parser


def _add_serve_rehearsal(serve: argparse.ArgumentParser) -> None:
    """Serve options that rehearse real-world conditions (see ``rehearsal``)."""
    serve.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILES, help="the contract the server follows")
    serve.add_argument("--inspect", action="store_true",
                       help="serve GET /_inspect: the request count and the ids in the store (for tests)")
    serve.add_argument("--latency", type=cli_type(seconds()), default=0.0, metavar="S",
                       help="answer every request S seconds late")
    serve.add_argument("--throttle", type=cli_type(count(0)), default=0, metavar="N",
                       help="answer every N-th request 429 (default 0: never)")
    serve.add_argument("--throttle-wait", type=cli_type(seconds()), default=1.0, metavar="S",
                       help="the wait a 429 asks for, in seconds (default 1)")
    serve.add_argument("--throttle-header", default="retry-after", choices=THROTTLE_HEADERS,
                       help="the header that says how long to wait (default retry-after)")


def _run_args(ns: argparse.Namespace) -> list[str]:
    """The pytest arguments of ``conformance run``: the reports' plumbing, then the table's options
    (``runner.options``), then -k, -v and what follows '--'."""
    if ns.replay:
        if ns.record_mode not in (None, "none") or ns.cassette_dir not in (None, ns.replay):
            raise _UsageError("--replay DIR means --record-mode none --cassette-dir DIR; give one or the other")
        ns.record_mode, ns.cassette_dir = "none", ns.replay
    report_dir = Path(ns.report_dir)
    args = ["--pyargs", "conformance.suite", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
            f"--junitxml={report_dir / 'junit.xml'}", f"--alluredir={report_dir / 'allure-results'}",
            "--clean-alluredir", "-o", "junit_suite_name=conformance"]
    args.append("-q" if not ns.verbose else "-" + "v" * ns.verbose)
    args += ["--tb=short" if ns.verbose else "--tb=line"]
    args += pytest_args(vars(ns))  # an empty --target is passed on: it is an error, not the embedded server
    if ns.select:
        args += ["-k", ns.select]
    extra = list(ns.pytest_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    return args + extra


# The pytest plugins a run needs (entry-point name, module): pytest loads them from their entry points, except
# with PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 (common in CI) or when it finds no entry points (a source tree run
# without installing it); then the run registers them itself, as pytest would have.
_PLUGINS = (("conformance", "conformance.runner.plugin"), ("allure_pytest", "allure_pytest.plugin"),
            ("hypothesispytest", "_hypothesis_pytestplugin"))


class _OneLineErrors:
    """A pytest plugin of ``conformance run``: the plugins it needs are there, the options and schemas are
    checked as pytest configures, before the session starts, and a usage error is kept for one line of the CLI's
    own (pytest would print it between blank and "no tests ran" lines)."""

    def __init__(self) -> None:
        self.message: str | None = None

    @pytest_hookimpl(tryfirst=True)
    def pytest_load_initial_conftests(self, early_config: Any) -> None:
        # After the entry points, before the options are parsed for good: a plugin registered here still adds
        # its options (pytest_addoption is a historic hook). One blocked with '-p no:NAME' stays out.
        import importlib

        manager = early_config.pluginmanager
        for name, module_name in _PLUGINS:
            if manager.get_plugin(name) is not None or manager.is_blocked(name):
                continue
            module = importlib.import_module(module_name)
            if not manager.is_registered(module):
                manager.register(module, name)

    @pytest_hookimpl(trylast=True)
    def pytest_configure(self, config: Any) -> None:
        from conformance.runner.state import state

        state(config)

    @pytest_hookimpl(wrapper=True, tryfirst=True)
    def pytest_cmdline_main(self, config: Any) -> Generator[None, Any, Any]:
        import pytest

        try:
            return (yield)
        except pytest.UsageError as exc:
            self.message = " ".join(str(arg) for arg in exc.args)
            return pytest.ExitCode.USAGE_ERROR


def _run(ns: argparse.Namespace) -> int:
    import pytest

    report_dir = Path(ns.report_dir)
    try:  # before pytest starts: its report plugins would fail on an unusable directory with a traceback
        report_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=report_dir):
            pass
    except OSError as exc:
        print(f"conformance: cannot use the report directory {ns.report_dir}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    errors = _OneLineErrors()
    code = pytest.main(_run_args(ns), plugins=[errors])
    if errors.message is not None:
        print(f"conformance: {errors.message}", file=sys.stderr)
        return EXIT_ERROR
    if code in (EXIT_CONFORMS, EXIT_FAILED, EXIT_INCOMPLETE):  # the plugin sets 3 for a run that did not finish
        return int(code)
    return EXIT_ERROR


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound and listening on ``host:port``, or ``_CannotServe`` saying why it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (OSError, UnicodeError) as exc:
        raise _CannotServe(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise _CannotServe(f"cannot listen on {host}:{port}: the port is in use (give another with --port, "
                              "or --port 0 for any free one)") from None
        raise _CannotServe(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _serve(ns: argparse.Namespace) -> int:
    import uvicorn

    from conformance.contract.profiles import load_profile
    from conformance.contract.schemas import documented_models
    from conformance.selftest.reference import DEFAULT_API_KEY, ReferenceServer, create_app
    from conformance.selftest.rehearsal import Rehearsal

    keys = frozenset(ns.api_key or [DEFAULT_API_KEY])
    mounts = []
    if ns.catalog:
        from conformance.selftest.catalog import DEFECTS, VARIANTS

        if ns.list:
            return _print_lines(f"/{kind}/{name}/v1" for kind, names in (("broken", DEFECTS), ("variant", VARIANTS))
                                for name in names)
        for name, factory in {**DEFECTS, **VARIANTS}.items():
            server = factory()
            server.api_keys = keys
            mounts.append((f"/broken/{name}" if name in DEFECTS else f"/variant/{name}", server))
    elif ns.list:
        raise _UsageError("--list lists the servers of --catalog: give both")
    schemas = load_profile(ns.profile)
    reference = ReferenceServer(api_keys=keys, schemas=schemas, models=frozenset(documented_models(schemas)))
    app = Rehearsal(create_app(reference, mounts), reference, others=dict(mounts), inspect=ns.inspect,
                    latency=ns.latency, throttle=ns.throttle, throttle_wait=ns.throttle_wait, throttle_header=ns.throttle_header)
    sock = _listen(ns.host, ns.port)  # the banner comes once the port is ours: a port in use is one line, not a banner
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    accepted = "the keys given with --api-key" if ns.api_key else f"API key {DEFAULT_API_KEY}"
    print(f"conformance reference server ({ns.profile}): http://{shown}:{port}/v1, accepting {accepted} "
          "(Authorization: Bearer KEY)", flush=True)
    if mounts:
        broken = sum(path.startswith("/broken/") for path, _ in mounts)
        print(f"also {broken} broken servers at http://{shown}:{port}/broken/NAME/v1 and {len(mounts) - broken} "
              f"conforming variants at /variant/NAME/v1 ('conformance serve --catalog --list' lists them)", flush=True)
    uvicorn_server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    try:
        uvicorn_server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


def _print_lines(lines: Iterable[str]) -> int:
    """Print to stdout; a reader that stops early (``| head``) ends the output quietly, as command-line tools do."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
    return 0


def _quiet_stdout() -> None:
    """The reader of stdout is gone: send the rest (and Python's flush at exit) nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _report(ns: argparse.Namespace) -> int:
    from conformance.runner.allure import ReportToolError, build_html

    try:
        index = build_html(Path(ns.html))
    except ReportToolError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"Allure report: {index}")
    return 0


def _diff(ns: argparse.Namespace) -> int:
    from conformance.results.diff import ReportReadError, compare, load_verdicts

    try:
        old, new = load_verdicts(Path(ns.old)), load_verdicts(Path(ns.new))
    except ReportReadError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_ERROR
    changes = compare(old, new)
    regressed = [c for c in changes if c.regressed]
    noun = "requirement" if len(changes) == 1 else "requirements"
    _print_lines([*(change.line() for change in changes),
                  f"{len(changes)} {noun} changed verdict; {len(regressed)} regressed (passed -> failed)"
                  if changes else "no requirement changed verdict"])
    return EXIT_FAILED if regressed else EXIT_CONFORMS


def _requirements(ns: argparse.Namespace) -> int:
    from conformance.contract.requirements import catalog
    from conformance.runner.state import suite_schemas

    chosen = frozenset(ns.endpoint) if ns.endpoint else None
    found = catalog(suite_schemas(ns.profile), chosen).values()
    every = {op.label for resource in RESOURCES for op in resource.operations}
    width = max(len(_where(req.operations, every)) for req in found)
    return _print_lines(f"{req.id:38} {_where(req.operations, every):{width}}  {req.doc}" for req in found)


def _where(operations: Sequence[str], every: set[str]) -> str:
    """The operations a requirement is judged on, as method and path; "every operation" for a rule of all."""
    return "every operation" if set(operations) == every else ", ".join(operations)


def _merge(ns: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from conformance.results.ledger import merge_reports

    reports = []
    for name in ns.reports:
        try:
            reports.append(json.loads(Path(name).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            print(f"conformance: cannot read {name}: {exc}", file=sys.stderr)
            return EXIT_ERROR
    try:
        merged = merge_reports(reports)
    except (ValueError, KeyError, TypeError) as exc:
        print(f"conformance: cannot merge: {exc}", file=sys.stderr)
        return EXIT_ERROR
    Path(ns.output).write_text(json.dumps(merged, indent=2, ensure_ascii=False), encoding="utf-8")
    from conformance.results.reports import headline

    print(f"merged {len(reports)} reports of {', '.join(merged['run']['merged_targets'])}")
    print(headline(merged))
    return {"conforms": EXIT_CONFORMS, "failed": EXIT_FAILED, "incomplete": EXIT_INCOMPLETE}.get(
        merged["summary"]["outcome"], EXIT_ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    from conformance.contract.schemas import SchemaError

    try:
        if ns.command == "run":
            return _run(ns)
        if ns.command == "serve":
            return _serve(ns)
        if ns.command == "merge":
            return _merge(ns)
        if ns.command == "report":
            return _report(ns)
        if ns.command == "diff":
            return _diff(ns)
        return _requirements(ns)
    except _UsageError as exc:
        print(f"conformance: {exc} (see 'conformance {ns.command} --help')", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("conformance: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # stdout's reader is gone (``| head``): nothing more to say, and no traceback
        _quiet_stdout()
        return EXIT_CONFORMS if ns.command in ("requirements", "diff") else EXIT_ERROR
    except (SchemaError, _CannotServe) as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a one-line message, never a traceback, for anything unexpected at this level
        print(f"conformance: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
