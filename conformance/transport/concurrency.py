"""``--concurrency N``: up to N requests in flight, while tests still run one at a time, in their order.

Against a target 100 ms away the suite's ~800 requests, one at a time, cost 80 s; on loopback 5 s. What
makes a run trustworthy is that the same seed sends the same requests and gets the same verdicts, that its
order (cheapest refusals first) holds under ``-x`` and ``--max-requests``, and that state-dependent checks
(an id's lifecycle, ids unique across the run) see what they would see one request at a time. So the tests
are not run in parallel (pytest-xdist does that, in processes; see benchmarks/RESULTS.md for why it is not
the answer here); instead most of the run's requests are known before they are sent, and ``Ahead`` sends
them early:

- the runner gives it a *plan*: every request of the tests whose requests are fixed at collection (a probe
  with one fixed value: one ``POST /assistants`` each, about 260 of a default run), in the run's order, in
  *segments*: consecutive planned tests with no other test between them;
- it sends planned requests ahead, in plan order, up to N in flight, but never past the segment of the test
  under way: a test whose requests are not planned (the lifecycle, the state tests creating and deleting,
  the key tests, Hypothesis draws) is a barrier, so no later request reaches the target before it;
- a test may *announce* the requests it is about to send when they are independent of each other (the
  read-back GETs at the end, the cleanup's DELETEs);
- a plan entry may name the id it acts on before anyone knows it (a ``Step`` ``on`` an id): the id the
  test's own create will answer (``MADE``), or one the run binds later (``bind``: the assistant every refused
  modify is sent to). Such an entry leaves once its id is known. The steps of a *chain* (a modify test: its
  create, then each modify and the read after it) leave one after another, each once the one before it was
  answered; chains of different tests run side by side. A chain runs on an assistant of its own, so what it
  sends ahead is what its test sends next, in the same order;
- when a test sends a request (``Api.send``), it first ``claim``s it: sent ahead, the test gets that answer
  (waiting for it if it is in flight); not sent yet, it is taken out of the plan and the test sends it.

Sent ahead, a request is one the test would have sent next anyway, and only creates, refusals, and chains on
an assistant of their own are (a probe's create never touches another id; the reads and deletes announced are
of ids no later test uses):
the target sees the same requests, in nearly the same order, and each answer is the one it would have given.
The answer goes up through the cassette layer unchanged, with the times it was sent and answered, so
``created_at`` is judged against when the request left, cassettes are recorded as usual and verdicts are
the same. What is not covered, and why:

- the budget: each request is charged when dispatched (``charge``, given by ``Api``), under ``Api``'s lock,
  holding back a DELETE for each create in flight, so ``--max-requests`` is never exceeded; a refused charge
  stops sending ahead and the run goes on one request at a time, to the same budget edge as at N = 1;
- a 429 pauses every dispatch for as long as it asks (``pause``); the test that receives it waits it out and
  retries as always (``Api.send``);
- an answer sent ahead but never used (``-x``, a budget, Ctrl-C, a probe test that stopped early) is handed
  back by ``settle``, and ``Api.cleanup`` deletes whatever it created; Ctrl-C stops all dispatching. A test
  that stops early (it failed) may so have sent more than at N = 1, on its own assistant: a target that
  failed it gets those requests too, and the test reads back no state of that assistant at the end (see
  ``test_modify``), at every N alike.

N = 1 builds no ``Ahead`` at all: no threads, today's code path.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance.endpoints import RESOURCES
from conformance.transport.interrupts import INTERRUPTS

_CREATE_PATH = RESOURCES[0].op("create").path

__all__ = ["MADE", "TICKET", "Ahead", "Answer", "Chain", "Planned", "Slot", "Step", "creates"]

TICKET = "conformance.ahead"  # the request extension that carries a claimed slot to ``Ahead.handle_request``
Key = tuple[str, str, tuple[tuple[str, str], ...], bytes | None]


@dataclass(frozen=True)
class Planned:
    """One request a test will send: ``key`` is what ``Api`` computes for it (method, URL, headers, body)."""

    method: str
    path: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    order: int = 0  # the position of its test in the run
    segment: int = 0  # requests of a segment may leave before the test that sends them begins

    @property
    def key(self) -> Key:
        return (self.method, self.url, self.headers, self.body)

    @property
    def creates(self) -> bool:
        return self.method == "POST" and self.path == _CREATE_PATH


MADE = "made"  # ``Step.on``: the id its chain's create answered


@dataclass(frozen=True)
class Step:
    """One request of a test's plan: ``operation`` of the resource (``endpoints``) with ``payload`` (its body,
    when it takes one) and ``query``, on the id ``on``: None (an operation on no id), ``MADE`` (the id its
    chain's first create answers) or a name the run binds once it knows the id (``Ahead.bind``)."""

    operation: str
    payload: Any = None
    on: str | None = None
    if_ok: bool = False  # sent only when the step before it was answered 200 (as its test sends it)
    query: dict[str, Any] | None = None  # its query parameters (``Api.call``'s)


Chain = tuple[Step, ...]  # steps sent one after another, each once the one before was answered


def creates(example: Any) -> Chain:
    """The chain of a test that sends ``create(example)`` and nothing after it (a create probe's example)."""
    return (Step("create", example),)


@dataclass
class Answer:
    """What came back for a request sent ahead: the answer read whole (up to a cap), or the transport error."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    extensions: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None
    started: float = 0.0
    ended: float = 0.0

    def response(self, request: httpx.Request) -> httpx.Response:
        if self.error is not None:
            raise self.error
        extensions = dict(self.extensions)
        extensions["conformance.times"] = (self.started, self.ended)  # judged against when it was sent
        return httpx.Response(self.status, headers=self.headers, stream=httpx.ByteStream(self.body),
                              extensions=extensions, request=request)


@dataclass(eq=False)
class Slot:
    planned: Planned
    answer: Answer | None = None
    done: threading.Event = field(default_factory=threading.Event)
    dispatched: bool = False
    consumed: bool = False
    needs: str | None = None  # the binding whose id its path waits for (``planned`` is a stand-in until then)
    resolve: Callable[[str], Planned] | None = None  # its request, once that id is known
    binds: str | None = None  # the binding its answer sets (a chain's create: the id it answered)
    after: Slot | None = None  # its chain's previous step: it leaves once that one was answered
    taken: bool = False  # dropped from the plan before it left: the rest of its chain is dropped too
    own: bool = False  # claimed before it left: the test's thread sends it (``handle_request``)
    if_ok: bool = False  # it leaves only if ``after`` was answered 200; else it is dropped

    def ready(self) -> bool:
        return self.needs is None and (self.after is None or self.after.done.is_set())

    def dead(self) -> bool:
        """Its chain broke before it: a step was dropped, or answered 429 or not at all (its test sends that one
        again itself, and what follows it), or, for a step ``if_ok``, answered other than 200."""
        after = self.after
        if after is None:
            return False
        if after.taken:
            return True
        answer = after.answer
        if not after.done.is_set() or answer is None:
            return False
        return answer.error is not None or answer.status == 429 or (self.if_ok and answer.status != 200)


def _deleted(slot: Slot) -> bool:
    return slot.planned.method == "DELETE" and slot.answer is not None and slot.answer.status == 200


class Ahead(httpx.BaseTransport):
    """A transport that sends planned requests ahead of the tests, up to ``workers`` at a time, over ``inner``
    (which must be thread-safe: ``DeadlineTransport``'s pool is). ``build`` makes the wire request of a plan
    entry exactly as the suite's client would (its default headers merged)."""

    def __init__(self, inner: httpx.BaseTransport, workers: int, build: Callable[[Planned], httpx.Request],
                 *, max_body: int, wait_of: Callable[[dict[str, str]], float]) -> None:
        if workers < 2:
            raise ValueError(f"Ahead needs at least 2 workers, not {workers} (N = 1 sends in the test's thread)")
        self.inner, self.workers, self.build = inner, workers, build
        self.max_body = max_body
        self.wait_of = wait_of  # seconds a 429's headers ask to wait (the run's limits applied)
        self.charge: Callable[[Planned], bool] = lambda planned: True  # set by ``Api``: admit and count, or False
        self.id_of: Callable[[Answer], str | None] = lambda answer: None  # set by ``Api``: the id a create answered
        self._bound: dict[str, str | None] = {}  # ids named before they were known (``bind``); None: none came
        self._cond = threading.Condition()
        self._queue: deque[Slot] = deque()
        self._sent: dict[Key, deque[Slot]] = {}  # dispatched, not yet claimed
        self._open: list[Slot] = []  # creates dispatched whose answer no test has recorded yet (``release``)
        self._order = -1  # the test under way
        self._derailed: set[int] = set()  # tests that left their plan (``derail``)
        self._again: set[Key] = set()  # requests the test under way sends again itself (a 429, no answer)
        self._segment = -1
        self._resume_at = 0.0
        self._stopped = False
        self._charging = True  # False once a charge was refused: the rest goes one at a time
        self._flying: set[Slot] = set()  # dispatched ahead, not answered yet
        self.sent_ahead = 0  # requests dispatched ahead (figures for benchmarks)
        self.used = 0  # of those, claimed by a test
        self._threads = [threading.Thread(target=self._work, name=f"conformance-ahead-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    # --- the test's side (the main thread) ---------------------------------------------------------

    def plan(self, slots: Iterable[Slot]) -> None:
        """The run's plan, in its order (``Api.chain`` makes the slots of a test's chains)."""
        with self._cond:
            for slot in slots:
                self._queue.append(slot)
                self._resolve_known(slot)
            self._cond.notify_all()

    def bind(self, name: str, resource_id: str | None) -> None:
        """The id a plan entry ``on`` ``name`` acts on is now known (None: there is none; those entries are
        dropped, and their tests send what they still send themselves)."""
        with self._cond:
            self._bind(name, resource_id)

    def _bind(self, name: str, resource_id: str | None) -> None:
        self._bound[name] = resource_id
        for slot in [slot for slot in self._queue if slot.needs == name]:
            self._resolve(slot)
        self._cond.notify_all()

    def _resolve_known(self, slot: Slot) -> None:
        if slot.needs in self._bound:
            self._resolve(slot)

    def _resolve(self, slot: Slot) -> None:
        assert slot.needs is not None and slot.resolve is not None
        resource_id = self._bound[slot.needs]
        try:
            if resource_id is None:
                raise ValueError("no id")
            slot.planned = slot.resolve(resource_id)
            slot.needs = None
        except ValueError:  # no id came, or one no URL can carry: the test sends what it sends itself
            slot.taken = True
            self._queue.remove(slot)

    def reach(self, order: int, segment: int | None) -> None:
        """The test at ``order`` begins (``segment`` None: a test with no plan, a barrier): what earlier tests
        did not send is dropped from the plan; its segment's requests may leave. What earlier tests left in
        flight (a test that stopped at a failure) is answered first: the test sees the target as it would at
        N = 1, with no request of another test arriving while it reads what its own did."""
        with self._cond:
            self._order = order
            while self._queue and self._queue[0].planned.order < order:
                self._queue.popleft().taken = True
            while not self._stopped and any(slot.planned.order < order for slot in self._flying):
                self._cond.wait(0.5)
            if segment is not None:
                self._segment = max(self._segment, segment)
            self._cond.notify_all()

    @property
    def in_flight(self) -> int:
        """Requests sent ahead and not answered yet."""
        with self._cond:
            return len(self._flying)

    @property
    def place(self) -> tuple[int, int]:
        """The order and segment of the test under way (what it announces is planned there)."""
        with self._cond:
            return self._order, self._segment

    def announce_slots(self, slots: list[Slot]) -> None:
        """Chains the test under way is about to send (``Api.chains_ahead``): first in line."""
        with self._cond:
            self._first_in_line(slots)

    def announce(self, entries: Iterable[Planned]) -> None:
        """Requests the test under way is about to send, independent of each other: first in line."""
        with self._cond:
            self._first_in_line([Slot(Planned(p.method, p.path, p.url, p.headers, p.body, self._order, self._segment))
                                 for p in entries])

    def _first_in_line(self, slots: list[Slot]) -> None:
        if self._order in self._derailed:  # it sends all the rest itself
            return
        self._queue.extendleft(reversed(slots))
        for slot in slots:
            self._resolve_known(slot)
        self._cond.notify_all()

    def claim(self, key: Key) -> Slot | None:
        """The test under way sends ``key``: its slot sent ahead for it, or, when that has not left yet, the slot
        it is sent by now, in the test's thread (charged here). None when the test planned no such request (then
        it sends and charges it itself), or past the budget's edge (then the rest of its chain is dropped too).
        Only the test's own slots are claimed: several tests may send the same request (each modify test's
        create), and a chain's answers belong to its test."""
        with self._cond:
            if self._order in self._derailed:
                return None
            if key in self._again:
                self._again.discard(key)
                return None
            sent = self._sent.get(key)
            slot = next((slot for slot in sent if slot.planned.order == self._order), None) if sent else None
            if slot is not None:
                assert sent is not None
                sent.remove(slot)
                if not sent:
                    del self._sent[key]
                self.used += 1
                return slot
            slot = next((slot for slot in self._queue if slot.planned.order == self._order and slot.needs is None
                         and slot.planned.key == key), None)
            if slot is None:
                return None
            self._queue.remove(slot)
            if self._charging and slot.ready() and self.charge(slot.planned):
                slot.own = slot.dispatched = True
                if slot.planned.creates:
                    self._open.append(slot)
                self.used += 1
                return slot
            slot.taken = True
            self._cond.notify_all()
            return None

    def derail(self) -> None:
        """The test under way leaves its plan (it failed, and shrinks): what it planned and did not send is
        dropped, and it claims and announces nothing more. Its requests may repeat planned ones (each modify
        test's create) whose chains went on without it."""
        with self._cond:
            self._derailed.add(self._order)
            for slot in [slot for slot in self._queue if slot.planned.order == self._order]:
                slot.taken = True
                self._queue.remove(slot)
            self._cond.notify_all()

    def pause(self, seconds: float) -> None:
        """A 429: no request leaves for ``seconds``."""
        with self._cond:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    @property
    def lock(self) -> threading.Condition:
        """The lock of the queue, which ``Api`` takes for its budget too (one lock: no ordering to get wrong)."""
        return self._cond

    def pending_creates(self) -> int:
        """Creates sent ahead whose assistant may exist and no test has recorded yet: each needs a DELETE kept."""
        with self._cond:
            return sum(slot.answer is None or (slot.answer.error is None and 200 <= slot.answer.status < 300)
                       for slot in self._open)

    def release(self, slot: Slot | None) -> None:
        """The test has recorded what ``slot``'s answer created (``Api.send``): no longer pending."""
        if slot is not None and slot.planned.creates:
            with self._cond:
                if slot in self._open:
                    self._open.remove(slot)

    def settle(self) -> tuple[list[Answer], list[str]]:
        """Stop sending ahead; wait for what is in flight. For the cleanup: the answers to creates no test used,
        and the paths of DELETEs no test used that were answered 200 (what they deleted is not there to delete)."""
        with self._cond:
            self._queue.clear()
            self._charging = False
            while self._flying:
                self._cond.wait(0.5)
            left, self._open = self._open, []
            deleted = [slot.planned.path for slots in self._sent.values() for slot in slots if _deleted(slot)]
            self._sent.clear()
        return [slot.answer for slot in left if slot.answer is not None], deleted

    def restart(self) -> None:
        """Send ahead again (the cleanup's DELETEs, after ``settle``)."""
        with self._cond:
            self._charging = not self._stopped

    # --- the wire --------------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        slot = request.extensions.get(TICKET)
        if not isinstance(slot, Slot):
            return self.inner.handle_request(request)
        if slot.own:
            self._answered(slot, self._send(slot.planned))
        slot.done.wait()
        slot.consumed = True
        assert slot.answer is not None
        if slot.answer.status == 429 or slot.answer.error is not None:
            # its test sends this request again itself: a request of its plan that repeats it (another chain's
            # create) could otherwise be taken for the one it sends again
            with self._cond:
                self._again.add(slot.planned.key)
        return slot.answer.response(request)

    def _next(self) -> Slot | None:
        """The next slot to send, or None to end the worker (called holding the lock)."""
        while True:
            if self._stopped:
                return None
            wait = self._resume_at - time.monotonic()
            quiet = INTERRUPTS.pending or INTERRUPTS.unwinding or INTERRUPTS.abandon
            slot = self._first_ready() if self._charging and not quiet and wait <= 0 else None
            if slot is not None:
                if not self.charge(slot.planned):
                    self._charging = False  # the budget's edge: the tests send the rest themselves
                    continue
                self._queue.remove(slot)
                slot.dispatched = True
                self._flying.add(slot)
                self.sent_ahead += 1
                self._sent.setdefault(slot.planned.key, deque()).append(slot)
                if slot.planned.creates:
                    self._open.append(slot)
                return slot
            self._cond.wait(wait if wait > 0 else 0.5)

    def _first_ready(self) -> Slot | None:
        """In plan order, up to the segment under way, the first slot that may leave (its id known, its chain's
        previous step answered); the slots of a chain that was dropped are dropped on the way."""
        dead = []
        found = None
        for slot in self._queue:
            if slot.planned.segment > self._segment:
                break
            if slot.dead():
                dead.append(slot)
            elif slot.ready():
                found = slot
                break
        for slot in dead:
            slot.taken = True
            self._queue.remove(slot)
        return found

    def _work(self) -> None:
        while True:
            with self._cond:
                slot = self._next()
            if slot is None:
                return
            self._answered(slot, self._send(slot.planned))

    def _answered(self, slot: Slot, answer: Answer) -> None:
        with self._cond:
            slot.answer = answer
            self._flying.discard(slot)
            if answer.status == 429:
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in answer.headers}
                self._resume_at = max(self._resume_at, time.monotonic() + self.wait_of(headers))
            if slot.binds is not None:
                self._bind(slot.binds, self.id_of(answer))
            slot.done.set()
            self._cond.notify_all()

    def _send(self, planned: Planned) -> Answer:
        started = time.time()
        try:
            response = self.inner.handle_request(self.build(planned))
            try:
                data = bytearray()
                assert isinstance(response.stream, httpx.SyncByteStream)
                for chunk in response.stream:  # raw bytes, as the suite reads them; one byte past the cap shows it
                    data += chunk
                    if len(data) > self.max_body:
                        break
            finally:
                response.close()
        except Exception as exc:  # handed to the test, which judges it as it would have
            return Answer(error=exc, started=started, ended=time.time())
        extensions = {k: v for k, v in response.extensions.items() if k in ("http_version", "reason_phrase")}
        return Answer(response.status_code, list(response.headers.raw), bytes(data[:self.max_body + 1]), extensions,
                      None, started, time.time())

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=60)
        self.inner.close()
