"""Client API objects read whatever the user's current namespace: the notebook's own runs and
the runs it shows belong to whoever made them (a teammate on a shared datastore, a scheduler),
and the user's ``metaflow.namespace(...)`` stays as it is."""

from __future__ import annotations

from typing import TypeVar

from metaflow.client.core import MetaflowObject

ClientObject = TypeVar("ClientObject", bound=MetaflowObject)


def in_any_namespace(kind: type[ClientObject], pathspec: str) -> ClientObject:
    """``kind(pathspec)`` (``Flow``, ``Run``, ``Step``, ``Task``) without Metaflow's namespace
    check; the objects it yields (a run's steps, a step's tasks) go unchecked too."""
    return kind(pathspec, _namespace_check=False)
