"""The target seam: only this module knows how requests travel (a base URL over HTTP, or an app in-process).

Everything above it takes an ``Api`` built on an ``httpx.Client`` and gets back ``Exchange`` values: what
was sent and what came back, with bodies read up to a cap so a hostile target cannot exhaust memory.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, unquote, urlencode

import httpx
from vcr.errors import CannotOverwriteExistingCassetteException

from conformance.contract.wire import encode
from conformance.endpoints import RESOURCES
from conformance.transport.concurrency import MADE, TICKET, Ahead, Answer, Chain, Planned, Slot, Step
from conformance.transport.interrupts import INTERRUPTS, CleanupAbandoned
from conformance.transport.limits import BudgetExhausted, Limits, retry_wait
from conformance.transport.secrets import MASKED_AUTH, is_secret_name, mask, mask_bytes

__all__ = ["Api", "Credential", "Exchange", "NotRecorded", "Received", "Sent", "Target", "TargetError", "Unjudgeable",
           "bound_json", "encode"]

MAX_BODY = 8 * 1024 * 1024
# Bounds on a parsed answer, so judging one costs bounded time and memory. A documented assistant object has
# at most 128 tools, 16 metadata keys and 20 file ids: even with large function schemas it is far below these.
# Past them the checks' cost grew with the answer (jsonschema's oneOf over 131,072 tools took 33 s; a
# recursive walk of 100,000 nested arrays raised RecursionError), so such an answer is not judged further:
# it fails the requirement of its shape, saying why.
MAX_DEPTH = 512
MAX_VALUES = 100_000
EVIDENCE_BODY = 64 * 1024  # bytes of an answer a finding keeps
_NO_JSON = object()
_CREATE = RESOURCES[0].op("create")
_ITEM_PREFIX = RESOURCES[0].op("retrieve").path.split("{")[0]


class Unjudgeable(ValueError):
    """An answer that parses, but is too deep or too large to judge in bounded time (``MAX_DEPTH``,
    ``MAX_VALUES``): the requirement its shape is judged by fails, with this message."""


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def too_many_values(body: bytes) -> bool:
    """Whether ``body`` (JSON text) holds more than ``MAX_VALUES`` values, judged before parsing it: parsing
    ``[[],[],...]`` of 7.9 MiB built 2.6 million lists (about 450 MB) only to refuse them. Commas, '[' and '{'
    outside strings bound the count from above; strings are taken out only when the quick count is high."""
    if body.count(b",") + body.count(b"[") + body.count(b"{") <= MAX_VALUES:
        return False
    bare = _STRING.sub(b'""', body)
    return bare.count(b",") + bare.count(b"[") + bare.count(b"{") > MAX_VALUES


def bound_json(value: Any) -> None:
    """Raise ``Unjudgeable`` when ``value`` nests deeper than ``MAX_DEPTH`` or holds more than ``MAX_VALUES``
    values. Iterative, and it stops at the first bound passed: its cost is bounded too."""
    stack = [(value, 1)]
    count = 0
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise Unjudgeable(f"the answer holds more than {MAX_VALUES} JSON values: too costly to judge")
        if depth > MAX_DEPTH:
            raise Unjudgeable(f"the answer nests deeper than {MAX_DEPTH} levels: too deep to judge")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


class TargetError(Exception):
    """The target could not be talked to: refused, timed out, cut off, or answered what HTTP cannot carry."""


class NotRecorded(BaseException):
    """A request is missing from the cassette being replayed, and the record mode forbids sending it.

    A BaseException, like KeyboardInterrupt: it ends the test at once (Hypothesis has nothing to shrink).
    """

    def __init__(self, sent: Sent, error: CannotOverwriteExistingCassetteException) -> None:
        self.sent = sent
        self.error = error
        super().__init__(f"{sent.method} {sent.url} is not in the cassette {error.cassette.path}")


@dataclass(frozen=True)
class Target:
    """Where the suite sends requests. ``base_url`` is like the OpenAI SDK's: ``http://host:port/v1``."""

    base_url: str
    api_key: str | None = None
    timeout: float = 30.0
    name: str = "target"
    headers: tuple[tuple[str, str], ...] = RESOURCES[0].headers


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    payload: Any = None


