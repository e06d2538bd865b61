"""Ctrl-C without leaks: an interrupt never lands between a create leaving and its id being recorded.

While installed (the plugin installs it for the run, in the main thread), SIGINT and SIGTERM raise
``KeyboardInterrupt`` as usual, except inside ``deferred()`` blocks, where the signal is held until the
block ends. ``Api.send`` wraps each request and the recording of the assistant it created in such a
block, so every assistant the target created is known and the cleanup at the end of the run deletes it.
A signal is also remembered until consumed: Python swallows an exception raised while a gc callback runs
(Hypothesis installs one), so ``check()`` raises it again before the next request.
During the cleanup (``cleaning()``), a first signal only says what is going on; a second abandons it.
Once an interrupt has been raised the run is unwinding (pytest reports it, then cleans up): a second signal
then never raises again (a ``KeyboardInterrupt`` landing in pytest's traceback formatting made a 198-line
``SystemError`` of it); it only says to abandon the cleanup, which then deletes nothing more.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from conformance.endpoints import RESOURCES

LABEL = RESOURCES[0].id_label  # what the resource's object is called

__all__ = ["INTERRUPTS", "CleanupAbandoned", "Interrupts"]

_SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


class CleanupAbandoned(KeyboardInterrupt):
    """A second interrupt: stop deleting what the run created, now."""


class Interrupts:
    def __init__(self) -> None:
        self.depth = 0
        self.pending = False
        self.cleaning_left: Callable[[], int] | None = None
        self.signals_in_cleanup = 0
        self.unwinding = False  # an interrupt was raised: the run is on its way out
        self.abandon = False  # interrupted again: the cleanup deletes nothing more
        self._previous: dict[int, Any] = {}

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    def install(self) -> None:
        if self.installed or threading.current_thread() is not threading.main_thread():
            return
        for sig in _SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
        self.depth, self.pending, self.unwinding, self.abandon = 0, False, False, False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.cleaning_left is not None:
            self.signals_in_cleanup += 1
            if self.signals_in_cleanup >= 2 or self.abandon:
                self.abandon = True
                raise CleanupAbandoned
            print(f"\nconformance: deleting the {self.cleaning_left()} {LABEL}(s) this run created; "
                  "interrupt again to abandon them", file=sys.stderr, flush=True)
            return
        if self.unwinding or self.pending:  # a second interrupt before the cleanup: it will abandon the cleanup
            self.abandon = True
            return
        self.pending = True  # kept until consumed: a raise that lands in a gc callback is swallowed
        if self.depth:
            return
        self._raise()

    def _raise(self) -> None:
        self.unwinding = True
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise the interrupt that came and was not consumed (``Api.send`` calls this before each request)."""
        if self.pending and self.cleaning_left is None:
            self.pending = False
            self._raise()

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold interrupts until the block ends (then raise the one that came)."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if not self.depth and self.pending and self.cleaning_left is None:
                self.pending = False
                self._raise()

    @contextmanager
    def cleaning(self, left: Callable[[], int]) -> Iterator[None]:
        """The run's cleanup: one interrupt is noted, the second raises ``CleanupAbandoned`` in the block (and
        sets ``abandon``, which the block checks between requests: a raise in a gc callback is swallowed)."""
        self.cleaning_left, self.pending = left, False
        self.signals_in_cleanup = 1 if self.unwinding else 0  # an interrupted run: the next interrupt abandons it
        if self.unwinding and not self.abandon and left():
            print(f"\nconformance: interrupted: deleting the {left()} {LABEL}(s) this run created; interrupt again "
                  "to abandon them", file=sys.stderr, flush=True)
        try:
            yield
        finally:
            self.cleaning_left = None


INTERRUPTS = Interrupts()
