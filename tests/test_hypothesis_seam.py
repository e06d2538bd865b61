"""What ``conformance.generate.hypothesis_seam`` relies on in Hypothesis's internals is still there and still
does what it did. A failure here after a Hypothesis upgrade names the internal that moved or changed:
update the seam (and only it), then this test.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import Phase, given, seed, settings
from hypothesis import strategies as st

from conformance.generate import hypothesis_seam
from conformance.generate.hypothesis_seam import set_storage_home, skip_database_key, source_independent

CANARY = "qzqzzqzqqzqzzqzqqz"  # a string no draw of the alphabet below makes by chance (2**-18)


@pytest.fixture
def local_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A "local" module (outside site-packages, not a test file) with CANARY in its source, imported."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "seam_canary.py").write_text(f"WORD = {CANARY!r}\n")
    monkeypatch.syspath_prepend(str(folder))
    importlib.import_module("seam_canary")
    yield
    sys.modules.pop("seam_canary", None)


def canaries_drawn() -> int:
    """How many of 600 draws of 18 letters from 'qz' are CANARY (about 30 while Hypothesis draws local
    literals, one in 20 strings; each beside a number, as Hypothesis runs an input it has seen only once)."""
    seen = []

    @seed(0)
    @settings(max_examples=600, database=None, deadline=None, phases=[Phase.generate])
    @given(st.integers(), st.text(alphabet="qz", min_size=len(CANARY), max_size=len(CANARY)))
    def draw(number: int, value: str) -> None:
        seen.append(value == CANARY)

    draw()
    return sum(seen)


def test_the_internals_are_where_the_seam_looks() -> None:
    from hypothesis.internal.conjecture import providers
    from hypothesis.internal.constants_ast import Constants

    assert callable(providers._get_local_constants)
    assert not inspect.signature(providers._get_local_constants).parameters
    assert isinstance(providers._get_local_constants(), Constants)
    assert hasattr(providers.CONSTANTS_CACHE, "cache") and callable(providers.CONSTANTS_CACHE.cache.clear)
    assert len(Constants()) == 0


def test_hypothesis_draws_local_literals_and_source_independent_stops_it(local_module: None) -> None:
    """Without the seam, a literal of a local module is drawn (so the seam is still needed); within it, never;
    after it, again (the original is put back)."""
    assert canaries_drawn() >= 5, "Hypothesis no longer draws local constants: source_independent may go"
    with source_independent():
        assert canaries_drawn() == 0
    assert canaries_drawn() >= 5


def test_set_storage_home_moves_hypothesis_storage(tmp_path: Path) -> None:
    from hypothesis import configuration

    before = vars(configuration).get("__hypothesis_home_directory")
    try:
        set_storage_home(tmp_path / "home")
        assert configuration.storage_directory("unicode_data", intent_to_write=False).path == tmp_path / "home" / \
            "unicode_data"
    finally:
        set_storage_home(before)


def test_a_database_key_given_beforehand_spares_the_source_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    import hypothesis.core

    assert hypothesis_seam.DATABASE_KEY_ATTRIBUTE in inspect.getsource(hypothesis.core)
    digests = []
    original = hypothesis.core.function_digest

    def counting(function: object) -> bytes:
        digests.append(function)
        return original(function)

    monkeypatch.setattr(hypothesis.core, "function_digest", counting)

    def make() -> object:
        # derandomize off as in the suite (which seeds every test): under CI=true, Hypothesis' "ci" profile
        # derandomizes, and derives the seed from the same digest
        @settings(max_examples=2, database=None, deadline=None, derandomize=False)
        @given(st.integers())
        def test(value: int) -> None:
            pass
        return test

    plain = make()
    plain()  # type: ignore[operator]
    assert digests, "Hypothesis no longer digests a test's source for its key: skip_database_key may go"
    digests.clear()
    keyed = make()
    skip_database_key(keyed)  # type: ignore[arg-type]
    keyed()  # type: ignore[operator]
    assert digests == []
