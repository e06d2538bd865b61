"""Cassettes: record a target once, then replay the suite offline, with the same verdicts.

Users run the suite against a paid, rate-limited API. A cassette per test (vcrpy's YAML format, written and
read by vcrpy's own ``Cassette``, persister and serializer) lets them record once, replay in CI with no key
and no network, and hand a colleague the recording of a failure.

Why a transport rather than vcrpy's patching: ``client`` is the only module that knows the transport, and
httpx's whole seam is ``handle_request``. ``CassetteTransport`` does what vcrpy's httpx stub does (play what
the cassette holds, refuse what a write-protected cassette lacks with vcrpy's own exception, record the
rest) and three things the suite needs besides:

- each recorded answer carries the time the request was made, and the transport reports it with the answer
  on the recording run and on every replay alike, so ``created_now`` judges both the same way;
- what a test sees is always the recorded (scrubbed) form of an answer, on the recording run too, so a
  replay's verdicts are the recording run's verdicts by construction;
- with ``--record-mode none`` it has no live transport at all: nothing can reach the network.

Requests are matched on method, path and canonical JSON body: never on host or port (the embedded
reference server listens on a random port), and never without the body (vcrpy's default would let two
POSTs replay each other's answers). Secrets never reach a cassette: see ``Scrubber``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import yaml
from vcr import VCR
from vcr.cassette import Cassette
from vcr.errors import CannotOverwriteExistingCassetteException
from vcr.persisters.filesystem import CassetteNotFoundError, FilesystemPersister
from vcr.request import Request as VcrRequest
from vcr.serialize import deserialize, serialize
from vcr.serializers import yamlserializer

from conformance.transport.client import MAX_BODY, Sent, TargetError, _decode
from conformance.transport.secrets import MASK, hide_credentials, is_secret_name, mask, mask_bytes

__all__ = [
    "MATCH_ON", "RECORD_MODES", "CassetteTransport", "CorruptCassette", "Scrubber", "canonical_body", "cassette_path",
    "describe_stale", "directory_name", "explain_missing", "resolve",
]

# vcrpy's record modes, with vcrpy's meanings ("any" left out: vcrpy leaves it undocumented).
RECORD_MODES = ("none", "once", "new_episodes", "all")
MATCH_ON = ("method", "path", "json_body")
TIMES = "x-conformance"  # in a recorded answer: when the request was made (Unix seconds); a transport error
# Settings whose change makes a cassette stale: the same values send the same requests, byte for byte.
SETTINGS = ("seed", "max_examples", "schemas_sha256", "pools_sha256", "conformance", "hypothesis")


class CorruptCassette(Exception):
    """A cassette file exists but is not a cassette vcrpy can read."""


# --- file names --------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._\-\[\]]+")


def _safe(name: str, limit: int = 120) -> str:
    """``name`` as a file name; a short hash of the original is added whenever anything was replaced."""
    safe = _UNSAFE.sub("-", name).strip(".") or "-"
    if safe != name or len(safe) > limit:
        safe = f"{safe[:limit]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return safe


def directory_name(target_name: str, embedded: bool) -> str:
    """The default folder under ``cassettes/`` for a target: ``reference`` for the embedded server."""
    return "reference" if embedded else _safe(target_name, 80)


def cassette_path(directory: Path, module: str, test_name: str) -> Path:
    """One cassette per test: ``DIR/<module>/<test name made safe>.yaml``."""
    return directory / _safe(module, 80) / f"{_safe(test_name)}.yaml"


# --- precedence --------------------------------------------------------------------------------


def resolve(cli_mode: str | None, fixture: Mapping[str, Any], markers: Iterable[Mapping[str, Any]]) -> tuple[
        str | None, dict[str, Any]]:
    """The record mode and vcrpy options of one test, with pytest-recording's precedence.

    Options merge the ``vcr_config`` fixture, then ``vcr`` markers from the broadest scope to the test
    itself; the record mode is the command line's, else the merged options', else None (no cassette).
    """
    options = dict(fixture)
    for marker in markers:
        options.update(marker)
    mode = cli_mode or options.pop("record_mode", None)
    options.pop("record_mode", None)
    if mode is not None and mode not in RECORD_MODES:
        raise ValueError(f"record_mode {mode!r} is not one of {', '.join(RECORD_MODES)}")
    return mode, options


# --- matching ----------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate keys")  # not one JSON value: compare the bytes
    return out


@functools.lru_cache(maxsize=512)
def canonical_body(body: bytes | None) -> bytes:
    """A JSON body with sorted keys and no spaces (NaN kept as text); any other body as its bytes."""
    if not body:
        return b""
    try:
        value = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError):
        return body
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=True, separators=(",", ":")).encode()


def _bytes(body: Any) -> bytes | None:
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body)


def json_body(r1: VcrRequest, r2: VcrRequest) -> None:
    """vcrpy matcher: the bodies are the same JSON value (key order and spacing aside), or the same bytes."""
    a, b = _bytes(r1.body), _bytes(r2.body)
    if a == b or canonical_body(a) == canonical_body(b):
        return
    raise AssertionError(f"bodies differ: {_excerpt(a, 120)} != {_excerpt(b, 120)}")


def _excerpt(body: bytes | None, limit: int = 300) -> str:
    if not body:
        return "(no body)"
    text = body.decode("utf-8", errors="replace")
    return text if len(text) <= limit else f"{text[:limit]}… ({len(body)} bytes)"


# --- files -------------------------------------------------------------------------------------


class _Serializer:
    """vcrpy's YAML, with non-ASCII text written as UTF-8 rather than escaped (a third of the size)."""

    @staticmethod
    def serialize(cassette_dict: dict[str, Any]) -> str:
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        return str(yaml.dump(cassette_dict, Dumper=dumper, allow_unicode=True, width=1_000_000))

    @staticmethod
    def deserialize(cassette_string: str) -> Any:
        _refuse_aliases(cassette_string)
        return yamlserializer.deserialize(cassette_string)


