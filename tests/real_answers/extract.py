"""Rebuild the corpus of real answers from checked-out recordings (not run by the tests).

Usage: python tests/real_answers/extract.py tests/real_answers/sources.json ROOT
sources.json lists, per corpus file, the repository, the commit read, the recording format ("ruby-vcr",
"r-vcr", "vcrpy", "dotnet", "httptest") and the recordings' paths; each was copied out of the repository's
snapshot with `git show COMMIT:PATH > ROOT/DIR/PATH` (`ROOT/DIR/COMMIT/PATH` for a path read at another commit).
Only answers are kept: no request headers but OpenAI-Beta, no response headers but the Date (as the
recorded date where the recording has no date of its own). See README.md beside this file.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import sys
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

HERE = Path(__file__).parent
SMALL_BODY = 2000  # request bodies up to this many characters (as compact JSON) are kept whole

ASSISTANT_PATH = re.compile(r"^/v1/assistants(/asst_[A-Za-z0-9]+)?$")


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    pass


_Loader.add_constructor("!binary", lambda loader, node: base64.b64decode(loader.construct_scalar(node)))


def _header(headers: Any, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return str(value[0] if isinstance(value, list) else value)
    return None


def _text(body: Any, encoding: str | None) -> str:
    if isinstance(body, str) and encoding in {"gzip", "br"} and body[:2] == "\x1f\x8b":
        body = body.encode("latin-1")
    if isinstance(body, bytes):
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        return str(body.decode("utf-8", errors="replace"))
    return str(body or "")


def _iso(date: str | None) -> str | None:
    if not date:
        return None
    try:
        if re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT$", date):  # R vcr's recorded_at
            return date.replace(" GMT", "Z").replace(" ", "T")
        return parsedate_to_datetime(date).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        return None  # e.g. "Sanitized" in some .NET records


def _exchanges(path: Path, fmt: str) -> list[dict[str, Any]]:
    """Each recorded exchange as {method, url, beta, request_body, status, response_text, recorded_at}."""
    out = []
    if fmt == "httptest":  # R httptest: the file is the answer's body; the method is in the name (GET if none)
        method = path.stem.rsplit("-", 1)[-1] if path.stem.endswith(("-POST", "-DELETE")) else "GET"
        url = "https://" + str(path).split("tests/testthat/", 1)[1].rsplit(".json", 1)[0]
        url = re.sub(r"-[0-9a-f]{6}(-[A-Z]+)?$|-[A-Z]+$", "", url)
        return [{"method": method, "url": url, "beta": None, "request_body": None, "status": 200,
                 "response": json.loads(path.read_text(encoding="utf-8")), "recorded_at": None}]
    if fmt == "dotnet":
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        for entry in data.get("Entries", []):
            body = entry.get("ResponseBody")
            out.append({
                "method": entry["RequestMethod"], "url": entry["RequestUri"],
                "beta": _header(entry.get("RequestHeaders"), "OpenAI-Beta"),
                "request_body": entry.get("RequestBody"), "status": entry["StatusCode"],
                "response": body, "recorded_at": _iso(_header(entry.get("ResponseHeaders"), "Date")),
            })
        return out
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    for it in data.get("http_interactions") or data.get("interactions") or []:
        rq, rs = it["request"], it["response"]
        status = rs["status"].get("code", rs["status"].get("status_code"))
        text = _text((rs.get("body") or {}).get("string"), _header(rs.get("headers"), "content-encoding"))
        try:
            response: Any = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            response = {"_not_json": text[:200]}
        raw = rq.get("body")
        raw = raw.get("string") if isinstance(raw, dict) else raw
        raw = _text(raw, None)
        try:
            request_body: Any = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError:
            request_body = {"_not_json": raw[:200]}
        recorded = it.get("recorded_at")
        out.append({
            "method": rq["method"].upper(), "url": rq["uri"], "beta": _header(rq.get("headers"), "OpenAI-Beta"),
            "request_body": request_body, "status": int(status), "response": response,
            "recorded_at": _iso(recorded) if recorded else _iso(_header(rs.get("headers"), "date")),
        })
    return out


def _kind(method: str, path: str, status: int, response: Any) -> str | None:
    if status >= 400:
        is_envelope = isinstance(response, dict) and isinstance(response.get("error"), dict)
        fabricated = is_envelope and response["error"].get("type") == "test_error"
        return "error" if is_envelope and not fabricated else None
    match = ASSISTANT_PATH.match(path)
    if not match or status != 200:
        return None
    if match.group(1) is None:
        return {"POST": "create", "GET": "list"}.get(method)
    return {"GET": "retrieve", "POST": "modify", "DELETE": "delete"}.get(method)


def _era(beta: str | None, response: Any) -> str:
    objects = response.get("data", []) if isinstance(response, dict) and response.get("object") == "list" else [response]
    for obj in objects:
        if isinstance(obj, dict) and ("file_ids" in obj or any(
                isinstance(t, dict) and t.get("type") == "retrieval" for t in obj.get("tools") or [])):
            return "v1"
    if beta and "assistants=v1" in beta:
        return "v1"
    if beta and "assistants=v2" in beta:
        return "v2"
    return "none"


def extract(spec: dict[str, Any], base: Path) -> dict[str, Any]:
    root = base / spec["dir"]
    items: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    entries: list[Any] = []
    for entry in spec["paths"]:  # a string with "*" is a glob under the source's folder
        is_glob = isinstance(entry, str) and "*" in entry
        entries += sorted(str(p.relative_to(root)) for p in root.glob(entry)) if is_glob else [entry]
    for entry in entries:
        if isinstance(entry, str) and any(part in entry for part in spec.get("exclude", [])):
            continue
        rel, commit = (entry, None) if isinstance(entry, str) else (entry["path"], entry["commit"])
        fmt = spec["format"] if isinstance(entry, str) else entry.get("format", spec["format"])
        for index, ex in enumerate(_exchanges(root / (commit or "") / rel, fmt)):
            url = urlsplit(ex["url"])
            kind = _kind(ex["method"], url.path, ex["status"], ex["response"])
            if kind is None:
                continue
            name = f"{rel}#{index}"
            key = json.dumps([ex["method"], url.path, ex["status"], ex["response"]], sort_keys=True)
            if key in seen:  # the same answer copied into another recording: one item, every place named
                seen[key].setdefault("also_in", []).append(name)
                continue
            request: dict[str, Any] = {"method": ex["method"], "path": url.path + (f"?{url.query}" if url.query else "")}
            if ex["beta"]:
                request["openai_beta"] = ex["beta"]
            if ex["request_body"] is not None:
                size = len(json.dumps(ex["request_body"], separators=(",", ":")))
                if size <= SMALL_BODY:
                    request["body"] = ex["request_body"]
                else:
                    request["body_omitted"] = f"{size} characters of JSON"
            item = {"item": name, "source_path": rel, **({"commit": commit} if commit else {}),
                    "index": index, "recorded_at": ex["recorded_at"],
                    "kind": kind, "era": _era(ex["beta"], ex["response"]), "request": request,
                    "status": ex["status"], "response": ex["response"]}
            seen[key] = item
            items.append(item)
    keep = ("repository", "commit", "commit_date", "format", "paths", "exclude", "note")
    return {"source": {k: spec[k] for k in keep if k in spec},
            "items": items}


def main() -> None:
    specs = json.loads(Path(sys.argv[1]).read_text())
    for name, spec in specs.items():
        corpus = extract(spec, Path(sys.argv[2]))
        (HERE / f"{name}.json").write_text(json.dumps(corpus, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(name, len(corpus["items"]))


if __name__ == "__main__":
    main()
