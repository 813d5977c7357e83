"""Writes that go on in the background until a block ends, for the kernel's S3 storage and its
metadata service requests: a task's many small writes overlap its code instead of delaying it,
and the task is not reported finished before they all landed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from typing import Any


class Deferring:
    """:meth:`deferred`, a block (nestable) inside which the subclass puts its writes in the
    background (while :attr:`deferring`); when the outermost block exits, :meth:`settle`
    waits for them and raises the first failure."""

    _depth = 0

    @property
    def deferring(self) -> bool:
        return self._depth > 0

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth:
                self.settle()

    def settle(self) -> None:
        """Wait for the writes in the background; raise the first failure."""
        raise NotImplementedError


def wait_all(futures: Iterable[Future[Any]]) -> None:
    """Wait for every future, then raise the first one's failure, if any."""
    error: BaseException | None = None
    for future in futures:
        try:
            future.result()
        except BaseException as exc:  # a write failed: report the first
            error = error or exc
    if error is not None:
        raise error
