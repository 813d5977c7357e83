"""Artifacts read without running the notebook's code: a task's artifact list
(:func:`task_artifacts`), what is stored of one (:func:`stored_artifact_facts`), plain values
unpickled with nothing but plain types allowed (:func:`plain_artifact_value`), and which
artifact could not be pickled when a task failed saving it (:func:`unpicklable_artifact`).
"""

from __future__ import annotations

import io
import pickle
import re
from dataclasses import dataclass
from typing import Any

from .backend import Backend


@dataclass(frozen=True)
class UnloadedArtifact:
    """An artifact left unloaded because its pickle is larger than a preview loads."""

    type_name: str | None
    size: int

    def __repr__(self) -> str:
        kind = (self.type_name or "").removeprefix("<class '").removesuffix("'>") or "value"
        return f"<{kind}, {self.size / 2**20:.1f} MB pickled: not loaded for this preview>"


def is_user_artifact(name: str) -> bool:
    """Whether a task's artifact is the flow's data rather than Metaflow's bookkeeping: names
    starting with ``_`` and ``name`` (the flow's name, which every task stores) are Metaflow's."""
    return not name.startswith("_") and name != "name"


def task_artifacts(
    backend: Backend, run_id: str, step: str, task_id: str, max_bytes: int | None = None
) -> dict[str, Any]:
    """A finished task's artifacts (not Metaflow's internal ones), from the datastore: also
    for the tasks of a debug run, which the Client cannot address. An artifact whose pickle
    (as recorded in the task's ``data.json``) is larger than ``max_bytes`` is not loaded: an
    :class:`UnloadedArtifact` stands for it."""
    ds = backend.flow_datastore.get_task_datastore(run_id, step, task_id, mode="r")
    out: dict[str, Any] = {}
    for name, _ in ds.items():
        if not is_user_artifact(name):
            continue
        info = ds._info.get(name) or {}
        size = info.get("size")
        if max_bytes is not None and isinstance(size, int) and size > max_bytes:
            out[name] = UnloadedArtifact(info.get("type"), size)
        else:
            out[name] = ds[name]
    return out


def client_task_datastore(artifact: Any) -> Any:
    """The task datastore behind a Client ``DataArtifact``, through the Client's own cache."""
    from metaflow.client import core
    from metaflow.client.filecache import FileCache

    if core.filecache is None:
        core.filecache = FileCache()
    cache = core.filecache
    obj = artifact._object
    flow, run, step, task, _name = artifact.path_components
    location = obj["location"]
    if location.startswith(":root:"):
        root = location[6:]
    else:
        root = cache._get_datastore_storage_impl(obj["ds_type"]).get_datastore_root_from_location(
            location, flow
        )
    return cache._get_task_datastore(obj["ds_type"], root, flow, run, step, task, artifact._attempt)


def stored_artifact_facts(artifact: Any) -> tuple[str | None, int | None]:
    """The type (``str(type(value))`` when it was saved) and pickled size Metaflow recorded
    for a Client ``DataArtifact`` in its task's ``data.json``, read without loading (so
    without unpickling) the value. ``(None, None)`` when the datastore does not record them."""
    info = client_task_datastore(artifact)._info.get(artifact.path_components[-1]) or {}
    size = info.get("size")
    return info.get("type"), size if isinstance(size, int) else None


class NotPlainData(Exception):
    """An artifact's pickle names something other than plain data; the message is its type."""


# What plain values pickle to besides opcodes: nothing here runs code of the datastore's
# choosing when it is called with the pickle's arguments.
_PLAIN_GLOBALS = frozenset(
    {
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("builtins", "bytearray"),
        ("collections", "OrderedDict"),
        ("datetime", "date"),
        ("datetime", "datetime"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("decimal", "Decimal"),
    }
)


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PLAIN_GLOBALS:
            return super().find_class(module, name)
        if (module, name) == ("__main__", "ForeachFrame"):
            # Metaflow pickles its foreach frames under __main__; the kernel's __main__ is
            # the user's namespace, so the class is taken from Metaflow itself
            from metaflow.tuple_util import ForeachFrame

            return ForeachFrame
        raise NotPlainData(f"{module}.{name}")


def plain_artifact_value(artifact: Any, max_bytes: int = 1 << 20) -> Any:
    """The value of a Client ``DataArtifact`` when its pickle holds only plain data (numbers,
    strings, containers, dates, Metaflow's foreach frames) and is at most ``max_bytes``:
    what the DAG panel shows of a run (parameters, switch choices, split inputs) without a
    click running code a datastore from elsewhere put in a pickle. Raises
    :class:`NotPlainData` (its message the recorded type) for anything else."""
    name = artifact.path_components[-1]
    ds = client_task_datastore(artifact)
    info = ds._info.get(name) or {}
    kind = str(info.get("type") or "value").removeprefix("<class '").removesuffix("'>")
    size = info.get("size")
    if "pickle" not in str(info.get("encoding", "gzip+pickle-v2")) or not isinstance(size, int):
        raise NotPlainData(kind)
    if size > max_bytes:
        raise NotPlainData(f"{kind} of {size / 2**20:.1f} MB")
    for loaded in ds._ca_store.load_blobs([ds._objects[name]]):
        try:
            return _PlainUnpickler(io.BytesIO(loaded[1])).load()
        except NotPlainData:
            raise NotPlainData(kind) from None
    raise NotPlainData(kind)


def unpicklable_artifact(exc: BaseException) -> tuple[str, BaseException] | None:
    """``(artifact name, pickle's own error)`` when ``exc`` is Metaflow's failure to pickle an
    artifact, else None."""
    from metaflow.datastore.exceptions import UnpicklableArtifactException

    if not isinstance(exc, UnpicklableArtifactException):
        return None
    match = re.search(r'named "([^"]+)"', str(exc))
    root: BaseException = exc
    while root.__cause__ is not None:
        root = root.__cause__
    return (match.group(1) if match else "?"), root
