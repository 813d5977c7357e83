"""One flow's Metaflow objects and the runs made with them.

:class:`Backend` holds the environment, metadata provider and flow datastore of one flow;
:func:`new_run`, :func:`persist_parameters` and :func:`clone_task` do what ``NativeRuntime``
and ``resume`` do, minus the subprocesses. Runs made in a kernel carry
:data:`NOTEBOOK_SYS_TAG`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from metaflow import FlowSpec, decorators, parameters
from metaflow.clone_util import clone_task_helper
from metaflow.datastore import FlowDataStore
from metaflow.flowspec import FlowStateItems
from metaflow.metadata_provider import MetaDatum
from metaflow.metaflow_environment import MetaflowEnvironment
from metaflow.plugins import LOGGING_SIDECARS, MONITOR_SIDECARS
from metaflow.plugins.datastores.s3_storage import S3Storage
from metaflow.system import _system_logger, _system_monitor
from metaflow.util import write_latest_run_id

from .client import in_any_namespace
from .datastore import (
    KernelContentAddressedStore,
    KernelFlowDataStore,
    MemoryBlobCache,
    kernel_storage_impl,
)
from .deferral import Deferring
from .flowclass import fresh_subclass, quiet_echo
from .metadata import kernel_metadata
from .storage import Storage

NOTEBOOK_SYS_TAG = "jupyter-metaflow:notebook"
"""System tag on every run this package creates; re-attach looks for it."""


DEBUG_SYS_TAG = "jupyter-metaflow:debug-split"
"""System tag of the ``%mf_split`` debug runs earlier versions registered (today's are not
registered at all): such runs are never the notebook's current run."""


class Backend:
    """Environment, metadata provider and flow datastore for one flow name and :class:`Storage`.

    One provider serves every run of the session: ``LocalMetadataProvider`` numbers tasks per
    instance, so :meth:`attach` advances its counter past the ids already in a run (the
    metadata service numbers them itself).
    """

    def __init__(self, flow_cls: type[FlowSpec], storage: Storage) -> None:
        flow = flow_cls(use_cli=False)
        self.flow_name: str = flow.name
        self.storage = storage
        self.datastore_root = storage.root
        self.environment = MetaflowEnvironment(flow)
        self.event_logger = LOGGING_SIDECARS["nullSidecarLogger"](flow=flow, env=self.environment)
        self.monitor = MONITOR_SIDECARS["nullSidecarMonitor"](flow=flow, env=self.environment)
        self.metadata = kernel_metadata(storage.metadata_provider)(
            self.environment, flow, self.event_logger, self.monitor
        )
        self._sticky = (set(self.metadata.sticky_tags), set(self.metadata.sticky_sys_tags))
        remote = storage.datastore_impl is S3Storage
        self.flow_datastore = (KernelFlowDataStore if remote else FlowDataStore)(
            self.flow_name,
            self.environment,
            self.metadata,
            self.event_logger,
            self.monitor,
            storage_impl=kernel_storage_impl(storage.datastore_impl),
            ds_root=storage.root,
        )
        store = self.flow_datastore.ca_store
        self.flow_datastore.ca_store = KernelContentAddressedStore(
            store._prefix, store._storage_impl
        )
        self.blob_cache = MemoryBlobCache() if remote else None
        self.flow_datastore.ca_store.set_blob_cache(self.blob_cache)

    @contextlib.contextmanager
    def deferred_writes(self) -> Iterator[None]:
        """Datastore writes and metadata-service requests made inside go on concurrently
        (:class:`_KernelS3Storage`, :class:`_KernelServiceRequests`); every one is done, or
        the first failure raised, when it exits."""
        with contextlib.ExitStack() as stack:
            for part in (self.flow_datastore._storage_impl, self.metadata):
                if isinstance(part, Deferring):
                    stack.enter_context(part.deferred())
            yield

    def attach(self, run_id: str) -> None:
        """Make new task ids in ``run_id`` follow the ids already there (kernel restart)."""
        existing = [int(t) for t in run_task_ids(self, run_id) if t.isdigit()]
        if existing and hasattr(self.metadata, "_task_id_seq"):
            self.metadata._task_id_seq = max(self.metadata._task_id_seq, max(existing))

    def new_task_id(self, run_id: str, step: str) -> str:
        """Allocate a task id in ``run_id`` (and register it)."""
        return self.metadata.new_task_id(run_id, step)

    @property
    def claims_task_ids(self) -> bool:
        """Whether :meth:`claim_task_id` leaves nothing in the run for a task that never
        starts (the local provider; the metadata service registers ids as it hands them out)."""
        return getattr(self.metadata, "TYPE", None) == "local"

    def claim_task_id(self, run_id: str, step: str) -> tuple[str, bool]:
        """A task id in ``run_id`` for a task a worker process runs, as Metaflow's runtime
        allocates one before it launches a task elsewhere; and whether it is registered
        already (a local id is registered by the task, see :func:`.tasks.run_task`'s
        ``claimed``)."""
        return self.metadata.claim_task_id(run_id, step)

    def contest_marker(self, run_id: str, task_id: str) -> str | None:
        """A folder path whose creation decides which of two processes runs a claimed task
        (:func:`.workers.claim_once`); None without local claims."""
        folder = self.metadata.claim_folder(run_id, task_id)
        return None if folder is None else os.path.join(folder, "taken")

    def reset_sticky_tags(self) -> None:
        """Drop the tags flow decorators made sticky for an earlier task or run (a task
        process starts with a fresh provider; ours serves the session, and a changed
        ``@project(name=...)`` would otherwise tag later runs with both projects)."""
        self.metadata.sticky_tags, self.metadata.sticky_sys_tags = (set(t) for t in self._sticky)

    def install_globals(self) -> None:
        """The system logger/monitor a task reports to (restored by :func:`metaflow_state`)."""
        _system_logger.init_system_logger(self.flow_name, self.event_logger)
        _system_monitor.init_system_monitor(self.flow_name, self.monitor)
        parameters.set_parameter_context(self.flow_name, quiet_echo, self.flow_datastore, {})


