"""Print the requests a run sent, from its cassettes: one line per request, ``METHOD PATH sha256(body)``, sorted.

Two runs sent the same requests when their traces are equal, whatever the cassettes' file names or the order
the requests left in. Ids the target chose (in paths, and as cursors in a query) are written ``{id}``, since they
differ between runs.

    python scripts/request_trace.py cassettes/reference > before.txt
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import yaml

_ID = re.compile(r"(?<=[/=])(asst_[A-Za-z0-9_-]+|[0-9a-f]{8}-[0-9a-f-]{27})")  # in a path, or a query's cursor


def _body(raw: object) -> bytes:
    if raw is None:
        return b""
    if isinstance(raw, dict):
        raw = raw.get("string", b"")
    return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)  # type: ignore[arg-type]


def trace(folder: Path) -> Counter[str]:
    lines: Counter[str] = Counter()
    for path in sorted(folder.rglob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        for interaction in data.get("interactions", []):
            request = interaction["request"]
            url = urlsplit(request["uri"])
            where = _ID.sub("{id}", url.path + (f"?{url.query}" if url.query else ""))
            digest = hashlib.sha256(_body(request.get("body"))).hexdigest()[:16]
            lines[f"{request['method']} {where} {digest}"] += 1
    return lines


def main() -> int:
    for line, count in sorted(trace(Path(sys.argv[1])).items()):
        print(f"{count:4d} {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