@dataclass(frozen=True)
class Received:
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool = False
    _json: Any = field(default=_NO_JSON, repr=False, compare=False)
    _error: ValueError | None = field(default=None, repr=False, compare=False)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        """The body parsed as JSON, or raises ValueError."""
        if self._json is not _NO_JSON:
            return self._json
        if self.truncated:
            raise ValueError(f"body exceeds {MAX_BODY} bytes")
        if self._error is not None:  # parsed once: a failure is not paid for again by every check
            raise self._error
        try:
            if too_many_values(self.body):
                raise Unjudgeable(f"the answer holds more than {MAX_VALUES} JSON values: too costly to judge")
            value = json.loads(self.body.decode("utf-8"))
            bound_json(value)
        except RecursionError:  # Python's parser gives up near 1,000 levels, before ``bound_json`` can look
            error: ValueError = Unjudgeable(f"the answer nests deeper than {MAX_DEPTH} levels: too deep to judge")
        except ValueError as exc:  # UnicodeDecodeError too
            error = exc
        else:
            object.__setattr__(self, "_json", value)
            return value
        object.__setattr__(self, "_error", error)
        raise error

    def json_or_none(self) -> Any:
        try:
            return self.json()
        except (ValueError, UnicodeDecodeError):
            return None

    def unserved(self) -> bool:
        """Whether this answer says the endpoint is not there: 404, 405 or 501, or an HTML page where an answer
        was due (a web app's catch-all route, a login page). An answer that tries and fails (JSON that does not
        decode, an error in plain text, a redirect) is a verdict, not this."""
        if self.status in (404, 405, 501):
            return True
        media = self.content_type.split(";")[0].strip().lower()
        # JSON labelled text/html is an answer with the wrong Content-Type (HTTP-JSON), not a page
        return self.status < 400 and media in ("text/html", "application/xhtml+xml") and self.json_or_none() is None

    def text(self, limit: int = 2000) -> str:
        text = self.body[:utf8_cut(self.body, limit)].decode("utf-8", errors="replace")
        return text + ("…" if len(self.body) > limit else "")


def utf8_cut(data: bytes, limit: int) -> int:
    """Where to cut ``data`` to at most ``limit`` bytes without splitting a UTF-8 character: back over at most 3
    continuation bytes (a cut inside a character would show as U+FFFD in every report)."""
    if limit >= len(data):
        return len(data)
    cut = limit
    while cut > 0 and limit - cut < 3 and data[cut] & 0xC0 == 0x80:
        cut -= 1
    return cut if data[cut] & 0xC0 != 0x80 else limit


@dataclass(frozen=True)
class Exchange:
    sent: Sent
    received: Received
    started: float
    ended: float
    replayed: bool = False  # the answer came from a cassette

    def clipped(self, limit: int = EVIDENCE_BODY) -> Exchange:
        """This exchange with at most ``limit`` bytes of the answer's body: what evidence keeps, so a run that
        collects a finding per requirement from a target answering megabytes stays small."""
        got = self.received
        if len(got.body) <= limit:
            return self
        return replace(self, received=Received(got.status, got.headers, got.body[:utf8_cut(got.body, limit)], True))

    def curl(self) -> str:
        """A curl line that reproduces the request; the key is read from $OPENAI_API_KEY, never printed.
        (A deliberately wrong key a test sent is not a secret: it is written out, so the line reproduces.)"""
        parts = ["curl", "-sS", "-X", self.sent.method, shlex.quote(self.sent.url)]
        for name, value in self.sent.headers.items():
            if name.lower() == "authorization" and value == MASKED_AUTH:
                parts += ["-H", '"Authorization: Bearer $OPENAI_API_KEY"']
            elif name.lower() == "authorization":
                parts += ["-H", shlex.quote(f"{name}: {value}")]
            elif is_secret_name(name):
                continue
            else:
                parts += ["-H", shlex.quote(f"{name}: {value}")]
        if self.sent.body is not None:
            text = self.sent.body.decode("utf-8", errors="replace")
            if len(text) > 4000:
                text = text[:4000] + "…(truncated)"
            parts += ["--data-binary", shlex.quote(text)]
        return " ".join(parts)


_DEFAULT = object()


@dataclass(frozen=True)
class Credential:
    """An Authorization header sent as it is (``api_key=`` of an operation); ``shown`` is what reports, curl
    lines and logs show instead, since it may be made from the key (the key minus its last character)."""

    header: str
    shown: str