class _AliasRefused(ValueError):
    """A cassette uses a YAML alias: refused (see ``_refuse_aliases``)."""


def _refuse_aliases(text: str) -> None:
    """Refuse YAML aliases before anything is built. A cassette is shared (a colleague's recording, a CI artefact),
    so it is untrusted input, and aliases nest: a 2 KB "billion laughs" in one header expanded to 5 GB and took
    2 minutes to load. The suite never writes an alias (``_Serializer``), so refusing them costs nothing real;
    reading the events (libyaml's parser, no object built) is a fraction of the load's own cost."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark is not None else "?"
            raise _AliasRefused(f"holds a YAML alias (*{event.anchor} at line {line}), which the suite refuses: "
                                "a shared cassette is untrusted input, and aliases can expand to gigabytes")


class _Persister(FilesystemPersister):  # type: ignore[misc]
    """vcrpy's filesystem persister, but strict: a file it cannot read is an error, never an empty cassette."""

    @classmethod
    def load_cassette(cls, cassette_path: Any, serializer: Any) -> Any:
        path = Path(cassette_path)
        if not path.is_file():
            raise CassetteNotFoundError()
        data = path.read_bytes()
        if not data.strip():
            raise CassetteNotFoundError()  # vcrpy: an empty file is a cassette not yet recorded
        try:
            return deserialize(data.decode("utf-8"), serializer)
        except UnicodeDecodeError as exc:
            reason = f"not UTF-8 text (byte {exc.start})"
        except _AliasRefused as exc:
            reason = str(exc)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            reason = f"not YAML{where}: {getattr(exc, 'problem', None) or type(exc).__name__}"
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            reason = f"not a vcrpy cassette ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        raise CorruptCassette(f"{path}: {reason}")

    @staticmethod
    def save_cassette(cassette_path: Any, cassette_dict: dict[str, Any], serializer: Any) -> None:
        path = Path(cassette_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = serialize(cassette_dict, serializer)  # vcrpy's layout and format version
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)  # never a half-written cassette


# --- secrets -----------------------------------------------------------------------------------



