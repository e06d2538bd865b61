"""Resource pools from a file (``--pools FILE``): the models, files and vector stores a target has.

The file is a JSON object; every key is optional::

    {"models": ["gpt-4o"], "file_ids": ["file-abc"], "vector_store_ids": ["vs_abc"],
     "unknown_model": "no-such-model", "no_files": false}

``file_ids``/``vector_store_ids`` given as ``[]`` mean the target has none (nothing is sent); left out,
synthetic IDs are drawn (fine for mocks). Options on the command line win over the file, key by key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["PoolsFileError", "read_pools"]

_LISTS = ("models", "file_ids", "vector_store_ids")


class PoolsFileError(Exception):
    """The pools file is missing, not JSON, or not of the documented shape."""


def read_pools(path: str | Path) -> dict[str, Any]:
    """The file's entries, checked: lists of non-empty strings, ``unknown_model`` a string, ``no_files`` a bool."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PoolsFileError(f"cannot read the pools file {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PoolsFileError(f"the pools file {path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PoolsFileError(f"the pools file {path} must hold a JSON object, e.g. {{\"models\": [\"gpt-4o\"]}}")
    unknown = sorted(set(data) - {*_LISTS, "unknown_model", "no_files"})
    if unknown:
        raise PoolsFileError(f"the pools file {path} has unknown keys {unknown}; "
                             f"known: {', '.join([*_LISTS, 'unknown_model', 'no_files'])}")
    for key in _LISTS:
        if key in data and not (isinstance(data[key], list) and all(isinstance(v, str) and v for v in data[key])):
            raise PoolsFileError(f"the pools file {path}: {key!r} must be a list of non-empty strings")
    if "models" in data and not data["models"]:
        raise PoolsFileError(f"the pools file {path}: 'models' must name at least one model")
    if "unknown_model" in data and not (isinstance(data["unknown_model"], str) and data["unknown_model"]):
        raise PoolsFileError(f"the pools file {path}: 'unknown_model' must be a non-empty string")
    if "no_files" in data and not isinstance(data["no_files"], bool):
        raise PoolsFileError(f"the pools file {path}: 'no_files' must be true or false")
    return data