class Api:
    """The endpoint's operations over one ``httpx.Client``; remembers what it created, for cleanup."""

    def __init__(self, client: httpx.Client, target: Target, limits: Limits | None = None) -> None:
        self.client = client
        self.target = target
        self.created: list[str] = []
        self.requests = 0
        self.answered = 0  # operations answered (a 429 waited out and retried is not an answer yet)
        self.unserved = 0  # answers saying the endpoint is not there (``Received.unserved``)
        self.limits = limits or Limits()
        self.rate_limited = 0  # 429 answers waited out and retried
        self.answers: dict[str, Any] = {}  # each created id's create answer, for reading back (see ``_record``)
        self.ahead: Ahead | None = None  # --concurrency N > 1: requests sent ahead (``attach``)
        self._lock: Any = threading.RLock()  # the budget's count and reserve, shared with ``ahead``'s senders
        self._deleting: set[str] = set()  # ids whose DELETE was sent ahead and not yet seen by the cleanup
        self._chains = itertools.count()  # names the ids chains sent ahead create (``chain``)

    def attach(self, ahead: Ahead) -> None:
        """Send planned requests ahead (``_concurrency``): charged to this budget when they leave, under one lock
        with the senders' queue, so the count and the DELETEs held back for cleanup are never off."""
        self.ahead = ahead
        self._lock = ahead.lock
        ahead.charge = self._charge_ahead
        ahead.id_of = _created_id

    def chain(self, chain: Chain, order: int, segment: int) -> list[Slot]:
        """The plan entries of one chain of a test's plan (``Step``): each after the one before, a step ``on``
        ``MADE`` waiting for the id its chain's first create answers."""
        slots: list[Slot] = []
        made: str | None = None
        name = f"{MADE}:{next(self._chains)}"
        for step in chain:

            def at(resource_id: str | None, step: Step = step) -> Planned:
                try:
                    op, path = _operation_path(step.operation, resource_id, step.query)
                except TargetError as exc:  # an id no URL can carry
                    raise ValueError(str(exc)) from None
                return self.planned(op.method, path, step.payload, has_body=op.request is not None, order=order,
                                    segment=segment)

            needs = None if step.on is None else (made if step.on == MADE else step.on)
            if step.on == MADE and made is None:
                raise ValueError(f"a step on {MADE} before its chain's create: {chain}")
            slot = Slot(at(None), needs=needs, resolve=at if needs is not None else None,
                        after=slots[-1] if slots else None, if_ok=step.if_ok)
            if step.operation == "create" and made is None:
                made = slot.binds = name
            slots.append(slot)
        return slots

    def chains_ahead(self, chains: Iterable[Chain]) -> None:
        """Chains of requests the test under way is about to send, in this order (``Step``): with
        ``--concurrency`` they may leave ahead, each chain one step after another, the chains side by side."""
        if self.ahead is not None:
            order, segment = self.ahead.place
            self.ahead.announce_slots([slot for chain in chains for slot in self.chain(chain, order, segment)])

    def derail(self) -> None:
        """The test under way leaves its plan (``Ahead.derail``); nothing without ``--concurrency``."""
        if self.ahead is not None:
            self.ahead.derail()

    def bind(self, name: str, resource_id: str | None) -> None:
        """Plan entries ``on`` ``name`` act on ``resource_id`` (``Ahead.bind``); nothing without ``--concurrency``."""
        if self.ahead is not None:
            self.ahead.bind(name, resource_id)

    def unsettled(self, resource_id: str) -> None:
        """What ``resource_id`` holds now is not known (a modify test that failed, whose later modifies may have
        been sent ahead; an assistant refused modifies are sent to, which a target may apply in any order): the
        read-back at the end does not judge it. It is still deleted at the end."""
        with self._lock:
            self.answers.pop(resource_id, None)

    def planned(self, method: str, path: str, payload: Any = None, *, has_body: bool = False,
                api_key: Any = _DEFAULT, order: int = 0, segment: int = 0) -> Planned:
        """The request ``send`` would make for these arguments, as a plan entry for ``ahead``."""
        headers = self._headers(api_key, has_body)
        return Planned(method, path, self._url(path), tuple(headers.items()), encode(payload) if has_body else None,
                       order, segment)

    def _charge(self, method: str, path: str) -> None:
        with self._lock:
            self.limits.admit(self.requests, self._reserved(method, path))
            self.requests += 1

    def _charge_ahead(self, planned: Planned) -> bool:
        """Called by ``ahead`` (holding the lock) before a request leaves: admitted and counted, or False."""
        with self._lock:
            try:
                self.limits.admit(self.requests, self._reserved(planned.method, planned.path))
            except BudgetExhausted:
                return False
            self.requests += 1
            if planned.method == "DELETE" and planned.path.startswith(_ITEM_PREFIX):
                self._deleting.add(_path_id(planned.path))
            return True

    def _masked(self, text: str) -> str:
        return mask(text, self.target.api_key)

    def _url(self, path: str) -> str:
        return self.target.base_url.rstrip("/") + path

    def _headers(self, api_key: Any, json_body: bool) -> dict[str, str]:
        headers = dict(self.target.headers)
        if json_body:
            headers["Content-Type"] = "application/json"
        if isinstance(api_key, Credential):
            headers["Authorization"] = api_key.header
            return headers
        key = self.target.api_key if api_key is _DEFAULT else api_key
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def send(self, method: str, path: str, payload: Any = None, *, has_body: bool = False,
             api_key: Any = _DEFAULT) -> Exchange:
        """One operation: within the budget, 429s waited out, a created assistant recorded before any
        interrupt can land (see ``limits`` and ``interrupts``)."""
        attempt = 0
        while True:
            INTERRUPTS.check()
            if self.ahead is None:
                self._charge(method, path)
                slot = None
            with INTERRUPTS.deferred():
                if self.ahead is not None:  # sent ahead already (and charged then), or sent now and charged here
                    slot = self.ahead.claim(self.planned(method, path, payload, has_body=has_body, api_key=api_key).key)
                    if slot is None:
                        self._charge(method, path)
                try:
                    exchange = self._exchange(method, path, payload, has_body, api_key, slot)
                    with self._lock:
                        if method == "POST" and path == _CREATE.path:
                            self._record(exchange)
                        elif method == "POST" and path.startswith(_ITEM_PREFIX) and 200 <= exchange.received.status < 300:
                            self._modified(_path_id(path.split("?")[0]), exchange)
                        elif method == "DELETE" and exchange.received.status == 200:  # forgotten before an interrupt
                            self._forget(_path_id(path))
                finally:
                    if self.ahead is not None:
                        with self._lock:
                            self.ahead.release(slot)
                            if method == "DELETE":
                                self._deleting.discard(_path_id(path))
            if exchange.received.status != 429:
                self.answered += 1
                self.unserved += exchange.received.unserved()
                return exchange
            wait = self._wait_429(exchange, attempt)
            if self.ahead is not None:
                self.ahead.pause(wait)  # every sender waits too
            time.sleep(wait)
            attempt += 1
            self.rate_limited += 1

    def _reserved(self, method: str, path: str) -> int:
        """Requests to hold back for cleanup: a DELETE per assistant still to delete, one more for a create."""
        deleting = self._deleting
        reserved = len([i for i in self.created if i not in deleting]) if deleting else len(self.created)
        if method == "DELETE" and path.startswith(_ITEM_PREFIX) and _path_id(path) in self.created \
                and _path_id(path) not in deleting:
            reserved -= 1
        if method == "POST" and path == _CREATE.path:
            reserved += 1
        if self.ahead is not None:
            reserved += self.ahead.pending_creates()
        return reserved

    def _record(self, exchange: Exchange) -> None:
        # a 201 also created something to clean up; a replayed assistant exists nowhere
        if 200 <= exchange.received.status < 300:
            body = exchange.received.json_or_none()
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                self.answers.setdefault(body["id"], body)  # the first answer that gave the id
                if not exchange.replayed and body["id"] not in self.created:
                    self.created.append(body["id"])

    def _modified(self, resource_id: str, exchange: Exchange) -> None:
        """A modify the target accepted: what reading back must find is now its answer (none, when the answer
        does not say: a later read-back then has nothing to compare)."""
        if resource_id not in self.answers:
            return
        body = exchange.received.json_or_none()
        if isinstance(body, dict) and body.get("id") == resource_id:
            self.answers[resource_id] = body
        else:
            self.answers.pop(resource_id, None)

    def _wait_429(self, exchange: Exchange, attempt: int) -> float:
        where = f"{exchange.sent.method} {exchange.sent.url}"
        body = exchange.received.json_or_none()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("code") == "insufficient_quota":
            raise TargetError(f"{where}: 429 insufficient_quota (the account has no credit left; waiting will not help)")
        if attempt >= self.limits.max_retries:
            raise TargetError(f"{where}: still 429 Too Many Requests after {attempt} retries (--max-retries)")
        wait = retry_wait(exchange.received.headers, attempt)
        if wait > self.limits.max_wait:
            raise TargetError(f"{where}: 429 Too Many Requests asks to wait {wait:.1f} s, more than --max-wait "
                              f"{self.limits.max_wait:g} s")
        return wait

    def _exchange(self, method: str, path: str, payload: Any, has_body: bool, api_key: Any,
                  slot: Slot | None = None) -> Exchange:
        url = self._url(path)
        body = encode(payload) if has_body else None
        headers = self._headers(api_key, has_body)
        secret = headers.get("Authorization") == f"Bearer {self.target.api_key}"
        shown = {k: (MASKED_AUTH if k.lower() == "authorization" and secret else v) for k, v in headers.items()}
        if isinstance(api_key, Credential):  # a credential made from the key is shown as its label, never as sent
            shown["Authorization"] = api_key.shown
        sent = Sent(method, url, shown, body, payload)
        started = time.time()
        status: int | None = None
        extensions = {TICKET: slot} if slot is not None else None
        try:
            with self.client.stream(method, url, content=body, headers=headers, extensions=extensions) as response:
                status = response.status_code
                data, truncated = _read_capped(response.iter_raw())
                encoding = response.headers.get("content-encoding", "")
                if encoding and not truncated:
                    data = _decode(data, encoding)
                    truncated = len(data) > MAX_BODY
                if truncated:  # unusable as an answer (``json()`` refuses it): keep what evidence shows
                    data = data[:EVIDENCE_BODY]
                received = _masked(Received(status, {k.lower(): v for k, v in response.headers.items()}, data,
                                            truncated), self.target.api_key)
                # A cassette knows when a recorded request was made; a replay reports that time, not now.
                recorded_times = response.extensions.get("conformance.times")
                replayed = bool(response.extensions.get("conformance.replayed"))
        except CannotOverwriteExistingCassetteException as exc:
            raise NotRecorded(sent, exc) from None
        except httpx.TimeoutException as exc:
            what = "no answer" if status is None else f"the answer ({status}) did not complete"
            raise TargetError(self._masked(f"{method} {url}: {what} within {self.target.timeout:g} s "
                                           f"({type(exc).__name__})")) from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            if status is not None:
                reason = f"the answer ({status}) broke off: {reason}"
            raise TargetError(self._masked(f"{method} {url}: {reason}")) from None
        except TargetError as exc:
            raise TargetError(self._masked(f"{method} {url}: {exc}")) from None
        except (httpx.InvalidURL, UnicodeEncodeError) as exc:  # not an HTTPError: it would end the run
            raise TargetError(self._masked(f"{method} {url!r} cannot be sent: {exc}")) from None
        if recorded_times is not None:
            started, ended = recorded_times
            return Exchange(sent, received, started, ended, replayed)
        return Exchange(sent, received, started, time.time(), replayed)

    def call(self, operation: str, resource_id: str | None = None, payload: Any = None, *,
             query: dict[str, Any] | None = None, api_key: Any = _DEFAULT) -> Exchange:
        """One operation of the resource (``endpoints``), by name: its method and path, the id in the path
        encoded, ``query`` as query parameters (``query_string``), ``payload`` as the JSON body when it takes one."""
        op, path = _operation_path(operation, resource_id, query)
        return self.send(op.method, path, payload, has_body=op.request is not None, api_key=api_key)

    def create(self, payload: Any, *, api_key: Any = _DEFAULT) -> Exchange:
        return self.call("create", None, payload, api_key=api_key)

    def retrieve(self, resource_id: str, *, api_key: Any = _DEFAULT) -> Exchange:
        return self.call("retrieve", resource_id, api_key=api_key)

    def delete(self, resource_id: str, *, api_key: Any = _DEFAULT) -> Exchange:
        return self.call("delete", resource_id, api_key=api_key)

    def modify(self, resource_id: str, payload: Any, *, api_key: Any = _DEFAULT) -> Exchange:
        return self.call("modify", resource_id, payload, api_key=api_key)

    def list_page(self, query: dict[str, Any] | None = None, *, api_key: Any = _DEFAULT) -> Exchange:
        return self.call("list", None, query=query, api_key=api_key)

    def _forget(self, resource_id: str) -> None:
        if resource_id in self.created:
            self.created.remove(resource_id)
        self.answers.pop(resource_id, None)

    def _adopt(self, answer: Answer) -> None:
        """An assistant a create sent ahead made, which no test saw: the cleanup deletes it."""
        resource_id = _created_id(answer)
        if resource_id is not None and resource_id not in self.created:
            self.created.append(resource_id)

    def read_ahead(self, ids: Iterable[str]) -> None:
        """GETs of these ids, about to be sent one after another and independent of each other (reads)."""
        self._ids_ahead("GET", ids)

    def delete_ahead(self, ids: Iterable[str]) -> None:
        """DELETEs of these ids, each deleted once and read by no later request of the run."""
        self._ids_ahead("DELETE", ids)

    def _ids_ahead(self, method: str, ids: Iterable[str]) -> None:
        if self.ahead is None:
            return
        planned = []
        for resource_id in ids:
            try:
                planned.append(self.planned(method, _ITEM_PREFIX + _id_in_path(resource_id)))
            except TargetError:
                break  # the test says so when it gets there
        self.ahead.announce(planned)

    def _deletes(self) -> list[Planned]:
        out = []
        for resource_id in self.created:
            try:
                out.append(self.planned("DELETE", _ITEM_PREFIX + _id_in_path(resource_id)))
            except TargetError:  # an id no URL can carry: the cleanup's own loop says so
                continue
        return out

    def cleanup(self) -> tuple[list[str], list[tuple[str, Exchange]]]:
        """Delete every assistant this run created and did not delete. Returns the IDs that could not be
        deleted, and every answer the target gave (an id it returned that it now cannot delete is evidence
        that it lost or mixed up assistants: the caller judges these answers)."""
        failed: list[str] = []
        answers: list[tuple[str, Exchange]] = []
        with INTERRUPTS.cleaning(lambda: len(self.created)):
            try:
                if self.ahead is not None:  # what was sent ahead and never used may have created assistants too
                    unused, deleted = self.ahead.settle()
                    for answer in unused:
                        self._adopt(answer)
                    for path in deleted:  # and deleted some (a chain that went on after its test stopped)
                        self._forget(_path_id(path))
                    self.ahead.restart()
                    self.ahead.announce(self._deletes())
                for resource_id in list(self.created):
                    if INTERRUPTS.abandon:
                        raise CleanupAbandoned
                    try:
                        exchange = self.delete(resource_id)
                        answers.append((resource_id, exchange))
                        ok = exchange.received.status == 200
                    except (TargetError, BudgetExhausted):
                        ok = False
                    if not ok:
                        failed.append(resource_id)
                        if resource_id in self.created:
                            self.created.remove(resource_id)
            except KeyboardInterrupt:  # interrupted twice: the rest is abandoned, said in one line
                left = list(self.created)
                failed += left
                self.created.clear()
                shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
                label = RESOURCES[0].id_label
                print(f"\nconformance: interrupted again: cleanup abandoned, {len(left)} {label}(s) this run created "
                      f"left undeleted{': ' + shown if left else ''} (compliance.json, run.cleanup_failed)",
                      file=sys.stderr, flush=True)
        return failed, answers


