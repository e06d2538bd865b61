"""Wait until a server answers over HTTP, for the validate-*.sh scripts that start one.

Usage: python wait_for_http.py URL PID SECONDS. Exits 0 as soon as URL answers anything over HTTP (any status),
1 with a message if the process PID exits first or SECONDS pass without an answer.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request


def main(url: str, pid: int, limit: float) -> int:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            print(f"wait_for_http: the process {pid} exited before {url} answered", file=sys.stderr)
            return 1
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return 0
        except urllib.error.HTTPError:
            return 0  # an answer, whatever its status
        except OSError:
            time.sleep(0.5)
    print(f"wait_for_http: no answer from {url} within {limit:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
