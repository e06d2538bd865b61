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
- when a test sends a request (``Api.send``), it first ``claim``s it: sent ahead, the test gets that answer
  (waiting for it if it is in flight); not sent yet, it is taken out of the plan and the test sends it.

Sent ahead, a request is one the test would have sent next anyway, and only creates and refusals are (a
probe's create never touches another id; the reads and deletes announced are of ids no later test uses):
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
  back by ``settle``, and ``Api.cleanup`` deletes whatever it created; Ctrl-C stops all dispatching.

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

__all__ = ["TICKET", "Ahead", "Answer", "Planned", "Slot"]

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
        self._cond = threading.Condition()
        self._queue: deque[Slot] = deque()
        self._sent: dict[Key, deque[Slot]] = {}  # dispatched, not yet claimed
        self._open: list[Slot] = []  # creates dispatched whose answer no test has recorded yet (``release``)
        self._order = -1  # the test under way
        self._segment = -1
        self._resume_at = 0.0
        self._stopped = False
        self._charging = True  # False once a charge was refused: the rest goes one at a time
        self.in_flight = 0
        self.sent_ahead = 0  # requests dispatched ahead (figures for benchmarks)
        self.used = 0  # of those, claimed by a test
        self._threads = [threading.Thread(target=self._work, name=f"conformance-ahead-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    # --- the test's side (the main thread) ---------------------------------------------------------

    def plan(self, entries: Iterable[Planned]) -> None:
        with self._cond:
            self._queue.extend(Slot(p) for p in entries)
            self._cond.notify_all()

    def reach(self, order: int, segment: int | None) -> None:
        """The test at ``order`` begins (``segment`` None: a test with no plan, a barrier): what earlier tests
        did not send is dropped from the plan; its segment's requests may leave."""
        with self._cond:
            self._order = order
            while self._queue and self._queue[0].planned.order < order:
                self._queue.popleft()
            if segment is not None:
                self._segment = max(self._segment, segment)
            self._cond.notify_all()

    def announce(self, entries: Iterable[Planned]) -> None:
        """Requests the test under way is about to send, independent of each other: first in line."""
        with self._cond:
            slots = [Slot(Planned(p.method, p.path, p.url, p.headers, p.body, self._order, self._segment))
                     for p in entries]
            self._queue.extendleft(reversed(slots))
            self._cond.notify_all()

    def claim(self, key: Key) -> Slot | None:
        """The test sends ``key``: the slot sent ahead for it, or None (then it is no longer planned: the test
        sends and charges it itself)."""
        with self._cond:
            sent = self._sent.get(key)
            if sent:
                slot = sent.popleft()
                if not sent:
                    del self._sent[key]
                self.used += 1
                return slot
            for slot in self._queue:
                if slot.planned.key == key:
                    self._queue.remove(slot)
                    break
            return None

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

    def settle(self) -> list[Answer]:
        """Stop sending ahead; wait for what is in flight; the answers no test used (for the cleanup)."""
        with self._cond:
            self._queue.clear()
            self._charging = False
            while self.in_flight:
                self._cond.wait(0.5)
            left, self._open = self._open, []
            self._sent.clear()
        return [slot.answer for slot in left if slot.answer is not None]

    def restart(self) -> None:
        """Send ahead again (the cleanup's DELETEs, after ``settle``)."""
        with self._cond:
            self._charging = not self._stopped

    # --- the wire --------------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        slot = request.extensions.get(TICKET)
        if not isinstance(slot, Slot):
            return self.inner.handle_request(request)
        slot.done.wait()
        slot.consumed = True
        assert slot.answer is not None
        return slot.answer.response(request)

    def _next(self) -> Slot | None:
        """The next slot to send, or None to end the worker (called holding the lock)."""
        while True:
            if self._stopped:
                return None
            wait = self._resume_at - time.monotonic()
            head = self._queue[0] if self._queue else None
            quiet = INTERRUPTS.pending or INTERRUPTS.unwinding or INTERRUPTS.abandon
            if head is not None and self._charging and not quiet and wait <= 0 and \
                    head.planned.segment <= self._segment:
                self._queue.popleft()
                if not self.charge(head.planned):
                    self._charging = False  # the budget's edge: the tests send the rest themselves
                    self._queue.appendleft(head)
                    continue
                head.dispatched = True
                self.in_flight += 1
                self.sent_ahead += 1
                self._sent.setdefault(head.planned.key, deque()).append(head)
                if head.planned.creates:
                    self._open.append(head)
                return head
            self._cond.wait(wait if wait > 0 else 0.5)

    def _work(self) -> None:
        while True:
            with self._cond:
                slot = self._next()
            if slot is None:
                return
            answer = self._send(slot.planned)
            with self._cond:
                slot.answer = answer
                self.in_flight -= 1
                if answer.status == 429:
                    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in answer.headers}
                    self._resume_at = max(self._resume_at, time.monotonic() + self.wait_of(headers))
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