def _operation_path(operation: str, resource_id: str | None, query: dict[str, Any] | None) -> tuple[Any, str]:
    """An operation of the resource, by name, and its path: the id encoded in it (``_id_in_path``, which raises
    ``TargetError`` for an id no URL can carry), ``query`` after it (``query_string``)."""
    op = RESOURCES[0].op(operation)
    path = op.at(_id_in_path(resource_id) if resource_id is not None else None)
    if query:
        path += "?" + query_string(query)
    return op, path


def _created_id(answer: Answer) -> str | None:
    """The id a 2xx answer sent ahead gives (its body an object with a string id), or None."""
    if answer.error is not None or not 200 <= answer.status < 300:
        return None
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in answer.headers}
    try:
        body = json.loads(_decode(answer.body, headers.get("content-encoding", "")))
    except (TargetError, ValueError):
        return None
    return body["id"] if isinstance(body, dict) and isinstance(body.get("id"), str) else None


def _id_in_path(resource_id: str) -> str:
    """An id as a path segment: every character outside RFC 3986's unreserved set percent-encoded (UTF-8).

    Ids are the target's choice: one holding ESC, CR LF, a slash or a '?' was put in the URL as it was, so a
    CR LF made httpx refuse the URL (``InvalidURL``, which aborted the cleanup) and a '/' or '?' would have
    sent the request somewhere else. The ids servers really give (``asst_abc123``: letters, digits, '_', '-')
    are unreserved, so their paths, and the cassettes recorded with them, are what they were. An id that has
    no UTF-8 form (a lone surrogate, which JSON's ``\\ud800`` can carry) cannot be sent at all: a target error.
    """
    try:
        return quote(resource_id, safe="")
    except UnicodeEncodeError:
        raise TargetError(f"the id {resource_id!r} cannot be sent: it has no UTF-8 form") from None


