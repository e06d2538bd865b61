"""Every use of Hypothesis's private internals, in one place, each with why it is needed.

The rest of the package uses Hypothesis's public API only (``given``, ``settings``, ``seed``, strategies,
``HealthCheck``, ``Phase``). What public API cannot do is here, so that a Hypothesis upgrade that moves or
changes an internal breaks one module, and ``tests/test_hypothesis_seam.py`` says which internal and how (it
checks each one exists and still does what is relied on, by drawing and observing). Checked against
Hypothesis 6.170.17 (``constraints.txt``).

The internals, and what each is for:

- ``hypothesis.internal.conjecture.providers._get_local_constants`` (a function of no argument returning a
  ``Constants``) and ``providers.CONSTANTS_CACHE`` (an ``LRUCache`` whose ``.cache`` is a dict):
  Hypothesis draws, about one value in 20, a literal found in the source of any "local" module imported (one
  outside site-packages and the standard library). The requests sent would then depend on which modules are
  loaded and what their strings say, not on the seed: see ``source_independent``. Replacing the function
  with one returning an empty ``Constants`` turns those literals off; the cache holds pools already built
  from them and must be emptied on the way in and out.
- ``hypothesis.internal.constants_ast.Constants``: the empty set of constants above (``Constants()``).
- ``hypothesis.configuration.set_hypothesis_home_dir`` (semi-public, not in the API docs): where Hypothesis
  keeps its files; the suite keeps no example database, but Hypothesis still caches Unicode tables there,
  by default ``./.hypothesis/`` in the user's working directory: see ``set_storage_home``.
- ``_hypothesis_internal_database_key``, an attribute Hypothesis reads on a ``@given`` test: without it,
  Hypothesis derives the test's database key from its source on every call (``inspect.getsource`` and
  tokenize, a few milliseconds, about a second of a default run), even with ``database=None`` where the key
  is never used: see ``skip_database_key``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["DATABASE_KEY_ATTRIBUTE", "set_storage_home", "skip_database_key", "source_independent"]

DATABASE_KEY_ATTRIBUTE = "_hypothesis_internal_database_key"


@contextmanager
def source_independent() -> Iterator[None]:
    """Generation that depends on the seed, schemas and settings only, not on which code is loaded.

    Hypothesis (6.170 here) also draws literals it finds in the source of every "local" module imported
    (one not in site-packages): any edited string in this package, or in a user's conftest, changed the
    requests sent for the same seed, and a replay run by plain pytest drew other values than the recording
    made by ``conformance run``, which imports other modules. Measured here (2026-11-25, Hypothesis
    6.170.17): five of 293 cassettes recorded with ``conformance run`` missed requests when replayed with
    ``pytest --pyargs``. Hypothesis's fixed built-in constants stay; only the local ones are left out.
    A Hypothesis without local constants (older) needs nothing: the context is then a no-op.
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants
    except ImportError:  # an older Hypothesis, without local constants
        yield
        return
    original: Callable[[], Any] | None = getattr(providers, "_get_local_constants", None)
    if original is None:
        yield
        return
    empty = Constants()
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE.cache.clear()  # pools already built from local constants
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()


def set_storage_home(directory: Path | None) -> None:
    """Where Hypothesis keeps its files (its Unicode tables; the suite has no example database). ``None``:
    Hypothesis's own choice again ($HYPOTHESIS_STORAGE_DIRECTORY, else ./.hypothesis)."""
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(directory)


def skip_database_key(test: Callable[..., Any]) -> None:
    """Give a ``@given`` test with ``database=None`` a database key beforehand, so Hypothesis does not derive
    one from the test's source on every call (an attribute Hypothesis ignored would only cost the time
    again, not change a result)."""
    setattr(test, DATABASE_KEY_ATTRIBUTE, None)