class Scrubber:
    """Keeps secrets out of cassettes; runs as vcrpy's ``before_record_request``/``before_record_response``.

    Removed: every header whose name speaks of keys, tokens, secrets, auth, cookies, sessions, organisations
    or projects (``Authorization``, ``OpenAI-Organization``, ``OpenAI-Project``, ``Set-Cookie``...), such
    query parameters, and the user part of URLs. Replaced by ``***`` (``secrets.MASK``) wherever they appear (URL, headers,
    bodies): the run's API key and every value such a header carried. In answers, anything shaped like a
    key (``sk-...``, ``Bearer ...``) is replaced too, unless the request body holds it (then it is the
    suite's own generated text, echoed, and changing it would change the verdict).
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets: set[str] = {s for s in secrets if s and len(s) >= 4}
        # The body of the request last seen: vcrpy hands an interaction's request to ``request`` right before
        # its answer to ``response``.
        self.request_body: bytes = b""
        self.loading = False  # vcrpy runs the hooks on what it loads too: that was scrubbed when recorded

    def _learn(self, value: str) -> None:
        for part in (value, value.partition(" ")[2].strip()):
            if len(part) >= 8:
                self.secrets.add(part)

    def _hide(self, data: bytes) -> bytes:
        return mask_bytes(data, *self.secrets, replacement=MASK.encode())

    def hide_text(self, text: str) -> str:
        """``text`` without any secret, in any spelling (escaped, percent-encoded, base64: see ``secrets``)."""
        return mask(text, *self.secrets, replacement=MASK)

    def request(self, request: VcrRequest) -> VcrRequest:
        """A scrubbed copy of ``request`` (which is left as it is)."""
        if self.loading:
            return request
        headers = {}
        for name, value in request.headers.items():
            if is_secret_name(name):
                self._learn(str(value))
            else:
                headers[name] = value
        parts = urlsplit(request.uri)
        netloc = parts.netloc.rpartition("@")[2]
        query = parts.query
        if query:
            query = urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not is_secret_name(k)])
        uri = self.hide_text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))
        body = _bytes(request.body)
        self.request_body = body or b""
        return VcrRequest(request.method, uri, self._hide(body) if body else body, headers)

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        if self.loading:
            return response
        echoed = self.request_body
        headers: dict[str, list[str]] = {}
        for name, values in response.get("headers", {}).items():
            if is_secret_name(name):
                continue
            values = values if isinstance(values, list) else [values]
            headers[name] = [self._credentials(self.hide_text(str(v)).encode(), echoed).decode() for v in values]
        response["headers"] = headers
        status = response.get("status")
        if isinstance(status, dict) and status.get("message"):  # the reason phrase is the target's text too
            status["message"] = self._credentials(self.hide_text(str(status["message"])).encode(), echoed).decode()
        body = response.get("body", {})
        data = _bytes(body.get("string"))
        if data:
            body["string"] = self._credentials(self._hide(data), echoed)
        return response

    @staticmethod
    def _credentials(data: bytes, echoed: bytes) -> bytes:
        return hide_credentials(data, echoed)


# --- the transport -----------------------------------------------------------------------------


_REQUEST_OPTIONS = {"before_record_request", "before_record", "filter_headers", "filter_query_parameters",
                    "filter_post_data_parameters", "ignore_hosts", "ignore_localhost"}
_RESPONSE_OPTIONS = {"before_record_response", "decode_compressed_response"}


def _same(value: Any) -> Any:
    return value


def _recorded_response(recorded: dict[str, Any], replayed: bool) -> httpx.Response:
    """An httpx answer from a recorded one, carrying the recorded request time in its extensions."""
    extensions: dict[str, Any] = {"conformance.replayed": replayed}
    times = recorded.get(TIMES) or {}
    if isinstance(times, dict) and "started" in times and "ended" in times:
        extensions["conformance.times"] = (float(times["started"]), float(times["ended"]))
    message = (recorded.get("status") or {}).get("message")
    if message:
        extensions["reason_phrase"] = str(message).encode("ascii", errors="replace")
    headers = [(name, str(value)) for name, values in (recorded.get("headers") or {}).items()
               for value in (values if isinstance(values, list) else [values])]
    body = _bytes((recorded.get("body") or {}).get("string")) or b""
    return httpx.Response(int(recorded["status"]["code"]), headers=headers, stream=httpx.ByteStream(body),
                          extensions=extensions)


def _raise_recorded_error(recorded: dict[str, Any], request: httpx.Request, path: Any) -> None:
    """Raise the transport error a recorded interaction holds, if it holds one."""
    times = recorded.get(TIMES) or {}
    name = times.get("error") if isinstance(times, dict) else None
    if not name:
        return
    kind = getattr(httpx, str(name), None)
    if not (isinstance(kind, type) and issubclass(kind, httpx.TransportError)):
        kind = httpx.TransportError
    raise kind(f"{times.get('message') or name} (recorded in {path})", request=request)


def _read_capped(response: httpx.Response) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            return b"".join(chunks), True
    return b"".join(chunks), False


def _serialized(response: httpx.Response, raw: bytes, truncated: bool) -> dict[str, Any]:
    """The answer as vcrpy's httpx stub writes it; bodies stored decoded, so people (and scans) can read them."""
    headers: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():
        headers.setdefault(name, []).append(value)
    body = raw
    encoding = response.headers.get("content-encoding", "")
    if encoding and not truncated:
        try:
            body = _decode(raw, encoding)
        except TargetError:
            body = raw  # kept as sent: the client raises the same error on replay as it did live
        else:
            headers = {k: v for k, v in headers.items() if k.lower() not in ("content-encoding", "content-length")}
            headers["content-length"] = [str(len(body))]
    return {"status": {"code": response.status_code, "message": response.reason_phrase}, "headers": headers,
            "body": {"string": body}}