def _path_id(path: str) -> str:
    """The id in ``/assistants/{id}``, as the target gave it (``_id_in_path`` undone)."""
    return unquote(path[len(_ITEM_PREFIX):])


def query_string(query: dict[str, Any]) -> str:
    """Query parameters as they go on the wire: strings as they are, numbers in JSON's spelling, true/false,
    a list as the parameter repeated; a parameter given None is left out."""
    pairs = []
    for name, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            pairs.append((name, item if isinstance(item, str) else json.dumps(item)))
    return urlencode(pairs, quote_via=quote)


def _read_capped(chunks: Iterator[bytes]) -> tuple[bytes, bool]:
    """The body up to ``MAX_BODY`` bytes, and whether there was more (the rest is never read).

    Chunks go into one buffer and are dropped as they come: keeping a list of them (64 KB each) and
    joining it fragmented the heap, and a run against a target answering 8 MB each time grew past 800 MB
    resident over 250 answers although nothing was kept.
    """
    buffer = bytearray()
    for chunk in chunks:
        room = MAX_BODY - len(buffer)
        if len(chunk) > room:
            buffer += chunk[:room]
            return bytes(buffer), True
        buffer += chunk
    return bytes(buffer), False


_MAX_DECODED = MAX_BODY


def _decode(data: bytes, encoding: str) -> bytes:
    """Undo gzip/deflate with a cap on the output (a compression bomb stops at the cap)."""
    import zlib

    out = data
    for enc in reversed([e.strip().lower() for e in encoding.split(",") if e.strip()]):
        if enc in ("gzip", "x-gzip", "deflate"):
            wbits = 47 if enc != "deflate" else 15
            try:
                inflater = zlib.decompressobj(wbits)
                out = inflater.decompress(out, _MAX_DECODED + 1)
            except zlib.error as exc:
                raise TargetError(f"body claims {enc} encoding but does not decode: {exc}") from None
        elif enc == "identity":
            continue
        else:
            raise TargetError(f"body uses the content encoding {enc!r}, which the suite does not decode")
    return out


def _masked(received: Received, secret: str | None) -> Received:
    """``received`` with the key blanked out wherever the target repeated it (body or headers), in any spelling
    (``secrets``): a target that reflects the Authorization header must not carry the key into the terminal
    or a report, and one that escapes it (``\\u0073k-...``) must not have ``json.loads`` rebuild it."""
    body = mask_bytes(received.body, secret)
    headers = {k: mask(v, secret) for k, v in received.headers.items()}
    if body is received.body and headers == received.headers:
        return received
    return Received(received.status, headers, body, received.truncated)


def open_client(target: Target, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An HTTP client for a base URL: no redirects followed (a redirect is a verdict, not a detour), and
    each exchange, connect to last byte, bounded by the target's timeout (see ``deadline``).

    ``transport`` replaces the network: cassettes, an in-process target (see ``inprocess``).
    """
    from conformance.transport.deadline import DeadlineTransport

    return httpx.Client(transport=transport or DeadlineTransport(target.timeout), timeout=httpx.Timeout(target.timeout),
                        follow_redirects=False,
                        headers={"Accept-Encoding": "gzip, deflate", "User-Agent": "conformance"})
