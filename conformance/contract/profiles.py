"""Profiles: which contract the suite holds a target to, each a set of the four schemas.

``2024-05-13`` (the default) is the endpoint's documentation of May 2024, in ``schemas/``; ``latest``
follows today's spec, in ``schemas/latest/``, which shares every unchanged node with the default set by
``$ref``. The differences are listed in ``schemas/README.md``.
"""

from __future__ import annotations

from pathlib import Path

from conformance.contract.schemas import Schemas, load_schemas, schema_dir

__all__ = ["DEFAULT_PROFILE", "PROFILES", "load_profile", "profile_dir"]

DEFAULT_PROFILE = "2024-05-13"
PROFILES = (DEFAULT_PROFILE, "latest")


def profile_dir(name: str) -> Path:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    root = schema_dir()
    return root if name == DEFAULT_PROFILE else root / name


def load_profile(name: str = DEFAULT_PROFILE) -> Schemas:
    """The schemas of a profile (cached, like ``load_schemas``)."""
    return load_schemas(str(profile_dir(name))) if name != DEFAULT_PROFILE else load_schemas()