class CassetteTransport(httpx.BaseTransport):
    """Serves each request from the cassette in use, or sends it live and records it (see the module doc).

    ``live`` opens the client that reaches the target (with the environment's proxies); ``None`` means
    replay only: no request can leave the process. With no cassette in use, requests go straight through.
    """

    def __init__(self, live: Callable[[], httpx.Client] | None, scrubber: Scrubber) -> None:
        self._open_live = live
        self._live: httpx.Client | None = None
        self.scrubber = scrubber
        self.cassette: Cassette | None = None
        self.replayed = 0
        self.recorded = 0

    @property
    def replay_only(self) -> bool:
        return self._open_live is None

    def _send_live(self, request: httpx.Request) -> httpx.Response:
        if self._live is None:
            if self._open_live is None:
                raise RuntimeError("replay only (--record-mode none), and no cassette is in use for this request")
            self._live = self._open_live()
        return self._live.send(request, stream=True, follow_redirects=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        cassette = self.cassette
        if cassette is None:
            return self._send_live(request)
        body = request.read()
        vcr_request = VcrRequest(request.method, str(request.url), body, dict(request.headers))
        if cassette.can_play_response_for(vcr_request):
            self.replayed += 1
            recorded = cassette.play_response(vcr_request)
            _raise_recorded_error(recorded, request, cassette.path)
            return _recorded_response(recorded, replayed=True)
        if self.replay_only or (cassette.write_protected and cassette.filter_request(vcr_request)):
            raise CannotOverwriteExistingCassetteException(cassette=cassette, failed_request=vcr_request)
        started = time.time()
        try:
            response = self._send_live(request)
            try:
                raw, truncated = _read_capped(response)
            finally:
                response.close()
        except httpx.TransportError as exc:
            # Recorded too: a replay fails the way the live run failed (a reset, a timeout), not otherwise.
            failed = {"status": {"code": 0, "message": ""}, "headers": {}, "body": {"string": b""},
                      TIMES: {"started": started, "ended": time.time(), "error": type(exc).__name__,
                              "message": self.scrubber.hide_text(str(exc))}}
            self._record(cassette, vcr_request, failed)
            raise
        recorded = _serialized(response, raw, truncated)
        ended = time.time()
        # An answer sent ahead (``_concurrency``) carries when it was really sent and answered: recorded as such.
        started, ended = response.extensions.get("conformance.times", (started, ended))
        recorded[TIMES] = {"started": started, "ended": ended}
        return _recorded_response(self._record(cassette, vcr_request, recorded), replayed=False)

    def _record(self, cassette: Cassette, request: VcrRequest, recorded: dict[str, Any]) -> dict[str, Any]:
        """Append to the cassette; returns what it holds (scrubbed), which is what the test then judges."""
        count = len(cassette.data)
        cassette.append(request, recorded)
        if len(cassette.data) == count:
            return recorded  # a user's filter chose not to record it
        self.recorded += 1
        return dict(cassette.data[-1][1])

    def load(self, path: Path, mode: str, options: Mapping[str, Any]) -> Cassette:
        """vcrpy's cassette at ``path``, configured as vcrpy would be with ``options`` and our matching."""
        vcr = VCR(serializer="yaml", match_on=MATCH_ON, record_mode=mode)
        vcr.register_serializer("yaml", _Serializer)
        vcr.register_matcher("json_body", json_body)
        vcr.register_persister(_Persister)
        config = vcr.get_merged_config(path=str(path), record_mode=mode, **options)
        for key in ("path_transformer", "func_path_generator", "record_on_exception"):
            config.pop(key, None)
        # 'all' re-records a test from scratch (vcrpy would keep what the new recording did not repeat).
        config["drop_unused_requests"] = options.get("drop_unused_requests", mode == "all")
        # vcrpy's hook chain deep-copies every request, four times a request: without user filters, skip it.
        user_request = config["before_record_request"] if _REQUEST_OPTIONS & set(options) else _same
        user_response = config["before_record_response"] if _RESPONSE_OPTIONS & set(options) else _same
        scrub = self.scrubber

        def before_record_request(request: VcrRequest) -> VcrRequest | None:
            request = user_request(request)
            return None if request is None else scrub.request(request)

        def before_record_response(response: dict[str, Any]) -> dict[str, Any] | None:
            response = user_response(response)
            return None if response is None else scrub.response(response)

        config["before_record_request"] = before_record_request
        config["before_record_response"] = before_record_response
        scrub.loading = True
        try:
            return Cassette.load(**config)
        except CorruptCassette:
            if mode == "all":
                return Cassette(**config)  # about to be rewritten whole
            raise
        finally:
            scrub.loading = False

    @contextmanager
    def serve(self, cassette: Cassette, metadata: Mapping[str, Any]) -> Iterator[Cassette]:
        """Serve requests from ``cassette`` until exit, then save what was recorded, with ``metadata``."""
        self.cassette = cassette
        try:
            yield cassette
        finally:
            self.cassette = None
            if cassette.dirty:
                # vcrpy 9.4 keeps a cassette's top-level metadata here (what Cassette.get_metadata fills); a
                # recording replaces it, so it always says with which settings the file was last recorded.
                cassette._metadata = dict(metadata)
            cassette._save()

    def close(self) -> None:
        if self._live is not None:
            self._live.close()


# --- what a cassette says about the run that made it ----------------------------------------------


# --- explanations ------------------------------------------------------------------------------


def describe_stale(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> str | None:
    """What differs between the settings a cassette was recorded with and this run's, or None."""
    if not recorded:
        return "it records no settings (not written by conformance?)"
    changed = []
    for key in SETTINGS:
        old, new = recorded.get(key), now.get(key)
        if old != new:
            if key.endswith("sha256"):
                old, new = str(old)[:12], str(new)[:12]
            changed.append(f"{key} {old} (recorded) != {new} (this run)")
    return "; ".join(changed) or None


_REASONS = {
    "cassette_not_found": "there is no cassette for this test",
    "already_played": "the cassette holds fewer such requests than the test now sends",
    "no_match": "no recorded request matches it",
    "nothing_similar": "no recorded request matches it",
}


def explain_missing(sent: Sent, error: CannotOverwriteExistingCassetteException, *, test: str,
                    requirement: str | None, settings: Mapping[str, Any], command: str) -> str:
    """The failure of a test whose request is missing from the cassette: what, where, why, and the fix."""
    cassette = error.cassette
    mode = getattr(cassette.record_mode, "value", cassette.record_mode)
    why = _REASONS.get(error.reason, error.reason)
    if error.reason == "no_match" and error.similar_requests:
        names = [name for name, _message in error.similar_requests[0][2]]
        why += f" (the closest differs in {', '.join(names)})"
    lines = [
        f"{test}: a request is not in the cassette, and --record-mode {mode} does not send it",
        f"  requirement: {requirement or '(none in particular: the test checks every requirement its answers touch)'}",
        f"  missing request: {sent.method} {urlsplit(sent.url).path} {_excerpt(sent.body, 200)}",
        f"  cassette: {cassette.path}: {why}",
    ]
    if error.reason != "cassette_not_found":
        stale = describe_stale(getattr(cassette, "_metadata", {}) or {}, settings)
        if stale:
            lines.append(f"  stale: recorded with other settings: {stale}")
    lines.append(f"  re-record it: {command}")
    return "\n".join(lines)
