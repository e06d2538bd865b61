"""Servers that are broken on purpose, at the socket level: what uvicorn cannot be made to do.

Each fault is a coroutine that gets the parsed request and the raw writer, and answers as badly as it
likes (never, a byte at a time, half a body, an endless body, a lie in Content-Length, a compression
bomb). ``FaultServer`` serves one fault on a free loopback port from an asyncio loop in a background
thread, records every request it received (to prove what reached it, e.g. an Authorization header), and
with ``only_create`` answers everything but ``POST .../assistants`` like a sane server (404 with the error
envelope), so only the creates show the fault (the retrieves, deletes and cleanup do not).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["COSTLY", "FAULTS", "LEAKS", "FaultServer", "Request", "Run", "costly", "gzip_bomb", "leaky_api",
           "run_suite"]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Fault = Callable[["Request", asyncio.StreamWriter, "FaultServer"], Awaitable[bool]]
"""Answers one request; returns True to keep the connection open for the next one."""

FOREVER = 3600.0
_ENVELOPE = {"error": {"message": "no such assistant", "type": "invalid_request_error", "param": None, "code": None}}


def head(status: int, headers: dict[str, str]) -> bytes:
    reason = {200: "OK", 307: "Temporary Redirect", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
              500: "Internal Server Error"}.get(status, "Whatever")
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def respond(writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str = "application/json",
                  **extra: str) -> bool:
    headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **extra}
    writer.write(head(status, headers) + body)
    await writer.drain()
    return True


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


# --- the faults -------------------------------------------------------------------------------------


async def silent(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """Accepts the connection, reads the request, never answers."""
    await asyncio.sleep(FOREVER)
    return False


TRICKLE_FOR = 30.0
"""Seconds a trickle lasts before the server hangs up: far past any deadline a test sets, yet a client
without a deadline ends too, so a test of the deadline fails instead of hanging."""


async def _trickle(writer: asyncio.StreamWriter, data: bytes) -> bool:
    end = asyncio.get_running_loop().time() + TRICKLE_FOR
    for i in range(len(data)):
        if asyncio.get_running_loop().time() > end:
            break
        writer.write(data[i:i + 1])
        await writer.drain()
        await asyncio.sleep(0.05)
    return False


async def trickle_headers(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """Starts a status line and sends header bytes one every 50 ms, never finishing them."""
    return await _trickle(writer, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000)


async def trickle_body(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """Sends headers at once, then a 1 MB body one byte every 50 ms (14 hours, were it not cut off)."""
    size = 1_000_000
    writer.write(head(200, {"Content-Type": "application/json", "Content-Length": str(size)}))
    return await _trickle(writer, b"{" + b" " * (size - 1))


async def cut(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """Announces 1000 bytes, sends 40 of a JSON object, closes the connection."""
    writer.write(head(200, {"Content-Type": "application/json", "Content-Length": "1000"}) + b'{"id": "asst_1", "object": "assis')
    await writer.drain()
    return False


async def status_500(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """A server error, with a well-formed error envelope."""
    return await respond(writer, 500, _json({"error": {"message": "boom", "type": "server_error", "param": None,
                                                       "code": None}}))


async def html_200(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """200 with an HTML page instead of JSON."""
    return await respond(writer, 200, b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>",
                         "text/html; charset=utf-8")


async def text_400(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """Refuses with 400 and a plain-text body instead of the error envelope."""
    return await respond(writer, 400, b"Bad Request", "text/plain")


async def huge(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """200 announcing a 2 GiB JSON body, sent as fast as the client reads it."""
    size = 2 * 1024 ** 3
    writer.write(head(200, {"Content-Type": "application/json", "Content-Length": str(size)}) + b"[")
    chunk = b"0," * (512 * 1024)
    sent = 1
    while sent + len(chunk) < size:
        writer.write(chunk)
        await writer.drain()
        sent += len(chunk)
    return False


async def endless_chunked(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """200 with a chunked JSON body that never ends."""
    writer.write(head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}) + b"1\r\n[\r\n")
    chunk = b"0," * (256 * 1024)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    while True:
        writer.write(frame)
        await writer.drain()


_BAD_UTF8 = b'{"id": "asst_\xff\xfe", "object": "assistant", "message": "\xc3\x28"}'


async def invalid_utf8_200(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """200 application/json whose bytes are not UTF-8."""
    return await respond(writer, 200, _BAD_UTF8)


async def invalid_utf8_400(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """400 application/json whose bytes are not UTF-8."""
    return await respond(writer, 400, _BAD_UTF8)


async def length_too_long(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """Announces 1000 bytes, sends a complete 83-byte error envelope, keeps the connection open."""
    body = _json(_ENVELOPE)
    writer.write(head(400, {"Content-Type": "application/json", "Content-Length": "1000"}) + body)
    await writer.drain()
    await asyncio.sleep(FOREVER)
    return False


async def length_too_short(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """Announces 20 bytes and sends the whole envelope: the answer is cut, the rest pollutes the connection."""
    writer.write(head(400, {"Content-Type": "application/json", "Content-Length": "20"}) + _json(_ENVELOPE))
    await writer.drain()
    return True


async def redirect_loop(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """307 to the very URL that was asked."""
    return await respond(writer, 307, b"", "text/plain", Location=f"{server.url}{req.path}")


async def redirect_away(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """307 to the same path on another host (``server.redirect_to``), where a key would leak."""
    return await respond(writer, 307, b"", "text/plain", Location=f"{server.redirect_to}{req.path}")


@cache
def gzip_bomb(decoded: int = 1024 ** 3) -> bytes:
    """``decoded`` bytes of spaces, gzipped (1 GiB becomes about 1 MB).

    One 1 MiB block is deflated after a full flush (so its bytes do not depend on what came before) and
    repeated: the whole bomb is built in a fraction of a second instead of deflating a gigabyte.
    """
    block = b" " * (1024 * 1024)
    count = decoded // len(block)
    zipper = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = zipper.compress(block) + zipper.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + deflated * count + end + struct.pack("<II", crc, (count * len(block)) & 0xFFFFFFFF)


async def gzip_bomb_200(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """200 application/json, Content-Encoding gzip, 1 GiB of spaces once decoded."""
    return await respond(writer, 200, gzip_bomb(), **{"Content-Encoding": "gzip"})


async def gzip_broken(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """Claims gzip, sends a gzip stream with its middle cut out."""
    data = gzip.compress(_json(_ENVELOPE) * 50)
    return await respond(writer, 400, data[:20] + data[-20:], **{"Content-Encoding": "gzip"})


async def reflect_key(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """401 whose message, and a header, repeat the Authorization header it received."""
    seen = req.headers.get("authorization", "(none)")
    body = _json({"error": {"message": f"Incorrect API key provided: {seen}", "type": "invalid_request_error",
                            "param": None, "code": "invalid_api_key"}})
    return await respond(writer, 401, body, **{"X-Seen-Authorization": seen})


async def fine_then_silent(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    """Refuses the first ``server.budget`` creates properly (400, envelope), then never answers again."""
    if server.answered < server.budget:
        server.answered += 1
        return await respond(writer, 400, _json(_ENVELOPE))
    return await silent(req, writer, server)


# --- leaks: a small Assistants API whose answers carry the key, or ids a terminal must not take as they are ---


def _escaped(text: str, every: bool = False) -> str:
    """``text`` as JSON string content with its first (or every) character written as a \\u escape."""
    return "".join(f"\\u{ord(c):04x}" if every or i == 0 else c for i, c in enumerate(text))


def _leak_id(how: str, key: str, serial: int) -> str:
    """The raw JSON text (between the quotes) of the ``serial``-th id a leak server gives."""
    if how == "escaped-id":
        return f"asst_{_escaped(key)}_{serial}"  # json.loads gives back the plain key
    if how == "bidi-id":
        return f"asst_\\u202e\\u009b31m{serial}"
    if how == "control-id":
        return f"asst_\\u001b[31m\\r\\n{serial}"
    if how == "surrogate-id":
        return f"asst_\\ud800{serial}"
    return f"asst_leak{serial}"


def leaky_api(how: str) -> Fault:
    """An Assistants API that keeps a store, deletes what it is asked to, and leaks the key it is sent
    (``Authorization: Bearer KEY``) or hands out hostile ids, as ``how`` says:

    - ``escaped-id``: ids carry the key JSON-escaped (``asst_\\u0073k-...``); GET and DELETE answer 404;
    - ``reason``: every answer's reason phrase repeats the key (``200 OK sk-...``);
    - ``encoded``: the create answer's name, description and instructions carry the key \\u-escaped,
      base64-encoded and percent-encoded, and a header repeats it percent-encoded;
    - ``bidi-id``: ids with U+202E and U+009B (CSI); the GET of one breaks off, its DELETE answers 404;
    - ``control-id``: ids with ESC and CR LF, deleted like any other;
    - ``surrogate-id``: ids holding a lone surrogate (``\\ud800``), which no URL can carry.
    """

    async def fault(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
        key = req.headers.get("authorization", "").removeprefix("Bearer ")
        reason = f"OK {key}" if how == "reason" else "OK"
        if not key or key != server.key:
            return await respond(writer, 401, _json({"error": {"message": "bad key", "type": "invalid_request_error",
                                                               "param": None, "code": "invalid_api_key"}}))
        path = req.path.split("?")[0]
        if req.method == "POST" and path.endswith("/assistants"):
            try:
                sent = json.loads(req.body)
            except ValueError:
                sent = None
            if not isinstance(sent, dict) or not isinstance(sent.get("model"), str):
                return await respond(writer, 400, _json(_ENVELOPE))
            server.answered += 1
            raw_id = _leak_id(how, key, server.answered)
            server.store.add(json.loads(f'"{raw_id}"'))
            answer = {"id": "@@ID@@", "object": "assistant", "created_at": int(time.time()), "name": None,
                      "description": None, "model": sent["model"], "instructions": None, "tools": [], "metadata": {},
                      "top_p": 1.0, "temperature": 1.0, "response_format": "auto", "tool_resources": {}}
            answer.update({k: v for k, v in sent.items() if k in answer and k != "id"})
            extra: dict[str, str] = {}
            if how == "encoded":
                import base64
                from urllib.parse import quote

                answer.update(name="@@NAME@@", description="b64:" + base64.b64encode(b"x" + key.encode()).decode(),
                              instructions="pct:" + quote(key, safe=""))
                extra["X-Echo"] = quote(key, safe="")
            body = _json(answer).replace(b'"@@ID@@"', f'"{raw_id}"'.encode())
            body = body.replace(b'"@@NAME@@"', f'"{_escaped(key, every=True)}"'.encode())
            writer.write(_head(200, reason, {"Content-Type": "application/json", "Content-Length": str(len(body)),
                                             **extra}) + body)
            await writer.drain()
            return True
        from urllib.parse import unquote

        wanted = unquote(path.rpartition("/assistants/")[2], errors="surrogateescape")
        if how == "bidi-id" and req.method == "GET":
            return False  # hang up: a target error whose message holds the URL, and so the id
        if how in ("escaped-id", "bidi-id") or wanted not in server.store:
            body = _json(_ENVELOPE)
            writer.write(_head(404, "Not Found", {"Content-Type": "application/json", "Content-Length": str(len(body))})
                         + body)
            await writer.drain()
            return True
        if req.method == "DELETE":
            server.store.discard(wanted)
            body = _json({"id": wanted, "object": "assistant.deleted", "deleted": True})
        else:
            body = _json({"id": wanted, "object": "assistant", "created_at": int(time.time()), "model": "gpt-4o"})
        writer.write(_head(200, reason, {"Content-Type": "application/json", "Content-Length": str(len(body))}) + body)
        await writer.drain()
        return True

    fault.__name__ = f"leak_{how}"
    return fault


def _head(status: int, reason: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


# --- answers too costly to judge -----------------------------------------------------------------------


def _costly_body(kind: str) -> tuple[int, bytes]:
    mib = 1024 * 1024
    answer = {"id": "asst_costly", "object": "assistant", "created_at": int(time.time()), "name": None,
              "description": None, "model": "gpt-4o", "instructions": None, "tools": [], "metadata": {},
              "top_p": 1.0, "temperature": 1.0, "response_format": "auto", "tool_resources": {}}
    if kind == "tools-zeros":  # 0.25 MiB: 131,072 tools, each the number 0
        return 200, _json(answer).replace(b'"tools": []', b'"tools": [' + b",".join([b"0"] * (mib // 8)) + b"]")
    if kind == "nested-name":  # 7.9 MiB: "name": [[],[],...], 2.6 million empty arrays
        inner = b",".join([b"[]"] * int(7.9 * mib / 3))
        return 200, _json(answer).replace(b'"name": null', b'"name": [' + inner + b"]")
    if kind == "long-string":  # 7.9 MiB: "name": "xxxx..."
        return 200, _json(answer).replace(b'"name": null', b'"name": "' + b"x" * int(7.9 * mib) + b'"')
    depth = 100_000  # deep-200, deep-400: 100,000 nested '['
    return int(kind.rpartition("-")[2]), b"[" * depth + b"]" * depth


def costly(kind: str) -> Fault:
    """Answers every create with an answer whose checks used to cost minutes or end the run: ``tools-zeros``,
    ``nested-name``, ``long-string`` (200), ``deep-200`` and ``deep-400`` (100,000 nested arrays)."""
    status, body = _costly_body(kind)

    async def fault(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
        return await respond(writer, status, body)

    fault.__name__ = f"costly_{kind}"
    return fault


COSTLY = ("tools-zeros", "nested-name", "long-string", "deep-200", "deep-400")


LEAKS = ("escaped-id", "reason", "encoded", "bidi-id", "control-id", "surrogate-id")


FAULTS: dict[str, Fault] = {
    fn.__name__.replace("_", "-"): fn
    for fn in (silent, trickle_headers, trickle_body, cut, status_500, html_200, text_400, huge, endless_chunked,
               invalid_utf8_200, invalid_utf8_400, length_too_long, length_too_short, redirect_loop, redirect_away,
               gzip_bomb_200, gzip_broken, reflect_key, fine_then_silent)
}


# --- the server ---------------------------------------------------------------------------------------


@dataclass
class FaultServer:
    """``with FaultServer(fault) as server:`` serves ``fault`` at ``server.base_url`` (``http://HOST:PORT/v1``)."""

    fault: Fault
    only_create: bool = False
    host: str = "127.0.0.1"
    redirect_to: str = ""
    budget: int = 0
    answered: int = 0
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    key: str = ""  # the API key the leak servers accept (and leak)
    store: set[str] = field(default_factory=set)  # the ids a leak server created and has not deleted

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-server", daemon=True)
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._connection, self.host, 0), self._loop)
        self._server = future.result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            while True:
                request = await self._read(reader)
                if request is None:
                    break
                self.requests.append(request)
                fault = self.fault
                if self.only_create and not (request.method == "POST" and request.path.endswith("/assistants")):
                    fault = _not_found
                if not await fault(request, writer, self):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away, which is what a client should do with these answers
        except asyncio.CancelledError:
            pass  # the server is stopping
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Request | None:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = raw.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Request(method, path, headers, body)


