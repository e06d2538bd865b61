"""``--concurrency N``: the same requests and verdicts as one at a time, within the budget, through 429s,
with nothing left behind; counted on the server's side (``conformance serve --inspect``)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.transport.concurrency import MADE, Ahead, Planned, Slot, Step
from tests.test_realworld import _interrupt_mid_run

from .serving import KEY, report, run, serve, verdicts

FAST = ("--max-examples", "3")
# What differs between runs by design: the 429s a rate limit happens to give, and the retries they cost.
TIMING = ("rate_limited_retries", "requests")


def _comparable(data: dict[str, Any], *drop: str) -> dict[str, Any]:
    data = dict(data)
    data["run"] = {k: v for k, v in data["run"].items() if k not in drop}
    return data


def _run(server: Any, directory: Path, *args: str) -> Any:
    return run("--target", server.base, "--api-key", KEY, "--report-dir", str(directory), *FAST, *args)


def test_n_1_and_n_8_give_the_same_report_for_the_same_seed(tmp_path: Path) -> None:
    with serve() as server:
        one = _run(server, tmp_path / "1", "--seed", "3")
        sent_one = server.inspect()["requests"]
        eight = _run(server, tmp_path / "8", "--seed", "3", "--concurrency", "8")
        seen = server.inspect()
    assert one.returncode == eight.returncode == 0, eight.stdout[-2000:]
    assert report(tmp_path / "1") == report(tmp_path / "8")  # compliance.json holds no timing field
    assert seen["requests"] - sent_one == sent_one  # the same requests: none sent ahead went unused
    assert seen["assistants"] == []


@pytest.mark.parametrize(("name", "requirement", "selection"), [
    ("name-max-257", "REQ-NAME-MAXLEN", ()),
    # modify's chains sent ahead (create, then each modify and its GET) run past a test that stops at its first
    # failure; and refused modifies, sent ahead to one shared assistant, change it on this server
    ("modify-resets-unsent", "MODIFY-KEEPS", ("--endpoint", "modify")),
    ("modify-applies-before-validating", "MODIFY-REFUSED-NO-EFFECT", ("--endpoint", "modify")),
])
def test_n_8_finds_the_same_failures_as_n_1(name: str, requirement: str, selection: tuple[str, ...],
                                            tmp_path: Path) -> None:
    """Against a broken server (failures stop probe tests early; shrinking): the same verdicts."""
    with serve("--catalog") as server:
        base = server.root + f"/broken/{name}/v1"
        common = ("--target", base, "--api-key", KEY, *FAST, *selection)
        one = run(*common, "--report-dir", str(tmp_path / "1"))
        eight = run(*common, "--report-dir", str(tmp_path / "8"), "--concurrency", "8")
        seen = server.inspect()
    assert one.returncode == eight.returncode == 1, eight.stdout[-2000:]
    assert verdicts(tmp_path / "1") == verdicts(tmp_path / "8")
    assert verdicts(tmp_path / "8")[requirement] == "failed"
    assert all(ids == [] for ids in seen["mounted"].values())  # answers sent ahead and unused: deleted too


def test_a_conforming_variant_with_state_passes_two_runs_side_by_side_at_n_8(tmp_path: Path) -> None:
    """The catalog's SQLite variant answers requests that arrive together as the reference does (its create once
    inserted again rows a list had loaded: a 500, a false HTTP-NO-5XX, seen when the whole catalog ran at N = 1
    and N = 8 at once)."""
    with serve("--catalog") as server:
        common = ("--target", server.root + "/variant/store-in-sqlite/v1", "--api-key", KEY, *FAST,
                  "--endpoint", "modify", "--endpoint", "list", "--concurrency", "8")
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda d: run(*common, "--report-dir", str(tmp_path / d)), ("a", "b")))
    for result, directory in zip(runs, ("a", "b"), strict=True):
        assert result.returncode == 0, result.stdout[-3000:]
        seen = verdicts(tmp_path / directory)
        assert seen["MODIFY-KEEPS"] == seen["HTTP-NO-5XX"] == "passed"


@pytest.mark.parametrize("budget", [9, 150])
def test_the_budget_is_never_exceeded_and_cuts_where_n_1_cuts(budget: int, tmp_path: Path) -> None:
    with serve() as server:
        _run(server, tmp_path / "1", "--max-requests", str(budget))
        before = server.inspect()["requests"]
        result = _run(server, tmp_path / "8", "--max-requests", str(budget), "--concurrency", "8")
        seen = server.inspect()
    assert result.returncode == 3, result.stdout[-2000:]
    assert 0 < seen["requests"] - before <= budget
    assert report(tmp_path / "8")["run"]["requests"] == seen["requests"] - before
    assert seen["assistants"] == []  # the cleanup fitted in the budget
    assert verdicts(tmp_path / "1") == verdicts(tmp_path / "8")


def test_429s_slow_every_sender_and_leave_the_verdicts_alone(tmp_path: Path) -> None:
    with serve() as server:
        _run(server, tmp_path / "1")
    with serve("--throttle", "9", "--throttle-wait", "0.05", "--throttle-header", "retry-after-ms") as server:
        # every 9th request is refused, whoever sends it: with 8 in flight a request's retries can meet it again
        # (1 in 9 each); 10 retries make a run that gives up on one as good as impossible
        result = _run(server, tmp_path / "8", "--concurrency", "8", "--max-retries", "10")
        seen = server.inspect()
    assert result.returncode == 0, result.stdout[-2000:]
    assert seen["throttled"] >= 10
    assert report(tmp_path / "8")["run"]["rate_limited_retries"] == seen["throttled"]
    one, eight = report(tmp_path / "1"), report(tmp_path / "8")
    for data in (one, eight):
        data.pop("target")
        data["run"].pop("target_name")
    assert _comparable(one, *TIMING) == _comparable(eight, *TIMING)
    assert seen["assistants"] == []


def test_cleanup_deletes_everything_when_x_cuts_the_run(tmp_path: Path) -> None:
    """-x stops at the first failure, with creates sent ahead that no test used: they are deleted too."""
    with serve("--catalog", "--latency", "0.02") as server:
        result = run("--target", server.root + "/broken/name-max-257/v1", "--api-key", KEY, "--report-dir",
                     str(tmp_path), *FAST, "--concurrency", "8", "--", "-x")
        seen = server.inspect()
    assert result.returncode == 1, result.stdout[-2000:]
    assert all(ids == [] for ids in seen["mounted"].values()), seen["mounted"]
    assert report(tmp_path)["run"]["cleanup_failed"] == []


def test_an_interrupted_run_at_n_8_deletes_every_assistant_it_created(tmp_path: Path) -> None:
    _interrupt_mid_run(("--latency", "0.05"), ("--concurrency", "8", "--max-examples", "5"), tmp_path)


def test_a_request_claimed_gets_the_answer_sent_ahead_with_its_times() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(201, json={"path": request.url.path})

    def build(planned: Planned) -> httpx.Request:
        return httpx.Request(planned.method, planned.url, content=planned.body, headers=dict(planned.headers))

    ahead = Ahead(httpx.MockTransport(answer), 4, build, max_body=1024, wait_of=lambda headers: 0.0)
    charged: list[str] = []
    ahead.charge = lambda planned: charged.append(planned.path) is None and len(charged) <= 3  # a budget of 3
    plan = [Planned("GET", f"/x/{i}", f"http://t.invalid/x/{i}", (), None, order=i, segment=1) for i in range(5)]
    ahead.plan(Slot(p) for p in plan)
    ahead.reach(0, 1)
    deadline = time.monotonic() + 10
    while ahead.sent_ahead < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    slot = ahead.claim(plan[0].key)
    assert slot is not None
    slot.done.wait(5)
    request = build(plan[0])
    request.extensions = {"conformance.ahead": slot}
    response = ahead.handle_request(request)
    assert response.read() and response.json() == {"path": "/x/0"}
    started, ended = response.extensions["conformance.times"]
    assert started <= ended
    assert ahead.claim(plan[4].key) is None  # past the budget: never sent ahead, the test sends it itself
    ahead.close()
    assert sorted(seen) == ["/x/0", "/x/1", "/x/2"]


def test_cassettes_recorded_at_n_8_replay_with_the_same_verdicts(tmp_path: Path) -> None:
    """Answers sent ahead are recorded as usual (with the times they were sent): a replay sends nothing and
    judges them the same."""
    cassettes = tmp_path / "cassettes"
    recorded = run("--record-mode", "all", "--cassette-dir", str(cassettes), "--report-dir", str(tmp_path / "rec"),
                   *FAST, "--concurrency", "8")
    replayed = run("--replay", str(cassettes), "--report-dir", str(tmp_path / "rep"), *FAST)
    assert recorded.returncode == replayed.returncode == 0, replayed.stdout[-2000:]
    assert verdicts(tmp_path / "rec") == verdicts(tmp_path / "rep")
    assert len(list(cassettes.rglob("*.yaml"))) > 300  # a cassette per test


def _answer(status: int, headers: dict[str, str] | None = None, *, body: Any) -> httpx.Response:
    """An answer whose body is still to be read (as a server's is: the suite streams it)."""
    return httpx.Response(status, headers={"content-type": "application/json", **(headers or {})},
                          stream=httpx.ByteStream(json.dumps(body).encode()))


class _Store:
    """A transport that creates, modifies, reads and deletes assistants, and logs what it was sent, in the
    order it handled it (a write is handled after a short wait, so that a step sent too early shows)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.made = 0
        self.throttled = 0  # creates to answer 429 first
        self.log: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if method != "GET":
            time.sleep(0.05)
        with self.lock:
            self.log.append(f"{method} {path} {request.content.decode()}".strip())
            if method == "POST" and path == "/v1/assistants" and self.throttled:
                self.throttled -= 1
                return _answer(429, headers={"retry-after-ms": "10"}, body={"error": {"message": "slow down"}})
            if method == "POST" and path == "/v1/assistants":
                made = {"id": f"asst_{self.made}", **json.loads(request.content)}
                self.items[made["id"]] = made
                self.made += 1
                return _answer(200, body=made)
            item = self.items.get(path.rsplit("/", 1)[-1])
            if item is None:
                return _answer(404, body={"error": {"message": "no such assistant"}})
            if method == "DELETE":
                del self.items[item["id"]]
                return _answer(200, body={"id": item["id"], "deleted": True})
            if method == "POST":
                item.update(json.loads(request.content))
            return _answer(200, body=item)


def _api(store: _Store, workers: int = 4) -> Any:
    from conformance.transport.client import Api, Target

    def build(planned: Planned) -> httpx.Request:
        return client.build_request(planned.method, planned.url, content=planned.body, headers=dict(planned.headers))

    ahead = Ahead(httpx.MockTransport(store), workers, build, max_body=1 << 20, wait_of=lambda headers: 0.0)
    client = httpx.Client(transport=ahead)  # the Api's requests go through the senders, as a run's do
    api = Api(client, Target("http://t.invalid/v1", "k", 5.0))
    api.attach(ahead)
    return api, ahead


def _sent(store: _Store, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(store.log) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_chain_leaves_step_by_step_on_the_id_its_create_answered() -> None:
    store = _Store()
    api, ahead = _api(store)

    def chain(name: str) -> tuple[Step, ...]:
        return (Step("create", {"name": "a"}), Step("modify", {"name": name}, on=MADE), Step("retrieve", on=MADE),
                Step("delete", on=MADE), Step("retrieve", on=MADE, if_ok=True))

    # two tests whose creates are the same request
    ahead.plan([*api.chain(chain("b"), 0, 0), *api.chain(chain("c"), 1, 0)])
    ahead.reach(0, 0)
    _sent(store, 10)
    ahead.reach(1, 0)
    got = api.create({"name": "a"})
    mine = got.received.json_or_none()["id"]
    assert api.modify(mine, {"name": "c"}).received.json_or_none() == {"id": mine, "name": "c"}
    assert api.retrieve(mine).received.json_or_none() == {"id": mine, "name": "c"}
    assert api.delete(mine).received.status == 200
    assert api.retrieve(mine).received.status == 404
    ahead.close()
    # each test got its own chain's answers (the test at order 1 the second chain's), each chain in its order
    assert store.log.count('POST /v1/assistants {"name":"a"}') == 2 and len(store.log) == 10
    for made in ("asst_0", "asst_1"):
        steps = [line for line in store.log if made in line]
        name = "c" if made == mine else "b"
        assert steps == [f'POST /v1/assistants/{made} {{"name":"{name}"}}', f"GET /v1/assistants/{made}",
                         f"DELETE /v1/assistants/{made}", f"GET /v1/assistants/{made}"]
    assert ahead.used == 5  # every request of the test was its own chain's, sent ahead


def test_a_step_on_a_bound_id_waits_for_it_and_is_dropped_without_one() -> None:
    store = _Store()
    api, ahead = _api(store)
    waiting = [*api.chain((Step("retrieve", on="target"),), 0, 0), *api.chain((Step("delete", on="other"),), 0, 0)]
    after = api.chain((Step("create", {"name": "x"}), Step("delete", on=MADE), Step("retrieve", on=MADE, if_ok=True)), 0, 0)
    ahead.plan([*waiting, *after])
    ahead.reach(0, 0)
    _sent(store, 3)
    time.sleep(0.2)
    # the chain after them went; nothing named an id yet, and the GET after a DELETE answered 404 stays
    assert store.log == ['POST /v1/assistants {"name":"x"}', "DELETE /v1/assistants/asst_0",
                         "GET /v1/assistants/asst_0"]
    api.bind("target", "asst_0")  # deleted: 404, and what depends on it here is nothing
    api.bind("other", None)
    _sent(store, 4)
    time.sleep(0.1)
    ahead.close()
    assert store.log[3:] == ["GET /v1/assistants/asst_0"]  # the step on "other" never left


def test_a_step_after_a_refused_one_is_dropped_when_it_waits_for_a_200() -> None:
    store = _Store()
    api, ahead = _api(store)
    ahead.plan(api.chain((Step("retrieve", on="gone"), Step("delete", on="gone", if_ok=True),
                          Step("retrieve", on="gone")), 0, 0))
    api.bind("gone", "asst_9")
    ahead.reach(0, 0)
    _sent(store, 1)
    time.sleep(0.2)
    ahead.close()
    assert store.log == ["GET /v1/assistants/asst_9"]  # a 404: the DELETE, and what follows it, stay unsent


def test_what_a_chain_deleted_ahead_is_not_cleaned_up_again() -> None:
    """A test that stopped before its chains: their creates are deleted at the end, unless the chain's own
    DELETE already did it (a second DELETE would get a 404, which the cleanup judges as a lost assistant)."""
    store = _Store()
    api, ahead = _api(store)
    ahead.plan([*api.chain((Step("create", {"name": "seen"}), Step("delete", on=MADE)), 0, 0),
                *api.chain((Step("create", {"name": "gone"}), Step("delete", on=MADE)), 0, 0),
                *api.chain((Step("create", {"name": "kept"}),), 0, 0)])
    ahead.reach(0, 0)
    assert api.create({"name": "seen"}).received.status == 200  # the test saw this create, then stopped
    _sent(store, 5)
    failed, answers = api.cleanup()
    ahead.close()
    assert failed == [] and [ex.received.status for _, ex in answers] == [200]  # only "kept" was left
    assert store.items == {} and store.log.count("DELETE /v1/assistants/asst_2") <= 1


def test_a_test_begins_once_what_earlier_tests_left_in_flight_was_answered() -> None:
    """A test that stopped early leaves its chain's next step in flight; the next test reads the target only
    once that step was answered, as at N = 1 no request of another test arrives while it runs."""
    store = _Store()
    api, ahead = _api(store)
    ahead.plan(api.chain((Step("create", {"name": "left"}), Step("delete", on=MADE)), 0, 0))
    ahead.reach(0, 0)
    made = api.create({"name": "left"}).received.json_or_none()["id"]  # then the test stops: no DELETE of its own
    deadline = time.monotonic() + 10
    while ahead.in_flight == 0:  # the DELETE has left (a write takes the store 0.05 s)
        assert time.monotonic() < deadline
        time.sleep(0.001)
    ahead.reach(1, None)
    got = api.retrieve(made)
    ahead.close()
    assert store.log == ['POST /v1/assistants {"name":"left"}', f"DELETE /v1/assistants/{made}",
                         f"GET /v1/assistants/{made}"]
    assert got.received.status == 404


def test_a_request_that_got_a_429_is_sent_again_by_its_test() -> None:
    """Two chains of one test start with the same create; the first got a 429. The test sends that create
    again itself (a new assistant), not taking the other chain's, whose modify went ahead on it."""
    store = _Store()
    store.throttled = 1
    api, ahead = _api(store)

    def chain(name: str) -> tuple[Step, ...]:
        return (Step("create", {"name": "a"}), Step("modify", {"name": name}, on=MADE), Step("retrieve", on=MADE))

    ahead.plan(api.chain(chain("b1"), 0, 0))
    ahead.reach(0, 0)
    _sent(store, 1)  # the 429
    time.sleep(0.1)
    ahead.announce_slots(api.chain(chain("b2"), 0, 0))
    _sent(store, 4)  # the second chain, whole
    time.sleep(0.1)
    made = api.create({"name": "a"}).received.json_or_none()["id"]
    assert api.modify(made, {"name": "b1"}).received.status == 200
    assert api.retrieve(made).received.json_or_none() == {"id": made, "name": "b1"}
    ahead.close()
    assert api.rate_limited == 1 and made not in "".join(store.log[:4])
