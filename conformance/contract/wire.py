"""What goes on the wire for a request body: a JSON payload encoded one canonical way, or exact bytes.

Both generation (a probe's size is the size of its encoding) and the transport (what it sends) need this, so it
sits in the contract, below both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["RawBody", "encode"]


@dataclass(frozen=True)
class RawBody:
    """A request body sent as these exact bytes (not valid JSON, or not UTF-8)."""

    data: bytes


def encode(payload: Any) -> bytes:
    """The bytes sent for a payload: canonical compact JSON (non-finite numbers kept as NaN/Infinity)."""
    if isinstance(payload, RawBody):
        return payload.data
    return json.dumps(payload, ensure_ascii=False, allow_nan=True, separators=(",", ":")).encode("utf-8")
