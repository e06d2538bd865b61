"""The report writers: ``compliance.json`` (the matrix), ``compliance.md`` (a PR comment or CI job summary)
and ``compliance.html`` (one self-contained page for people), all rendered from the same report.

The pytest plugin calls ``write_reports`` at the end of a session, so ``pytest`` and ``conformance run``
write the same files. Everything a target sent is hostile input: it is escaped for the format it lands in,
control and bidirectional-override characters are made visible, and the API key is masked in every file.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from conformance.endpoints import RESOURCES, SUITES
from conformance.transport.secrets import mask, visible

__all__ = ["REPORT_FILES", "REPORT_VERSION", "headline", "outcome", "render_html", "render_markdown", "visible", "write_reports"]

REPORT_VERSION = 1
REPORT_FILES = ("compliance.json", "compliance.md", "compliance.html")
_ORDER = {"failed": 0, "not_exercised": 1, "passed": 2}
_MD_BUDGET = 60_000  # a GitHub PR comment holds 65,536 characters
_MD_BODY = 1_500
_SURROGATE = re.compile("[\ud800-\udfff]")
_MD_ESCAPES = {c: "\\" + c for c in "\\`*_[]~|"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def write_reports(report: dict[str, Any], directory: Path, secret: str | None = None) -> list[Path]:
    """Write the three files of ``REPORT_FILES`` into ``directory``; ``secret`` is masked in each."""
    directory.mkdir(parents=True, exist_ok=True)
    # A lone surrogate (an id a target sent as "\\ud800") has no UTF-8 form: it stays a JSON escape.
    text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}",
                          mask(json.dumps(standard(report), indent=2, ensure_ascii=False, allow_nan=False), secret))
    masked = json.loads(text)
    contents = {"compliance.json": text, "compliance.md": render_markdown(masked), "compliance.html": render_html(masked)}
    paths = []
    for name in REPORT_FILES:
        path = directory / name
        path.write_text(mask(contents[name], secret), encoding="utf-8")
        paths.append(path)
    return paths


def standard(value: Any) -> Any:
    """``value`` as standard JSON can hold it: a non-finite number (a probe's NaN or -Infinity that a lax target
    accepted, kept as evidence) becomes the string Python's JSON would have written, "NaN", "Infinity" or
    "-Infinity"; ``compliance.json`` used to hold the bare token, which strict parsers (jq, JavaScript's
    JSON.parse, Go) refuse. The request's exact bytes stay in ``request.body``."""
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(value, allow_nan=True)
    if isinstance(value, dict):
        return {key: standard(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [standard(item) for item in value]
    return value


def outcome(summary: dict[str, Any]) -> str:
    """``conforms``, ``failed``, ``incomplete`` or ``no_verdict`` (reports before these words: from ``conforms``)."""
    if "outcome" in summary:
        return str(summary["outcome"])
    return "conforms" if summary["conforms"] else "failed"


def headline(report: dict[str, Any]) -> str:
    """The first line of every report. 'N of M requirements conform' only for a run that finished, or found
    a failure; an incomplete run and a run with nothing to judge say so instead of a score."""
    summary = report["summary"]
    kind = outcome(summary)
    if kind == "no_verdict":
        return f"No verdict: {summary.get('no_verdict')}"
    reasons = "; ".join(summary.get("incomplete", []))
    if kind == "incomplete":
        return (f"Incomplete run, no verdict ({reasons}): {summary['passed']} requirements passed so far, none failed")
    line = f"{summary['passed']} of {summary['requirements']} requirements conform"
    return f"{line} (incomplete run: {reasons})" if kind == "failed" and reasons else line


def _details(report: dict[str, Any]) -> str:
    summary = report["summary"]
    parts = [f"{summary['failed']} failed", f"{summary['not_exercised']} not exercised"]
    if summary["target_errors"]:
        parts.append(f"{len(summary['target_errors'])} target errors")
    return ", ".join(parts)


def _rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Failed first, then not exercised, then passed; catalog order within each."""
    rows = list(report["requirements"])
    return sorted(rows, key=lambda r: _ORDER.get(r["verdict"], 3))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"…({len(text) - limit} more characters)"


def _body(body: str | None) -> str:
    """A body as text, pretty-printed when it is JSON."""
    if body is None:
        return "(no body)"
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False, allow_nan=True)
    except (ValueError, RecursionError):  # evidence is clipped: a deep answer's first 4,000 characters
        return body


def _headers(headers: dict[str, str]) -> str:
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def request_text(failure: dict[str, Any]) -> str:
    req = failure["request"]
    return f"{req['method']} {req['url']}\n{_headers(req['headers'])}\n\n{_body(req['body'])}"


def response_text(failure: dict[str, Any]) -> str:
    res = failure["response"]
    return f"HTTP {res['status']}\n{_headers(res['headers'])}\n\n{_body(res['body'])}"


def _run_line(report: dict[str, Any]) -> str:
    run = report.get("run", {})
    return (f"seed {run.get('seed')}, {run.get('max_examples')} examples per property, "
            f"{run.get('requests')} requests, schemas sha256 {str(run.get('schemas_sha256', ''))[:12]}")


# --- Markdown -------------------------------------------------------------------------------------


def _md(text: Any) -> str:
    """Text safe in a Markdown table cell: one line, no markup, no HTML."""
    flat = " ".join(visible(str(text)).split())
    return "".join(_MD_ESCAPES.get(c, c) for c in flat)


def _code(text: Any) -> str:
    """An inline code span that ``text`` cannot close (one line)."""
    flat = " ".join(visible(str(text)).split())
    longest = max((len(m) for m in re.findall(r"`+", flat)), default=0)
    ticks = "`" * (longest + 1)
    return f"{ticks} {flat} {ticks}" if longest else f"{ticks}{flat}{ticks}"


def _fence(text: str, lang: str = "") -> str:
    """A fenced block that ``text`` cannot close: the fence is longer than any backtick run in it."""
    text = visible(text)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def _md_failure(row: dict[str, Any]) -> str:
    failure = row["failure"]
    lines = [f"### {_md(row['id'])}: {_md(failure['title'])}", "", f"> {_md(row['doc'])}", "",
             f"{row.get('failures', 0)} of {row['examples']} examples failed; found by {_code(failure['test'])}.",
             "", "Expected:", _fence(_clip(failure["expected"], _MD_BODY)), "Received:",
             _fence(_clip(failure["received"], _MD_BODY))]
    if "curl" in failure:
        lines += ["", "Reproduce (the key is read from `$OPENAI_API_KEY`):", _fence(_clip(failure["curl"], _MD_BODY * 2), "sh"),
                  "", "<details><summary>request and response</summary>", "",
                  _fence(_clip(request_text(failure), _MD_BODY), "http"), "",
                  _fence(_clip(response_text(failure), _MD_BODY), "http"), "", "</details>"]
    return "\n".join(lines)


def scope(report: dict[str, Any]) -> str:
    """What the run tested: the operation of each selection it ran (``POST /v1/assistants`` for create), or the
    resource's path when it ran them all."""
    chosen = report.get("run", {}).get("endpoints") or list(SUITES)
    resource = RESOURCES[0]
    if set(chosen) >= set(SUITES):
        return f"{resource.op('create').label} and the rest of /v1/{resource.name}"
    return ", ".join(resource.op(name).label for name in SUITES if name in chosen)


def render_markdown(report: dict[str, Any]) -> str:
    """The report for a PR comment or a CI job summary: headline, table, then the failures with curl lines."""
    summary = report["summary"]
    mark = "✅" if summary["conforms"] else "❌"
    rows = _rows(report)
    out = [f"## {mark} {scope(report)}: {headline(report)}", "",
           f"{_details(report)}. Target {_code(report['target'])}; {_md(_run_line(report))}.", ""]
    for message in summary["target_errors"]:
        out += ["**Target error:**", _fence(_clip(message, _MD_BODY)), ""]
    out += ["| requirement | verdict | examples | documentation |", "| --- | --- | ---: | --- |"]
    icons = {"failed": "❌ failed", "passed": "✅ passed", "not_exercised": "⚪ not exercised"}
    for row in rows:
        examples = f"{row['examples']}" + (f" ({row.get('failures', 0)} failed)" if row["verdict"] == "failed" else "")
        out.append(f"| {_md(row['id'])} | {icons.get(row['verdict'], _md(row['verdict']))} | {examples} "
                   f"| {_md(row['doc'])} |")
    failed = [r for r in rows if r["verdict"] == "failed" and "failure" in r]
    if failed:
        out += ["", "## Failures", ""]
    size = sum(len(line) + 1 for line in out)
    for index, row in enumerate(failed):
        section = _md_failure(row)
        if size + len(section) > _MD_BUDGET:
            rest = ", ".join(_md(r["id"]) for r in failed[index:])
            out += ["", f"{len(failed) - index} more failures ({rest}): see compliance.html or compliance.json."]
            break
        out += [section, ""]
        size += len(section) + 1
    return "\n".join(out).rstrip() + "\n"


# --- HTML -----------------------------------------------------------------------------------------


def _h(text: Any) -> str:
    return html.escape(visible(str(text)), quote=True)


_CSS = """
:root{--fail:#b3261e;--fail-bg:#fdecea;--pass:#1e7b34;--pass-bg:#e8f5ec;--none:#5f6368;--none-bg:#eef0f2;--line:#d8dce0}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#fff}
header{padding:20px 28px 12px;border-bottom:1px solid var(--line)}
h1{font-size:20px;margin:0 0 6px}
.headline{font-size:26px;font-weight:700;margin:4px 0}
.headline.bad{color:var(--fail)} .headline.good{color:var(--pass)}
.meta{color:#57606a;margin:2px 0;font-size:13px}
.view{padding:12px 28px 28px}
.view>input{position:absolute;opacity:0;pointer-events:none}
.view>label{display:inline-block;padding:4px 12px;margin:0 6px 6px 0;border:1px solid var(--line);border-radius:16px;
 cursor:pointer;font-size:13px}
.view>input:checked+label{background:#1f2328;color:#fff;border-color:#1f2328}
.view>input:focus-visible+label{outline:2px solid #0969da}
main{padding-top:6px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid var(--line)}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#57606a}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,pre{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.badge.failed{background:var(--fail-bg);color:var(--fail)} .badge.passed{background:var(--pass-bg);color:var(--pass)}
.badge.not_exercised{background:var(--none-bg);color:var(--none)}
tr.failed>td:first-child{border-left:3px solid var(--fail)}
.places{color:#57606a;font-size:12px}
tr.evidence>td{background:#fafbfc;padding:8px 12px 14px}
.evidence h3{font-size:14px;margin:4px 0 8px}
.evidence h4{font-size:12px;margin:10px 0 4px;text-transform:uppercase;color:#57606a}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;border:1px solid var(--line);border-radius:6px;
 padding:8px;margin:0;max-height:22em;overflow:auto}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px}
@media (max-width:900px){.pair{grid-template-columns:1fr}}
.errors pre{border-color:var(--fail)}
#v-failed:checked~main tbody tr:not(.failed),#v-passed:checked~main tbody tr:not(.passed),
#v-not_exercised:checked~main tbody tr:not(.not_exercised){display:none}
"""


def _html_failure(row: dict[str, Any]) -> str:
    failure = row["failure"]
    parts = [f"<h3>{_h(failure['title'])}</h3>",
             f"<p class=\"meta\">{_h(row.get('failures', 0))} of {_h(row['examples'])} examples failed; "
             f"found by <code>{_h(failure['test'])}</code> (check <code>{_h(failure['check'])}</code>)</p>",
             "<div class=\"pair\">",
             f"<div><h4>Expected</h4><pre>{_h(failure['expected'])}</pre></div>",
             f"<div><h4>Received</h4><pre>{_h(failure['received'])}</pre></div>",
             "</div>"]
    if "curl" in failure:
        parts += ["<div class=\"pair\">",
                  f"<div><h4>Request</h4><pre class=\"request\">{_h(request_text(failure))}</pre></div>",
                  f"<div><h4>Response</h4><pre class=\"response\">{_h(response_text(failure))}</pre></div>",
                  "</div>",
                  "<h4>Reproduce (the key is read from $OPENAI_API_KEY)</h4>",
                  f"<pre class=\"curl\">{_h(failure['curl'])}</pre>"]
    return "".join(parts)


def _html_rows(rows: Iterable[dict[str, Any]]) -> Iterable[str]:
    for row in rows:
        verdict = row["verdict"] if row["verdict"] in _ORDER else "unknown"
        examples = f"{row['examples']}" + (f" ({row.get('failures', 0)} failed)" if verdict == "failed" else "")
        yield (f"<tr class=\"{verdict}\" id=\"{_h(row['id'])}\">"
               f"<td><code>{_h(row['id'])}</code><div class=\"places\">{_h(', '.join(row.get('places', [])))}</div></td>"
               f"<td><span class=\"badge {verdict}\">{_h(row['verdict'].replace('_', ' '))}</span></td>"
               f"<td class=\"num\">{_h(examples)}</td><td>{_h(row['doc'])}</td></tr>")
        if verdict == "failed" and "failure" in row:
            yield f"<tr class=\"failed evidence\"><td colspan=\"4\">{_html_failure(row)}</td></tr>"


def render_html(report: dict[str, Any]) -> str:
    """One self-contained page: no script, no network (a CSP forbids it), CSS-only filter by verdict."""
    summary = report["summary"]
    rows = _rows(report)
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in _ORDER}
    filters = [("all", f"All ({len(rows)})"), ("failed", f"Failed ({counts['failed']})"),
               ("not_exercised", f"Not exercised ({counts['not_exercised']})"), ("passed", f"Passed ({counts['passed']})")]
    radios = "".join(
        f"<input type=\"radio\" name=\"verdict\" id=\"v-{key}\"{' checked' if key == 'all' else ''}>"
        f"<label for=\"v-{key}\">{_h(text)}</label>"
        for key, text in filters
    )
    errors = "".join(f"<pre>{_h(message)}</pre>" for message in summary["target_errors"])
    title = f"{scope(report)} conformance: {headline(report)}"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
        f"<title>{_h(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{_h(scope(report))} conformance</h1>",
        f"<p class=\"headline {'good' if summary['conforms'] else 'bad'}\" id=\"headline\">{_h(headline(report))}</p>",
        f"<p class=\"meta\">{_h(_details(report))}</p>",
        f"<p class=\"meta\">target <code>{_h(report['target'])}</code> ({_h(report.get('run', {}).get('target_name', ''))}); "
        f"{_h(_run_line(report))}</p>",
        f"<div class=\"errors\"><h4>Target errors</h4>{errors}</div>" if errors else "",
        "</header>",
        f"<div class=\"view\">{radios}",
        "<main><table id=\"requirements\"><thead><tr><th>Requirement</th><th>Verdict</th><th>Examples</th>"
        "<th>Documentation</th></tr></thead><tbody>",
        *_html_rows(rows),
        "</tbody></table></main></div></body></html>\n",
    ])
