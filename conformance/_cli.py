"""The command line: ``conformance run`` wraps pytest (one runner), ``conformance serve`` runs the reference.

Exit codes of ``run``: 0 the target conforms, 1 a requirement failed, 2 the run could not be made (bad
usage, unreachable target, unreadable schemas).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]

EXIT_CONFORMS, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


class _UsageError(Exception):
    """Arguments that parse but do not fit together."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_ERROR, f"conformance: {message} (see 'conformance {self.prog.split()[-1]} --help')\n")


def _parser() -> argparse.ArgumentParser:
    from ._cassettes import RECORD_MODES

    parser = _Parser(prog="conformance", description="Conformance suite for POST /v1/assistants.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run the suite against a target (default: the embedded reference server)")
    run.add_argument("--target", help="base URL, e.g. http://127.0.0.1:8000/v1 (default: embedded reference server)")
    run.add_argument("--api-key", help="API key (default: $OPENAI_API_KEY)")
    run.add_argument("--target-name", help="the target's name in reports")
    run.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    run.add_argument("--max-examples", type=int, default=25, help="examples per property (default 25)")
    run.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer (default 30)")
    run.add_argument("--report-dir", default="reports", help="where reports go (default ./reports)")
    run.add_argument("--model", action="append", help="a model the target serves (repeatable)")
    run.add_argument("--file-id", action="append", help="a file ID the target knows (repeatable)")
    run.add_argument("--vector-store-id", action="append", help="a vector store ID the target knows (repeatable)")
    run.add_argument("--no-files", action="store_true", help="the target has no files: send no file IDs")
    run.add_argument("--clock-skew", type=float, help="seconds created_at may differ from this clock (default 60)")
    run.add_argument("--record-mode", choices=RECORD_MODES,
                     help="record and replay a cassette per test (vcrpy's modes: 'none' replays only, 'once' records "
                          "tests without a cassette, 'new_episodes' records what is missing, 'all' re-records). "
                          "Default: no cassettes")
    run.add_argument("--cassette-dir", help="where cassettes are (default: cassettes/<target name>/)")
    run.add_argument("--replay", metavar="DIR", help="replay the cassettes in DIR, offline: "
                                                      "--record-mode none --cassette-dir DIR")
    run.add_argument("-k", dest="select", help="only tests matching this pytest -k expression")
    run.add_argument("-v", "--verbose", action="count", default=0, help="more output")
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after '--': more pytest arguments")

    serve = sub.add_parser("serve", help="serve the reference implementation on loopback")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", action="append", help="an accepted API key (repeatable; default: the test key)")
    serve.add_argument("--catalog", action="store_true",
                       help="also serve every broken server of the self-test catalog at /broken/NAME/v1")

    sub.add_parser("requirements", help="list the requirement catalog derived from the schemas")
    return parser


def _run_args(ns: argparse.Namespace) -> list[str]:
    args = ["--pyargs", "conformance.suite", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning",
            "--report-dir", ns.report_dir,
            "--seed", str(ns.seed), "--max-examples", str(ns.max_examples), "--request-timeout", str(ns.timeout)]
    args.append("-q" if not ns.verbose else "-" + "v" * ns.verbose)
    args += ["--tb=short" if ns.verbose else "--tb=line"]
    if ns.target:
        args += ["--target-url", ns.target]
    if ns.api_key:
        args += ["--api-key", ns.api_key]
    if ns.target_name:
        args += ["--target-name", ns.target_name]
    for flag, values in (("--model", ns.model), ("--file-id", ns.file_id), ("--vector-store-id", ns.vector_store_id)):
        for value in values or ():
            args += [flag, value]
    if ns.no_files:
        args.append("--no-files")
    if ns.clock_skew is not None:
        args += ["--clock-skew", str(ns.clock_skew)]
    if ns.replay:
        if ns.record_mode not in (None, "none") or ns.cassette_dir not in (None, ns.replay):
            raise _UsageError("--replay DIR means --record-mode none --cassette-dir DIR; give one or the other")
        ns.record_mode, ns.cassette_dir = "none", ns.replay
    if ns.record_mode:
        args += ["--record-mode", ns.record_mode]
    if ns.cassette_dir:
        args += ["--cassette-dir", ns.cassette_dir]
    if ns.select:
        args += ["-k", ns.select]
    extra = list(ns.pytest_args)
    if extra and extra[0] == "--":
        extra = extra[1:]
    return args + extra


def _run(ns: argparse.Namespace) -> int:
    import pytest

    code = pytest.main(_run_args(ns))
    if code == 0:
        return EXIT_CONFORMS
    if code == 1:
        return EXIT_FAILED
    return EXIT_ERROR


def _serve(ns: argparse.Namespace) -> int:
    import uvicorn

    from ._reference import DEFAULT_API_KEY, ReferenceServer, create_app

    keys = frozenset(ns.api_key or [DEFAULT_API_KEY])
    mounts = []
    if ns.catalog:
        from ._catalog import DEFECTS, VARIANTS

        for name, factory in {**DEFECTS, **VARIANTS}.items():
            server = factory()
            server.api_keys = keys
            mounts.append((f"/broken/{name}" if name in DEFECTS else f"/variant/{name}", server))
    reference = ReferenceServer(api_keys=keys)
    print(f"conformance reference server: http://{ns.host}:{ns.port}/v1", flush=True)
    uvicorn.run(create_app(reference, mounts), host=ns.host, port=ns.port, log_level="warning")
    return 0


def _requirements() -> int:
    from ._requirements import catalog

    for req in catalog().values():
        print(f"{req.id:38} {req.doc}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    try:
        if ns.command == "run":
            return _run(ns)
        if ns.command == "serve":
            return _serve(ns)
        return _requirements()
    except _UsageError as exc:
        print(f"conformance: {exc} (see 'conformance {ns.command} --help')", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("conformance: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a one-line message, never a traceback, for anything unexpected at this level
        print(f"conformance: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
