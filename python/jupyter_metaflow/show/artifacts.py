"""Loading artifact values through the Client API, with a small cache for paging.

Only the artifact asked for is loaded (``DataArtifact.data``). Frames are kept in a tiny
LRU cache (at most :data:`CACHED_FRAMES` frames and :data:`CACHED_FRAME_BYTES`) keyed by the
artifact's content hash, so the renderer's page requests and a
repeated ``%mf_show`` of the same frame do not unpickle it again.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from typing import Any

from .address import ShowError

CACHED_FRAMES = 2
"""How many loaded DataFrames/Series stay in memory for paging."""

CACHED_FRAME_BYTES = 256 * 1024 * 1024
"""Most memory the cached frames may hold together (their own memory, not the objects in
object columns); a larger frame is not kept, so the cache never pins gigabytes for the
kernel's life."""

_frames: OrderedDict[str, Any] = OrderedDict()
_sizes: dict[str, int] = {}
_lock = threading.Lock()
"""Page requests may be handled on a kernel subshell thread while a cell runs."""


def load(artifact: Any) -> Any:
    """The value of a ``DataArtifact``; frames come from (and go to) the paging cache.

    Raises :class:`ShowError` when the value cannot be unpickled here."""
    key = artifact.sha
    with _lock:
        if key in _frames:
            _frames.move_to_end(key)
            return _frames[key]
    try:
        value = artifact.data
    except Exception as exc:  # unpickling needs the value's classes importable here
        raise ShowError(
            f"cannot load {artifact.pathspec}: {type(exc).__name__}: {exc}. Loading an "
            "artifact unpickles it: the modules its classes come from must be importable in "
            "this kernel"
        ) from None
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, (pd.DataFrame, pd.Series)):
        held = _frame_bytes(value)
        if held <= CACHED_FRAME_BYTES:
            with _lock:
                _frames[key], _sizes[key] = value, held
                while len(_frames) > CACHED_FRAMES or sum(_sizes.values()) > CACHED_FRAME_BYTES:
                    old, _ = _frames.popitem(last=False)
                    _sizes.pop(old, None)
    return value


def _frame_bytes(frame: Any) -> int:
    usage = frame.memory_usage(index=True, deep=False)
    return int(usage.sum() if hasattr(usage, "sum") else usage)


def size(artifact: Any) -> int | None:
    """The stored (pickled) size of a ``DataArtifact`` in bytes, if the datastore knows it."""
    try:
        return int(artifact.size)
    except Exception:  # older datastores and remote ones may not report sizes
        return None


def clear() -> None:
    """Forget every cached frame."""
    with _lock:
        _frames.clear()
        _sizes.clear()