def run_task_ids(backend: Backend, run_id: str) -> list[str]:
    """Every task id in a run (all steps, ``_parameters`` included), from the metadata files."""
    from metaflow.client import Run

    run = in_any_namespace(Run, f"{backend.flow_name}/{run_id}")
    ids = [task.id for step in run for task in step]
    params = backend.flow_datastore.get_task_datastores(
        run_id=run_id, steps=["_parameters"], allow_not_done=True
    )
    ids.extend(ds.task_id for ds in params)
    return ids


def parameters_task_id(backend: Backend, run_id: str) -> str | None:
    """The id of the run's finished ``_parameters`` task in the datastore (None: it has none,
    the run is not one this datastore holds whole)."""
    done = backend.flow_datastore.get_task_datastores(run_id=run_id, steps=["_parameters"])
    return done[0].task_id if done else None


def new_run(
    backend: Backend, flow_cls: type[FlowSpec], notebook_tag: str | None, debug: bool = False
) -> str:
    """A new run id registered with the user's system tags, those of the flow's decorators,
    plus the notebook marker; it becomes the flow's ``latest_run`` for ``resume``.

    A ``debug`` run (``%mf_split``) is not registered at all, as Metaflow's ``spin`` records
    no metadata: its tasks' data go to the datastore, but no run object exists, so the
    Client (``Flow(...).latest_run``, ``Flow(...).runs()``) and ``resume`` never see it. Read
    its tasks with :func:`task_artifacts`."""
    backend.reset_sticky_tags()
    if debug:
        return str(int(time.time() * 1e6))  # the local provider's id scheme, nothing written
    sys_tags = (
        [NOTEBOOK_SYS_TAG]
        + ([notebook_tag] if notebook_tag else [])
        + _flow_sys_tags(backend, flow_cls)
    )
    run_id = backend.metadata.new_run_id(sys_tags=sys_tags)
    write_latest_run_id(_LatestRunObj(backend), run_id)
    return run_id


def _flow_sys_tags(backend: Backend, flow_cls: type[FlowSpec]) -> list[str]:
    """System tags the flow's decorators add (``@project``: ``project:NAME``,
    ``project_branch:BRANCH``); Metaflow's CLI adds them before it registers a run."""
    if not flow_cls._flow_state[FlowStateItems.FLOW_DECORATORS]:
        return []
    flow = fresh_subclass(flow_cls)(use_cli=False)
    probe = backend.storage.metadata_provider(
        backend.environment, flow, backend.event_logger, backend.monitor
    )
    before = set(probe.sticky_sys_tags)
    with parameters.flow_context(flow_cls):  # config_expr(...) arguments resolve against it
        decorators._init_flow_decorators(
            flow,
            flow._graph,
            backend.environment,
            backend.flow_datastore,
            probe,
            quiet_echo,
            quiet_echo,
            {},
        )
    return sorted(probe.sticky_sys_tags - before)


@dataclass
class _LatestRunObj:
    """The ``obj`` shape ``write_latest_run_id`` reads (``obj.echo``, ``obj.flow.name``)."""

    backend: Backend

    @property
    def flow(self) -> Any:
        return type("F", (), {"name": self.backend.flow_name})

    echo = staticmethod(quiet_echo)


def persist_parameters(
    backend: Backend,
    flow_cls: type[FlowSpec],
    run_id: str,
    values: dict[str, Any],
    configs: dict[str, Any] | None = None,
) -> str:
    """The run's ``_parameters`` task, as ``NativeRuntime.persist_constants`` writes it."""
    flow: Any = fresh_subclass(flow_cls)(use_cli=False)
    flow._set_constants(flow._graph, values, configs or {})
    task_id = backend.metadata.new_task_id(run_id, "_parameters")
    ds = backend.flow_datastore.get_task_datastore(
        run_id, "_parameters", task_id, attempt=0, mode="w"
    )
    ds.init_task()
    flow._task_ok = flow._success = True
    flow._foreach_stack = []
    ds.persist(flow)
    ds.done()
    graph = flow._graph
    backend.metadata.register_metadata(
        run_id,
        "_parameters",
        task_id,
        [
            MetaDatum(field="start_step", value=graph.start_step, type="graph_structure", tags=[]),
            MetaDatum(field="end_step", value=graph.end_step, type="graph_structure", tags=[]),
        ],
    )
    return task_id


def clone_task(backend: Backend, origin_run: str, step: str, origin_task: str, run_id: str) -> str:
    """Copy a finished task into ``run_id`` the way ``resume`` does (metadata only)."""
    task_id = backend.metadata.new_task_id(run_id, step)
    clone_task_helper(
        backend.flow_name,
        origin_run,
        run_id,
        step,
        origin_task,
        task_id,
        backend.flow_datastore,
        backend.metadata,
    )
    return task_id