async def _not_found(req: Request, writer: asyncio.StreamWriter, server: FaultServer) -> bool:
    return await respond(writer, 404, _json(_ENVELOPE))


# --- running the suite against them ---------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One ``conformance`` process: its exit code, output, wall time and peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float
    report_dir: Path | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def report(self) -> dict[str, Any]:
        assert self.report_dir is not None
        return json.loads((self.report_dir / "compliance.json").read_text(encoding="utf-8"))

    def verdicts(self) -> dict[str, str]:
        return {row["id"]: row["verdict"] for row in self.report["requirements"]}

    def failed(self) -> set[str]:
        return {rid for rid, verdict in self.verdicts().items() if verdict == "failed"}

    def evidence(self) -> str:
        """What an assertion message shows: the exit code, time, memory and the end of the output."""
        return (f"exit {self.returncode} after {self.seconds:.1f} s, peak RSS {self.peak_mb:.0f} MB\n"
                f"--- stdout (end)\n{self.stdout[-2500:]}\n--- stderr (end)\n{self.stderr[-1500:]}")


def run_suite(*args: str, cwd: Path, hard_limit: float = 300, env: dict[str, str] | None = None) -> Run:
    """``conformance ARGS`` in a child process; its own peak RSS comes from ``wait4``'s resource usage.

    ``hard_limit`` only keeps a broken suite from hanging the project's tests: the bounds the tests
    assert are much tighter and derived from ``--timeout``.
    """
    report_dir = Path(args[args.index("--report-dir") + 1]) if "--report-dir" in args else None
    out_path, err_path = cwd / "stdout.txt", cwd / "stderr.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "conformance", *args], stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, cwd=cwd, env={**os.environ, **(env or {})})
        hwm = 0.0
        while True:
            hwm = max(hwm, _vm_hwm(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > hard_limit:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    # Linux carries the parent's peak into a child's ru_maxrss across fork and exec: a test process that holds
    # big answers to serve would be charged to the suite. The child's own high-water mark (VmHWM, polled while
    # it runs) is not; ru_maxrss is the fallback where /proc is not there.
    peak = hwm or usage.ru_maxrss / 1024
    return Run(proc.returncode, out_path.read_text(errors="replace"), err_path.read_text(errors="replace"),
               seconds, peak, report_dir)


def _vm_hwm(pid: int) -> float:
    """A process's peak resident memory so far, in MB (0 if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0
