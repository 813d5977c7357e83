"""Every call into Metaflow's private internals, in one place (metaflow>=2.19,<2.20).

The notebook session (``session.py``) runs steps in the kernel process the way Metaflow's
own ``step`` command does: ``MetaflowTask.run_step`` against the datastore and metadata
provider ``python flow.py run`` would use (:func:`resolve_storage`). This module wraps the
private pieces that needs:

* :class:`Storage`, :func:`resolve_storage` -- where runs live, chosen as Metaflow's CLI does;
* :class:`Backend` -- environment, metadata provider and flow datastore of one flow;
* :func:`new_run`, :func:`persist_parameters`, :func:`clone_task`, :func:`run_task` --
  what ``NativeRuntime`` and ``resume`` do, minus the subprocesses;
* :func:`parameter_values` -- magic-line ``--param value`` options parsed by the same click
  options ``python flow.py run`` builds;
* :func:`metaflow_state` -- saves and restores Metaflow's process-global state around each
  operation so the kernel stays usable for ordinary code.

Nothing here knows about cells or notebooks.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from metaflow import FlowSpec, decorators, parameters
from metaflow._vendor import click
from metaflow.clone_util import clone_task_helper
from metaflow.datastore import FlowDataStore
from metaflow.datastore.content_addressed_store import BlobCache, ContentAddressedStore
from metaflow.datastore.exceptions import DataException
from metaflow.datastore.task_datastore import TaskDataStore
from metaflow.flowspec import FlowStateItems
from metaflow.lint import LintWarn, linter
from metaflow.metadata_provider import MetaDatum
from metaflow.metaflow_current import Current, current
from metaflow.metaflow_environment import MetaflowEnvironment
from metaflow.mflog import TASK_LOG_SOURCE
from metaflow.mflog.mflog import decorate
from metaflow.plugins import DATASTORES, LOGGING_SIDECARS, METADATA_PROVIDERS, MONITOR_SIDECARS
from metaflow.plugins.datastores.local_storage import LocalStorage
from metaflow.plugins.datastores.s3_storage import S3Storage
from metaflow.system import _system_logger, _system_monitor
from metaflow.system_context import system_context
from metaflow.task import MetaflowTask
from metaflow.util import write_latest_run_id

__all__ = [
    "Backend",
    "LintWarn",
    "MetaflowCommandFailed",
    "NotPlainData",
    "Storage",
    "StorageError",
    "TaskOutcome",
    "TaskState",
    "airflow_create",
    "clone_task",
    "config_options",
    "config_parameter_names",
    "create_options",
    "decorated_flow_class",
    "decorator_attribute",
    "deploy",
    "flow_decorator_names",
    "flowspec_attribute_names",
    "forget_datastore_root",
    "kernel_runner",
    "lint",
    "metaflow_state",
    "new_run",
    "parameter_values",
    "persist_parameters",
    "plain_artifact_value",
    "prepare_flow_class",
    "read_task_state",
    "resolve_storage",
    "run_task",
    "run_task_ids",
    "storage_problem",
    "stored_artifact_facts",
    "task_outcome",
    "unpicklable_artifact",
    "unreachable_storage",
]

NOTEBOOK_SYS_TAG = "jupyter-metaflow:notebook"
"""System tag on every run this package creates; re-attach looks for it."""
DEBUG_SYS_TAG = "jupyter-metaflow:debug-split"
"""System tag of the ``%mf_split`` debug runs earlier versions registered (today's are not
registered at all): such runs are never the notebook's current run."""


def _quiet_echo(*_args: Any, **_kwargs: Any) -> None:
    """Metaflow's ``echo`` for messages we do not show (datastore creation notes)."""


def flowspec_attribute_names() -> frozenset[str]:
    """Public names ``FlowSpec`` itself defines; a step may not assign them as artifacts."""
    return frozenset(n for n in dir(FlowSpec) if not n.startswith("_")) | {"name"}


def decorated_flow_class(
    flow_cls: type[FlowSpec], flow_decorators: Sequence[Any]
) -> type[FlowSpec]:
    """``flow_cls`` with the flow cell's decorators applied, bottom one first, as a class
    statement applies them; a bare ``@MyFlowMutator`` leaves the mutator object, whose
    ``_flow_cls`` is the class (Metaflow's CLI unwraps it the same way)."""
    from metaflow.user_decorators.user_flow_decorator import FlowMutator

    decorated: Any = flow_cls
    for deco in reversed(flow_decorators):
        decorated = deco(decorated)
    if isinstance(decorated, FlowMutator):
        decorated = decorated._flow_cls
    return decorated


def prepare_flow_class(
    flow_cls: type[FlowSpec], configs: dict[str, Any] | None = None
) -> type[FlowSpec]:
    """Resolve the class's Parameters (``Parameter.init``) and ``Config`` values once, as
    ``cli.start`` does; returns the class to use (a new one when flow mutators ran)."""
    with parameters.flow_context(flow_cls):  # config_expr(...) defaults resolve against it
        prepared = flow_cls._process_config_decorators(configs or {}) or flow_cls
        _mutate(prepared)
    return prepared


def _mutate(flow_cls: type[FlowSpec]) -> None:
    """The mutators' ``mutate`` phase, once, as ``_init_step_decorators`` runs it when a
    Metaflow process starts: the graph then holds the decorators they add (a StepMutator that
    adds ``@retry(times=2)`` or ``@kubernetes`` sends the step to Metaflow's runtime). The
    tasks' own ``_init_step_decorators`` skip step mutators that ran; flow mutators add with
    ``IGNORE`` duplicates by default."""
    from metaflow.user_decorators.mutable_flow import MutableFlow
    from metaflow.user_decorators.user_step_decorator import StepMutator

    flow_mutators = flow_cls._flow_state[FlowStateItems.FLOW_MUTATORS]
    if not flow_mutators and not any(step.config_decorators for step in flow_cls._steps):
        return
    for deco in flow_mutators:
        # as Metaflow's own _init_step_decorators calls it: the class, and a list for inserted_by
        mutable: Any = MutableFlow
        deco.mutate(
            mutable(
                flow_cls,
                pre_mutate=False,
                statically_defined=deco.statically_defined,
                inserted_by=[deco.decorator_name] + (deco.inserted_by or []),
            )
        )
    for step in flow_cls._steps:
        for deco in step.config_decorators:
            if isinstance(deco, StepMutator) and not deco._mutate_called:
                decorators._run_step_mutator(flow_cls, step, deco, "%s on %s (mutate)")
        if step.config_decorators:
            setattr(flow_cls, step.name, step)
    flow_cls._init_graph()


def flow_decorator_names(flow_cls: type[FlowSpec]) -> set[str]:
    """Names of the flow-level decorators on ``flow_cls`` (``project``, ``pypi_base``, ...)."""
    return set(flow_cls._flow_state[FlowStateItems.FLOW_DECORATORS])


def decorator_attribute(flow_cls: type[FlowSpec], deco: Any, name: str) -> Any:
    """A decorator's attribute as its task will see it: ``config_expr(...)`` and Config
    values resolved against the flow's Configs (the decorator itself resolves them only when
    it initialises, inside a task)."""
    from metaflow.user_configs.config_parameters import resolve_delayed_evaluator

    with parameters.flow_context(flow_cls):
        return resolve_delayed_evaluator(deco.attributes.get(name))


def lint(flow_cls: type[FlowSpec]) -> None:
    """Metaflow's own validity checks on the class's graph; raises :class:`LintWarn`."""
    linter.run_checks(flow_cls._graph)


# -- where runs live ------------------------------------------------------------------------
class StorageError(Exception):
    """The datastore or metadata provider cannot be chosen (Metaflow's own words)."""


@dataclass(frozen=True)
class Storage:
    """Where a flow's runs live: datastore type and root, metadata provider type."""

    datastore: str
    root: str
    metadata: str

    @property
    def datastore_impl(self) -> Any:
        return next(d for d in DATASTORES if self.datastore == d.TYPE)

    @property
    def metadata_provider(self) -> Any:
        return next(m for m in METADATA_PROVIDERS if self.metadata == m.TYPE)

    def describe(self) -> str:
        """How a teammate finds the runs: ``s3://bucket/prefix, service metadata``."""
        where = {"local": "local metadata", "service": "the metadata service"}.get(
            self.metadata, f"{self.metadata} metadata"
        )
        return f"{self.root} ({self.datastore} datastore), {where}"


def resolve_storage(
    datastore: str | None = None, datastore_root: str | None = None, metadata: str | None = None
) -> Storage:
    """The datastore and metadata provider ``python flow.py [--datastore D] [--datastore-root R]
    [--metadata M] run`` would use: the options, else the Metaflow configuration in force
    (profile, ``METAFLOW_*`` environment), found as ``cli.start`` finds them."""
    from metaflow import metaflow_config

    datastore = datastore or metaflow_config.DEFAULT_DATASTORE
    metadata = metadata or metaflow_config.DEFAULT_METADATA
    for option, value, known in (
        ("--datastore", datastore, [d.TYPE for d in DATASTORES]),
        ("--metadata", metadata, [m.TYPE for m in METADATA_PROVIDERS]),
    ):
        if value not in known:
            raise StorageError(
                f"Invalid value for '{option}': {value!r} is not one of "
                + ", ".join(repr(k) for k in known)
                + "."
            )
    impl = next(d for d in DATASTORES if datastore == d.TYPE)
    root = datastore_root or impl.get_datastore_root_from_config(_quiet_echo)
    if root is None:
        raise StorageError(
            "Could not find the location of the datastore -- did you correctly set the "
            f"METAFLOW_DATASTORE_SYSROOT_{datastore.upper()} environment variable?"
        )
    return Storage(datastore, root, metadata)


def _use_client_metadata(provider: Any) -> None:
    """Point the Client at ``provider`` (kernel-wide, like ``metaflow.metadata(...)``) when the
    flow's runs live elsewhere than the configured default: the notebook's Client calls, ours
    included, then find them."""
    from metaflow.client import core

    if core.current_metadata is False:
        core.default_metadata()
    if core.current_metadata is not provider:
        core.current_metadata = provider


def unreachable_storage(storage: Storage, timeout: float = 5.0) -> str | None:
    """Why the S3 endpoint or metadata service of ``storage`` cannot be reached now (a
    connection attempt of at most ``timeout`` seconds each), else None. Metaflow itself
    retries for minutes before it gives up on an endpoint that does not answer."""
    import socket
    from urllib.parse import urlparse

    from metaflow import metaflow_config

    checks = []
    if storage.datastore == "s3" and metaflow_config.S3_ENDPOINT_URL:
        checks.append(
            (metaflow_config.S3_ENDPOINT_URL, "the S3 endpoint", "METAFLOW_S3_ENDPOINT_URL")
        )
    if storage.metadata == "service" and metaflow_config.SERVICE_URL:
        checks.append(
            (metaflow_config.SERVICE_URL, "the Metaflow metadata service", "METAFLOW_SERVICE_URL")
        )
    for url, what, setting in checks:
        parsed = urlparse(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((parsed.hostname or "", port), timeout=timeout).close()
        except OSError as exc:
            return (
                f"{what} at {url} is unreachable ({exc.strerror or exc}). Check {setting} in your "
                "Metaflow profile and that it runs, then execute the step again; earlier runs "
                "are unchanged."
            )
    return None


def storage_problem(exc: BaseException) -> str | None:
    """What is wrong with the datastore or metadata service when ``exc`` (or its cause) is a
    failure to reach or use them, worded with the setting to fix; None for other errors."""
    from metaflow import metaflow_config

    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain)
    short = (
        str(chain[0]).strip().splitlines()[0][:300]
        if str(chain[0]).strip()
        else type(chain[0]).__name__
    )
    s3_url = metaflow_config.S3_ENDPOINT_URL or "AWS's S3"
    if "ServiceException" in names or ("ConnectionError" in names and "/flows/" in text):
        return (
            f"the Metaflow metadata service at {metaflow_config.SERVICE_URL} did not answer "
            f"({short}). Check that the service runs and METAFLOW_SERVICE_URL in your Metaflow "
            "profile, then execute the step again; earlier runs are unchanged."
        )
    if (
        "InvalidAccessKeyId" in text
        or "SignatureDoesNotMatch" in text
        or "MetaflowS3AccessDenied" in names
    ):
        return (
            f"S3 ({s3_url}) refused the AWS credentials ({short}). Check them "
            "(~/.aws/credentials, AWS_PROFILE, AWS_ACCESS_KEY_ID), then execute the step again."
        )
    if "NoSuchBucket" in text or "MetaflowS3NotFound" in names:
        return (
            f"the S3 datastore's bucket or objects are missing ({short}). Create the bucket or "
            "point METAFLOW_DATASTORE_SYSROOT_S3 (or the %%flow line's --datastore-root) at "
            "an existing one, then execute the step again."
        )
    if names & {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"} or (
        "MetaflowS3Exception" in names and "connect" in text.lower()
    ):
        return (
            f"the S3 endpoint {s3_url} is unreachable ({short}). Check METAFLOW_S3_ENDPOINT_URL "
            "in your Metaflow profile and the network, then execute the step again."
        )
    return None


# -- process-global state -------------------------------------------------------------------
@contextlib.contextmanager
def metaflow_state(
    datastore: str | None = None, datastore_root: str | None = None, metadata: str | None = None
) -> Iterator[Storage]:
    """Point Metaflow's globals at the flow's storage for one operation, then restore them.

    Yields the :class:`Storage` (:func:`resolve_storage` of the options). The local datastore
    root (local metadata and ``latest_run`` live there) is found the way ``python flow.py run``
    finds it (``METAFLOW_DATASTORE_SYSROOT_LOCAL``, else the nearest ``.metaflow``, else the
    cwd). Restores the storage classes' ``datastore_root``,
    ``FlowDataStore.default_storage_impl``, the ``current`` singleton (instance fields and the
    class-level properties tasks add), the parameter context, the system logger/monitor,
    ``system_context`` (a task leaves its inputs and datastore there) and ``sys.argv[0]``.
    """
    storage = resolve_storage(datastore, datastore_root, metadata)
    impl = storage.datastore_impl
    saved_roots = {d: d.datastore_root for d in {LocalStorage, impl}}
    saved_impl: Any = FlowDataStore.default_storage_impl
    saved_current_cls = dict(Current.__dict__)
    saved_current = dict(current.__dict__)
    saved_context = parameters.context_proto
    saved_logger = (_system_logger._logger, _system_logger._flow_name)
    saved_monitor = (_system_monitor._monitor, _system_monitor._flow_name)
    saved_argv0 = sys.argv[0] if sys.argv else None
    saved_system = {
        k: (v.copy() if isinstance(v, dict) else v) for k, v in system_context.__dict__.items()
    }
    try:
        LocalStorage.datastore_root = LocalStorage.get_datastore_root_from_config(
            _quiet_echo, create_on_absent=True
        )
        impl.datastore_root = storage.root
        FlowDataStore.default_storage_impl = impl
        _use_client_metadata(storage.metadata_provider)
        yield storage
    finally:
        for cls, root in saved_roots.items():
            cls.datastore_root = root
        FlowDataStore.default_storage_impl = saved_impl
        for name in [n for n in Current.__dict__ if n not in saved_current_cls]:
            delattr(Current, name)
        for name, value in saved_current_cls.items():
            if Current.__dict__.get(name) is not value and name not in ("__dict__", "__weakref__"):
                setattr(Current, name, value)
        current.__dict__.clear()
        current.__dict__.update(saved_current)
        parameters.context_proto = saved_context
        _system_logger._logger, _system_logger._flow_name = saved_logger
        _system_monitor._monitor, _system_monitor._flow_name = saved_monitor
        if saved_argv0 is not None:
            sys.argv[0] = saved_argv0
        system_context.__dict__.clear()
        system_context.__dict__.update(saved_system)


def forget_datastore_root() -> None:
    """Let the next Client call find the datastore from the cwd again (the Client caches it)."""
    LocalStorage.datastore_root = None


TASK_ID_CLAIMS = ".jupyter_metaflow_task_ids"
"""Folder in a run's metadata folder where each task id is claimed (one empty folder per id;
hidden, so Metaflow's listings, which glob ``*``, never see it)."""


def _kernel_metadata(provider: type) -> type:
    """``provider`` serving every task of a kernel session instead of one task process.

    Metaflow's local provider numbers a run's tasks with a counter of its own process; two
    kernels on one run (the notebook open twice, or a kernel re-attaching while another still
    runs steps) would hand out the same ids, one task's data landing beside another's
    metadata. Each local id is claimed by creating its folder under :data:`TASK_ID_CLAIMS`
    (``mkdir`` is atomic), skipping ids another process claimed; the metadata service hands
    out ids itself.

    Metaflow's runtime allocates a task id in the launcher (``new_task_id`` writes the system
    metadata) and the task process registers it again (``register_task_id`` in ``run_step``:
    the same files, or the same service requests). In one process the second write is only
    cost, so it is skipped for ids this provider allocated itself. The service provider
    starts one heartbeat sidecar per instance and refuses a second: a stopped task's
    heartbeat is forgotten so the next task starts its own.
    """

    class KernelMetadata(provider):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self._allocated: set[tuple[str, str, str]] = set()

        def new_task_id(self, run_id, step_name, tags=None, sys_tags=None):
            if self.TYPE == "local":
                task_id = self._claim_task_id(run_id)
                self._new_task(run_id, step_name, task_id, tags=tags, sys_tags=sys_tags)
            else:
                task_id = super().new_task_id(run_id, step_name, tags=tags, sys_tags=sys_tags)
            self._allocated.add((run_id, step_name, task_id))
            return task_id

        def _claim_task_id(self, run_id: str) -> str:
            run_meta = self._create_and_get_metadir(self._flow_name, run_id)
            claims = os.path.join(run_meta, TASK_ID_CLAIMS)
            os.makedirs(claims, exist_ok=True)
            while True:
                self._task_id_seq += 1
                task_id = str(self._task_id_seq)
                try:
                    os.mkdir(os.path.join(claims, task_id))
                except FileExistsError:
                    continue  # another kernel took it
                return task_id

        def register_task_id(self, run_id, step_name, task_id, attempt=0, tags=None, sys_tags=None):
            if attempt == 0 and (run_id, step_name, task_id) in self._allocated:
                return False
            return super().register_task_id(
                run_id, step_name, task_id, attempt=attempt, tags=tags, sys_tags=sys_tags
            )

        def stop_heartbeat(self) -> None:
            super().stop_heartbeat()
            if getattr(self, "sidecar", None) is not None:
                self.sidecar = None

    kernel_cls: Any = KernelMetadata
    if getattr(provider, "TYPE", None) == "service":
        kernel_cls = type("KernelMetadata", (_KernelServiceRequests, KernelMetadata), {})
    kernel_cls.__name__ = kernel_cls.__qualname__ = f"Kernel{provider.__name__}"
    return kernel_cls


class _KernelServiceRequests:
    """The metadata service provider's requests, fewer and off a task's critical path.

    * Inside :meth:`deferred`, ``register_metadata`` requests go to one background thread in
      order; ``register_data_artifacts`` -- the last request of a finished task, made after
      its ``DONE`` marker -- first waits for them, so once Metaflow's ``done()`` returns the
      service holds everything, as after Metaflow's own requests in sequence.
    * A step is created once per run (Metaflow asks for it before each task).
    * The task heartbeat is one thread for the provider posting what Metaflow's heartbeat
      sidecar posts (at start, every interval the service asks for, at the end), not a process
      per task; the service version it checks is asked once.
    """

    _versions: ClassVar[dict[str, str | None]] = {}

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._steps: dict[tuple[str, str], Any] = {}
        self._heartbeats = _Heartbeats()
        self._queue: Any = None
        self._queued: list[Any] = []
        self._defer = 0

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._defer += 1
        try:
            yield
        finally:
            self._defer -= 1
            if not self._defer:
                self._drain()

    def _drain(self) -> None:
        """Wait for the queued requests; raise the first failure."""
        queued, self._queued = self._queued, []
        error: BaseException | None = None
        for future in queued:
            try:
                future.result()
            except BaseException as exc:  # a request failed: report the first
                error = error or exc
        if error is not None:
            raise error

    def register_metadata(self, run_id, step_name, task_id, metadata):
        register = super().register_metadata  # type: ignore[misc]
        if not self._defer:
            return register(run_id, step_name, task_id, metadata)
        if self._queue is None:
            from concurrent.futures import ThreadPoolExecutor

            self._queue = ThreadPoolExecutor(1, thread_name_prefix="mf-service")
        self._queued.append(self._queue.submit(register, run_id, step_name, task_id, metadata))
        return None

    def register_data_artifacts(self, run_id, step_name, task_id, attempt_id, artifacts):
        self._drain()
        return super().register_data_artifacts(  # type: ignore[misc]
            run_id, step_name, task_id, attempt_id, artifacts
        )

    def _get_or_create(self, obj_type, run_id=None, step_name=None, *args: Any, **kwargs: Any):
        create = super()._get_or_create  # type: ignore[misc]
        if obj_type != "step":
            return create(obj_type, run_id, step_name, *args, **kwargs)
        if (run_id, step_name) not in self._steps:
            self._steps[(run_id, step_name)] = create(obj_type, run_id, step_name, *args, **kwargs)
        return self._steps[(run_id, step_name)]

    def _start_heartbeat(self, heartbeat_type, flow_id, run_id, step_name=None, task_id=None):
        from metaflow.plugins.metadata_providers.service import HeartbeatTypes
        from metaflow.util import version_parse

        if getattr(self, "sidecar", None) is not None:
            raise Exception("heartbeat already started")
        if heartbeat_type == HeartbeatTypes.TASK:
            url = self.url_task_template.format(  # type: ignore[attr-defined]
                flow_id=flow_id, run_number=run_id, step_name=step_name, task_id=task_id
            )
        else:
            url = self.url_run_template.format(  # type: ignore[attr-defined]
                flow_id=flow_id, run_number=run_id
            )
        service = type(self).INFO  # type: ignore[attr-defined]
        if service not in self._versions:
            self._versions[service] = self.version()  # type: ignore[attr-defined]
        version = self._versions[service]
        beats = version is not None and version_parse(version) >= version_parse("2.0.4")
        self.sidecar = self._heartbeats.start(url if beats else None)


class _Heartbeats:
    """What Metaflow's heartbeat sidecar does, from one thread for every task of a provider:
    posts to a task's (or run's) heartbeat URL when it starts, then every interval the service
    answers (10 s by default), and once more when it ends; failures are retried with growing
    pauses and never stop the task. :meth:`start` returns the handle Metaflow terminates."""

    def __init__(self) -> None:
        import queue

        self._commands: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self, url: str | None) -> Any:
        """Beat for ``url`` (None: no heartbeat, a service too old for them)."""
        if url is not None:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mf-heartbeat", daemon=True)
                self._thread.start()
            self._commands.put(url)
        return _HeartbeatHandle(self if url is not None else None)

    def stop(self) -> None:
        self._commands.put(None)

    @staticmethod
    def _beat(url: str) -> float | None:
        import json

        import requests
        from metaflow.metaflow_config import SERVICE_HEADERS

        response = requests.post(url=url, data="{}", headers=SERVICE_HEADERS.copy())
        if response.status_code != 200:
            raise OSError(f"heartbeat {url}: {response.status_code}")
        return json.loads(response.json()).get("wait_time_in_seconds")

    def _run(self) -> None:
        import queue

        url: str | None = None
        wait: float | None = None
        failures = 0
        while True:
            try:
                command = self._commands.get(timeout=wait)
            except queue.Empty:  # the interval passed: beat again
                command = url
            else:
                if command is None and url is not None:  # the task ended: a last beat
                    with contextlib.suppress(Exception):
                        self._beat(url)
                failures = 0
            url = command
            if url is None:
                wait = None
                continue
            try:
                wait = self._beat(url) or 10
                failures = 0
            except Exception:  # best effort, as the sidecar: retry later
                failures += 1
                wait = 1.5**failures


@dataclass
class _HeartbeatHandle:
    """The ``sidecar`` Metaflow's provider terminates when its task ends."""

    heartbeats: _Heartbeats | None

    def terminate(self) -> None:
        if self.heartbeats is not None:
            self.heartbeats.stop()


RAW_BLOB_BYTES = 16 * 1024 * 1024
"""Artifacts whose pickle is at least this large are stored uncompressed (see below)."""


class _KernelContentAddressedStore(ContentAddressedStore):
    """Metaflow's content-addressed store, but large blobs are written uncompressed.

    Metaflow gzips every artifact blob (level 3): seconds per 100 MB, which would dominate an
    interactive step. Blobs of at least :data:`RAW_BLOB_BYTES` are saved with ``raw=True``
    instead, a format every Metaflow reader handles (the blob's ``cas_raw`` metadata flag);
    smaller blobs are compressed as usual. Costs disk space for compressible large artifacts.

    On a :class:`_KernelS3Storage`, a blob's existence check and upload are one job on the
    storage's thread pool instead of a request each in turn, and a blob is not checked again
    once this kernel stored or read it (the store only ever adds content under its hash).
    """

    def __init__(self, prefix: str, storage_impl: Any) -> None:
        super().__init__(prefix, storage_impl)
        self._known: set[str] = set()

    def save_blobs(self, blob_iter, raw=False, len_hint=0, is_transfer=False):
        if raw or is_transfer:
            return super().save_blobs(
                blob_iter, raw=raw, len_hint=len_hint, is_transfer=is_transfer
            )
        if not isinstance(self._storage_impl, _KernelS3Storage):
            results = []
            for blob in blob_iter:
                results.extend(
                    super().save_blobs(iter([blob]), raw=len(blob) >= RAW_BLOB_BYTES, len_hint=1)
                )
            return results
        return [self._save_blob(blob) for blob in blob_iter]

    def _save_blob(self, blob: bytes) -> Any:
        """One blob as ``save_blobs`` stores it (same key, packing and metadata), uploaded
        unless it is there already."""
        from hashlib import sha1

        raw = len(blob) >= RAW_BLOB_BYTES
        sha = sha1(blob).hexdigest()
        path = self._storage_impl.path_join(self._prefix, sha[:2], sha)
        if self._blob_cache is not None:
            self._blob_cache.store_key(sha, blob)
        if sha not in self._known:
            body = io.BytesIO(blob) if raw else self._pack_v1(blob)
            self._storage_impl.save_if_absent(
                path, body, {"cas_raw": raw, "cas_version": 1}, lambda: self._known.add(sha)
            )
        return self.save_blobs_result(uri=None, key=sha)

    def load_blobs(self, keys, force_raw=False, is_transfer=False):
        for loaded in super().load_blobs(keys, force_raw=force_raw, is_transfer=is_transfer):
            self._known.add(loaded[0])
            yield loaded


class _MemoryBlobCache(BlobCache):
    """Small artifact blobs this kernel saved or loaded, unpacked, up to :attr:`budget`
    bytes (least recently used first out): the next step reads its inputs without a request.
    Blobs are content-addressed, so a cached one never goes stale."""

    max_blob = 1024 * 1024
    budget = 64 * 1024 * 1024

    def __init__(self) -> None:
        from collections import OrderedDict

        self._blobs: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def load_key(self, key: str) -> bytes | None:
        with self._lock:
            blob = self._blobs.get(key)
            if blob is not None:
                self._blobs.move_to_end(key)
            return blob

    def store_key(self, key: str, blob: bytes) -> None:
        if len(blob) > self.max_blob:
            return
        with self._lock:
            if key in self._blobs:
                return
            self._blobs[key] = blob
            self._size += len(blob)
            while self._size > self.budget:
                _, dropped = self._blobs.popitem(last=False)
                self._size -= len(dropped)


class _KernelS3Storage(S3Storage):
    """Metaflow's S3 datastore storage writing the same objects, keys and metadata, cheaper
    for a long-lived kernel.

    Metaflow's ``S3Storage`` opens an ``S3`` object (a temporary directory, removed after) per
    call and goes one request after another, or through ``s3op`` subprocesses above ten
    objects. Here every call shares one boto3 client and a thread pool: existence checks,
    reads and writes of a call run concurrently. Inside :meth:`deferred` writes return at
    once and go on in the pool, except a task's ``DONE`` marker, written only after every
    earlier write succeeded -- a reader sees a task finished only when all of it is there,
    as with Metaflow's writes in sequence; a read of a path waits for its pending write.
    A task's first write (its attempt marker) is waited for too: wrong credentials or a
    missing bucket stop the task before its code runs, as in Metaflow. Another failed write
    is raised by the next ``DONE`` marker or the end of :meth:`deferred`.
    """

    THREADS = 16
    _pool: ClassVar[Any] = None
    _pool_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, root: str | None = None) -> None:
        super().__init__(root)
        self._s3_object: Any = None
        self._pending: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._defer = 0

    # -- plumbing
    @classmethod
    def _executor(cls) -> Any:
        with cls._pool_lock:
            if cls._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                cls._pool = ThreadPoolExecutor(cls.THREADS, thread_name_prefix="mf-s3")
            return cls._pool

    def _s3(self) -> Any:
        """One Metaflow ``S3`` object for the storage's life: its ``_one_boto_op`` maps S3's
        errors to Metaflow's exceptions and retries as every Metaflow S3 call does."""
        if self._s3_object is None:
            import weakref

            from metaflow.metaflow_config import ARTIFACT_LOCALROOT
            from metaflow.plugins.datatools.s3.s3 import S3

            self._s3_object = S3(
                s3root=self.datastore_root,
                tmproot=ARTIFACT_LOCALROOT,
                external_client=self.s3_client,
            )
            weakref.finalize(self, self._s3_object.close)
        return self._s3_object

    def _where(self, path: str) -> tuple[str, str, str]:
        from urllib.parse import urlparse

        url = self.full_uri(path)
        parsed = urlparse(url, allow_fragments=False)
        return url, parsed.netloc, parsed.path.lstrip("/")

    def _map(self, fn: Any, items: Sequence[Any]) -> list[Any]:
        if len(items) < 2:
            return [fn(item) for item in items]
        return list(self._executor().map(fn, items))

    def _op(self, op: Any, url: str) -> Any:
        """``op(client, None)``'s result, through ``S3._one_boto_op``. When S3 refuses the
        credentials, the client is made again by the next request, and so are the Client's
        (its file cache keeps an S3 client per flow): fixed credentials (a new key in
        ``~/.aws/credentials``) then work without restarting the kernel."""
        from metaflow.client import core
        from metaflow.plugins.datatools.s3.s3 import MetaflowS3AccessDenied

        try:
            return self._s3()._one_boto_op(op, url, create_tmp_file=False)[1]
        except MetaflowS3AccessDenied:
            self.s3_client._s3_client = None  # made on first use, not now: before the fix
            core.filecache = None
            raise

    def _head(self, path: str) -> dict[str, Any] | None:
        from metaflow.plugins.datatools.s3.s3 import MetaflowS3NotFound

        url, bucket, key = self._where(path)
        try:
            return self._op(lambda client, _: client.head_object(Bucket=bucket, Key=key), url)
        except MetaflowS3NotFound:
            return None

    def _put(self, path: str, body: Any, metadata: dict[str, Any] | None) -> None:
        """``S3.put(path, body, metadata=metadata)``'s object, in one request up to 5 GB."""
        url, bucket, key = self._where(path)
        extra: dict[str, Any] = {}
        if metadata:
            import json

            extra["Metadata"] = {"metaflow-user-attributes": json.dumps(metadata)}
        encryption = self._s3()._encryption
        if encryption:
            extra["ServerSideEncryption"] = encryption
        if isinstance(body, str):
            body = body.encode("utf-8")
        if isinstance(body, bytes):
            size = len(body)
        else:
            with body.getbuffer() as view:
                size = view.nbytes

        def upload(client: Any, _: Any) -> None:
            if isinstance(body, bytes):
                client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
            elif size < 5 * 1024**3:
                body.seek(0)
                client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
            else:
                body.seek(0)
                client.upload_fileobj(body, bucket, key, ExtraArgs=extra or None)

        self._op(upload, url)

    def _submit(self, path: str, job: Any, on_success: Any = None) -> None:
        def run() -> None:
            job()
            if on_success is not None:
                on_success()

        with self._lock:
            self._pending[path] = self._executor().submit(run)

    def _wait(self, paths: Sequence[str] | None = None) -> None:
        """Wait for the pending writes of ``paths`` (all when None); raise the first failure."""
        with self._lock:
            if paths is None:
                waiting = list(self._pending.items())
            else:
                waiting = [(p, self._pending[p]) for p in paths if p in self._pending]
        error: BaseException | None = None
        for path, future in waiting:
            try:
                future.result()
            except BaseException as exc:  # a write failed: report the first
                error = error or exc
            with self._lock:
                if self._pending.get(path) is future:
                    del self._pending[path]
        if error is not None:
            raise error

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Writes inside go on in the background (see the class); all are done, or the
        first failure raised, when it exits."""
        self._defer += 1
        try:
            yield
        finally:
            self._defer -= 1
            if not self._defer:
                self._wait()

    # -- DataStoreStorage
    def is_file(self, paths):
        self._wait(paths)
        return [info is not None for info in self._map(self._head, list(paths))]

    def info_file(self, path):
        self._wait([path])
        info = self._head(path)
        if info is None:
            return False, None
        return True, _user_attributes(info.get("Metadata"))

    def size_file(self, path):
        self._wait([path])
        info = self._head(path)
        return None if info is None else info["ContentLength"]

    def list_content(self, paths):
        self._wait()
        return super().list_content(paths)

    def save_bytes(self, path_and_bytes_iter, overwrite=False, len_hint=0):
        from metaflow.datastore.task_datastore import TaskDataStore

        markers = []
        written = []
        for path, obj in path_and_bytes_iter:
            body, metadata = obj if isinstance(obj, tuple) else (obj, None)
            if not isinstance(body, (str, bytes, io.BytesIO)):
                body = body.read()  # a file the caller closes after this call
            if path.endswith(TaskDataStore.METADATA_DONE_SUFFIX):
                markers.append((path, body, metadata))
                continue
            self.save_if_absent(path, body, metadata, overwrite=overwrite)
            written.append(path)
            if path.endswith(TaskDataStore.METADATA_ATTEMPT_SUFFIX):
                self._wait([path])  # a task's first write: a storage problem stops it here
        if markers:
            self._wait()
        elif not self._defer:
            self._wait(written)
        for path, body, metadata in markers:
            self.save_if_absent(path, body, metadata, overwrite=overwrite)
            self._wait([path])

    def save_if_absent(
        self,
        path: str,
        body: Any,
        metadata: dict[str, Any] | None,
        on_success: Any = None,
        overwrite: bool = False,
    ) -> None:
        """Write ``path`` (unless it exists and not ``overwrite``) in the pool; a second write
        of a path whose first is pending is dropped unless ``overwrite``."""
        with self._lock:
            if not overwrite and path in self._pending:
                return
        self._wait([path])

        def job() -> None:
            if overwrite or self._head(path) is None:
                self._put(path, body, metadata)

        self._submit(path, job, on_success)
        if not self._defer:
            self._wait([path])

    def load_bytes(self, paths):
        import shutil
        import tempfile

        from metaflow.datastore.datastore_storage import CloseAfterUse
        from metaflow.plugins.datatools.s3.s3 import MetaflowS3NotFound

        paths = list(paths)
        if not paths:
            return CloseAfterUse(iter([]))
        self._wait(paths)
        tmpdir = tempfile.mkdtemp(prefix="metaflow.s3.", dir=self._s3()._tmpdir)

        def fetch(item: tuple[int, str]) -> tuple[str, str | None, Any]:
            index, path = item
            url, bucket, key = self._where(path)
            target = os.path.join(tmpdir, str(index))

            def download(client: Any, _: Any) -> Any:
                response = client.get_object(Bucket=bucket, Key=key)
                with open(target, "wb") as out:
                    for chunk in iter(lambda: response["Body"].read(8 * 1024 * 1024), b""):
                        out.write(chunk)
                return response.get("Metadata")

            try:
                meta = self._op(download, url)
            except MetaflowS3NotFound:
                return path, None, None
            return path, target, _user_attributes(meta)

        results = self._map(fetch, list(enumerate(paths)))

        class _Cleanup:
            @staticmethod
            def close() -> None:
                shutil.rmtree(tmpdir, ignore_errors=True)

        return CloseAfterUse(iter(results), closer=_Cleanup)


def _user_attributes(metadata: dict[str, str] | None) -> dict[str, Any] | None:
    """The metadata Metaflow's ``S3Object.metadata`` reads back from an object's headers."""
    import json

    if metadata and "metaflow-user-attributes" in metadata:
        return json.loads(metadata["metaflow-user-attributes"])
    return None


def _kernel_storage_impl(impl: type) -> type:
    """The storage class a kernel's flow datastore uses for ``impl`` (S3: the cheaper one)."""
    return _KernelS3Storage if impl is S3Storage else impl


class _KernelTaskDataStore(TaskDataStore):
    """A task datastore that reports its task to the flow datastore once it is done."""

    def done(self) -> None:
        super().done()
        self._parent.remember_done(self)


class _KernelFlowDataStore(FlowDataStore):
    """Metaflow's flow datastore remembering the tasks it saw finished on a remote store.

    Reading a task (an input of the next step, the task just run) costs Metaflow four
    requests (attempt markers, ``DONE``, ``data.json``). A finished attempt never changes, so
    a task this kernel wrote or read finished is not read again: its datastore is built from
    what it recorded, as Metaflow does when it is handed the data metadata.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._done: dict[tuple[str, str, str], tuple[int, dict[str, Any]]] = {}

    def get_task_datastores(
        self,
        run_id=None,
        steps=None,
        pathspecs=None,
        allow_not_done=False,
        attempt=None,
        include_prior=False,
        mode="r",
        join_type=None,
        orig_flow_datastore=None,
        spin_artifacts=None,
    ):
        """Metaflow's, but tasks given by pathspec that are all known finished are built from
        what was recorded (Metaflow reads three files for each of six attempts per task)."""
        keys = [tuple(p.split("/")) for p in pathspecs or []]
        if (
            keys
            and mode == "r"
            and not (allow_not_done or include_prior)
            and attempt is None
            and orig_flow_datastore is None
            and all(len(k) == 3 and k in self._done for k in keys)
        ):
            return [self.get_task_datastore(*key) for key in keys]
        return super().get_task_datastores(
            run_id,
            steps=steps,
            pathspecs=pathspecs,
            allow_not_done=allow_not_done,
            attempt=attempt,
            include_prior=include_prior,
            mode=mode,
            join_type=join_type,
            orig_flow_datastore=orig_flow_datastore,
            spin_artifacts=spin_artifacts,
        )

    def remember_done(self, ds: TaskDataStore) -> None:
        self._done[(ds.run_id, ds.step_name, ds.task_id)] = (ds.attempt, ds.ds_metadata)

    def get_task_datastore(
        self,
        run_id,
        step_name,
        task_id,
        attempt=None,
        data_metadata=None,
        mode="r",
        allow_not_done=False,
        join_type=None,
        orig_flow_datastore=None,
        spin_artifacts=None,
        persist=True,
    ):
        if orig_flow_datastore is not None:
            return super().get_task_datastore(
                run_id,
                step_name,
                task_id,
                attempt=attempt,
                data_metadata=data_metadata,
                mode=mode,
                allow_not_done=allow_not_done,
                join_type=join_type,
                orig_flow_datastore=orig_flow_datastore,
                spin_artifacts=spin_artifacts,
                persist=persist,
            )
        if mode == "w":
            return _KernelTaskDataStore(
                self, run_id, step_name, task_id, attempt=attempt, mode=mode, persist=persist
            )
        known = self._done.get((run_id, step_name, task_id))
        if (
            mode == "r"
            and known is not None
            and data_metadata is None
            and attempt in (None, known[0])
        ):
            attempt, data_metadata = known
        remember = mode == "r" and attempt is None and not allow_not_done
        ds = super().get_task_datastore(
            run_id,
            step_name,
            task_id,
            attempt=attempt,
            data_metadata=data_metadata,
            mode=mode,
            allow_not_done=allow_not_done,
            persist=persist,
        )
        if remember and ds.attempt is not None:
            self.remember_done(ds)
        return ds


# -- one flow's Metaflow objects ------------------------------------------------------------
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
        self.metadata = _kernel_metadata(storage.metadata_provider)(
            self.environment, flow, self.event_logger, self.monitor
        )
        self._sticky = (set(self.metadata.sticky_tags), set(self.metadata.sticky_sys_tags))
        remote = storage.datastore_impl is S3Storage
        self.flow_datastore = (_KernelFlowDataStore if remote else FlowDataStore)(
            self.flow_name,
            self.environment,
            self.metadata,
            self.event_logger,
            self.monitor,
            storage_impl=_kernel_storage_impl(storage.datastore_impl),
            ds_root=storage.root,
        )
        store = self.flow_datastore.ca_store
        self.flow_datastore.ca_store = _KernelContentAddressedStore(
            store._prefix, store._storage_impl
        )
        self.blob_cache = _MemoryBlobCache() if remote else None
        self.flow_datastore.ca_store.set_blob_cache(self.blob_cache)

    @contextlib.contextmanager
    def deferred_writes(self) -> Iterator[None]:
        """Datastore writes and metadata-service requests made inside go on concurrently
        (:class:`_KernelS3Storage`, :class:`_KernelServiceRequests`); every one is done, or
        the first failure raised, when it exits."""
        with contextlib.ExitStack() as stack:
            for part in (self.flow_datastore._storage_impl, self.metadata):
                if hasattr(part, "deferred"):
                    stack.enter_context(part.deferred())
            yield

    def attach(self, run_id: str) -> None:
        """Make new task ids in ``run_id`` follow the ids already there (kernel restart)."""
        existing = [int(t) for t in run_task_ids(self, run_id) if t.isdigit()]
        if existing and hasattr(self.metadata, "_task_id_seq"):
            self.metadata._task_id_seq = max(self.metadata._task_id_seq, max(existing))

    def new_task_id(self, run_id: str, step: str) -> str:
        """Allocate a task id in ``run_id`` (and register it), as Metaflow's runtime does
        before it launches a task elsewhere (a worker process)."""
        return self.metadata.new_task_id(run_id, step)

    def reset_sticky_tags(self) -> None:
        """Drop the tags flow decorators made sticky for an earlier task or run (a task
        process starts with a fresh provider; ours serves the session, and a changed
        ``@project(name=...)`` would otherwise tag later runs with both projects)."""
        self.metadata.sticky_tags, self.metadata.sticky_sys_tags = (set(t) for t in self._sticky)

    def install_globals(self) -> None:
        """The system logger/monitor a task reports to (restored by :func:`metaflow_state`)."""
        _system_logger.init_system_logger(self.flow_name, self.event_logger)
        _system_monitor.init_system_monitor(self.flow_name, self.monitor)
        parameters.set_parameter_context(self.flow_name, _quiet_echo, self.flow_datastore, {})


def run_task_ids(backend: Backend, run_id: str) -> list[str]:
    """Every task id in a run (all steps, ``_parameters`` included), from the metadata files."""
    from metaflow.client import Run

    run = Run(f"{backend.flow_name}/{run_id}", _namespace_check=False)
    ids = [task.id for step in run for task in step]
    params = backend.flow_datastore.get_task_datastores(
        run_id=run_id, steps=["_parameters"], allow_not_done=True
    )
    ids.extend(ds.task_id for ds in params)
    return ids


# -- runs, parameters, clones ---------------------------------------------------------------
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


@dataclass(frozen=True)
class UnloadedArtifact:
    """An artifact left unloaded because its pickle is larger than a preview loads."""

    type_name: str | None
    size: int

    def __repr__(self) -> str:
        kind = (self.type_name or "").removeprefix("<class '").removesuffix("'>") or "value"
        return f"<{kind}, {self.size / 2**20:.1f} MB pickled: not loaded for this preview>"


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
        if name.startswith("_") or name == "name":
            continue
        info = ds._info.get(name) or {}
        size = info.get("size")
        if max_bytes is not None and isinstance(size, int) and size > max_bytes:
            out[name] = UnloadedArtifact(info.get("type"), size)
        else:
            out[name] = ds[name]
    return out


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
            _quiet_echo,
            _quiet_echo,
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

    echo = staticmethod(_quiet_echo)


def fresh_subclass(flow_cls: type[FlowSpec]) -> type[FlowSpec]:
    """A throwaway subclass: tasks turn Parameters into class properties on it, not on ours.

    Without flow or step mutators nothing can change the graph, so the subclass reuses its
    parent's ``FlowGraph`` instead of parsing every step's source again.
    """
    attrs: dict[str, Any] = {"__module__": flow_cls.__module__}
    mutators = flow_cls._flow_state[FlowStateItems.FLOW_MUTATORS]
    if not mutators and not any(step.config_decorators for step in flow_cls._steps):
        attrs["_init_graph"] = classmethod(_reuse_parent_graph)
    return type(flow_cls.__name__, (flow_cls,), attrs)


def _reuse_parent_graph(cls: type[FlowSpec]) -> None:
    parent: Any = cls.__mro__[1]
    cls._graph = parent._graph
    cls._steps = parent._steps


def parameter_values(flow_cls: type[FlowSpec], args: Sequence[str], prog: str) -> dict[str, Any]:
    """Convert ``--name value`` options exactly as ``python flow.py run`` would.

    Builds the click options Metaflow's ``run`` command gets from
    ``parameters.add_custom_parameters(deploy_mode=True)``; missing options take their
    defaults, deploy-time (callable) defaults included. Raises ``click.UsageError`` with the
    usage text on bad input.
    """
    return _flow_options(flow_cls, args, prog)[0]


def config_options(flow_cls: type[FlowSpec], args: Sequence[str], prog: str) -> dict[str, Any]:
    """The flow's ``Config`` values from ``--config NAME FILE`` / ``--config-value NAME JSON``
    options and the declared defaults, processed as the CLI processes them (what
    ``_process_config_decorators`` and ``_set_constants`` take)."""
    return _flow_options(flow_cls, args, prog)[1]


def _flow_options(
    flow_cls: type[FlowSpec], args: Sequence[str], prog: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    from metaflow.user_configs.config_options import config_options_with_config_input

    command = click.Command(prog, params=[], add_help_option=False)
    with parameters.flow_context(flow_cls):
        parameters.add_custom_parameters(deploy_mode=True)(command)
        config_options_with_config_input(command)
    # IncludeFile uploads to, and Config's callback reads, the datastore the run uses
    # (metaflow_state's; the local one outside an operation)
    impl = FlowDataStore.default_storage_impl or LocalStorage
    obj = _ClickObj(flow_cls(use_cli=False), datastore_impl=impl)
    saved_context = parameters.context_proto  # what deploy-time defaults read
    parameters.set_parameter_context(obj.flow.name, _quiet_echo, impl, {})
    try:
        with parameters.flow_context(flow_cls):
            ctx = click.Context(command, info_name=prog, obj=obj)
            ctx.params.update(quiet=True, datastore=impl.TYPE)
            with ctx.scope(cleanup=False):
                command.parse_args(ctx, list(args))
        delayed = getattr(obj, "delayed_config_exception", None)
        if delayed is not None:
            raise delayed
    except click.ClickException as exc:
        usage = command.get_help(click.Context(command, info_name=prog))
        raise click.UsageError(f"{exc.format_message()}\n{usage}") from None
    finally:
        parameters.context_proto = saved_context
    values = dict(ctx.params)
    configs = values.pop("config", None) or values.pop("config_value", None) or {}
    for key in ("config", "config_value", "quiet", "datastore"):
        values.pop(key, None)
    return values, configs


@dataclass
class _ClickObj:
    """The parts of the CLI's ``ctx.obj`` that parameter conversion reads."""

    flow: Any
    echo: ClassVar[Any] = staticmethod(_quiet_echo)
    datastore_impl: Any = LocalStorage


def config_parameter_names(flow_cls: type[FlowSpec]) -> list[str]:
    """Names of the flow's ``Config`` declarations."""
    return [p.name for _, p in flow_cls._get_parameters() if p.IS_CONFIG_PARAMETER]


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


# -- task state -----------------------------------------------------------------------------
@dataclass
class TaskState:
    """What scheduling the next steps needs to know about one finished task."""

    step: str
    task_id: str
    ok: bool
    next_steps: list[str] = field(default_factory=list)
    foreach_var: str | None = None
    num_splits: int | None = None
    foreach_stack: tuple[tuple[str, int], ...] = ()
    """``(step, index)`` of each enclosing foreach frame, outermost first."""


def _stack_key(stack: Any) -> tuple[tuple[str, int], ...]:
    return tuple((frame.step, frame.index) for frame in (stack or []))


def read_task_state(backend: Backend, run_id: str, step: str, task: Any) -> TaskState | None:
    """A finished task's outcome and, when it succeeded, its transition and foreach state
    (``None`` if it never finished). The outcome comes from metadata (:func:`task_outcome`),
    never from unpickling ``_task_ok``; a successful task's ``_transition`` and foreach
    artifacts are read from its datastore, which happens only when the user runs a step."""
    ok = task_outcome(task).ok
    if ok is None:
        return None
    if not ok:
        return TaskState(step=step, task_id=task.id, ok=False)
    try:
        ds = backend.flow_datastore.get_task_datastore(run_id, step, task.id, mode="r")
    except DataException:  # no DONE marker: the task never finished
        return None
    transition = ds.get("_transition", None)
    next_steps, foreach_var = (list(transition[0]), transition[1]) if transition else ([], None)
    return TaskState(
        step=step,
        task_id=task.id,
        ok=True,
        next_steps=next_steps,
        foreach_var=foreach_var,
        num_splits=ds.get("_foreach_num_splits", None) if foreach_var else None,
        foreach_stack=_stack_key(ds.get("_foreach_stack", None)),
    )


class RecordedOutcome(NamedTuple):
    """How a task ended, from metadata: ``ok`` (False: its code raised; None: it never
    finished), how long it took (``duration_ms``) and when it ended (``ended_ms``, epoch ms;
    None when it never finished)."""

    ok: bool | None
    duration_ms: float
    ended_ms: float | None


def task_outcome(task: Any, _clone_hops: int = 3) -> RecordedOutcome:
    """How a Client ``Task`` ended, from Metaflow's metadata alone (the ``attempt_ok`` record
    Metaflow's task code and its clones write, the names of its artifacts). Artifacts are
    never loaded: a datastore found beside a notebook is untrusted input until the user runs
    something, and loading an artifact unpickles it. A clone (re-execution, resume) took no
    time of its own: its times are its origin's (followed up to ``_clone_hops`` clones back)."""
    records = sorted(task.metadata, key=lambda m: m.created_at)
    outcome = [m for m in records if m.name == "attempt_ok"]
    if not outcome:
        return RecordedOutcome(None, 0.0, None)
    origin = {m.name: m.value for m in records if m.name in ("origin-run-id", "origin-task-id")}
    if outcome[-1].value == "True" and "origin-task-id" in origin and _clone_hops > 0:
        from metaflow.client import Task

        flow, _run, step, _task = task.path_components
        pathspec = f"{flow}/{origin['origin-run-id']}/{step}/{origin['origin-task-id']}"
        try:
            original = task_outcome(Task(pathspec, _namespace_check=False), _clone_hops - 1)
            return original._replace(ok=True)
        except Exception:  # the origin is gone: the clone's own time
            pass
    # the records of the last attempt: a clone also holds records its origin's run wrote
    attempts = [m for m in records if m.name == "attempt"]
    started = (attempts[-1] if attempts else records[0]).created_at
    ended = float(outcome[-1].created_at)
    duration = float(max(ended - started, 0))
    if outcome[-1].value == "True":
        return RecordedOutcome(True, duration, ended)
    # ``attempt_ok`` is False after an exception (Metaflow then records ``_exception``, which
    # iterating a Client ``Task`` leaves out) and after an interrupt, which stops the task
    # before it finished
    raised = "_exception" in task
    return RecordedOutcome(False if raised else None, duration, ended)


def _client_task_datastore(artifact: Any) -> Any:
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
    info = _client_task_datastore(artifact)._info.get(artifact.path_components[-1]) or {}
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
    ds = _client_task_datastore(artifact)
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


# -- running one task -----------------------------------------------------------------------
@dataclass
class TaskOutcome:
    """Result of :func:`run_task`."""

    state: TaskState
    duration: float
    artifact_count: int
    error: BaseException | None = None
    interrupted_after: bool = False
    """An interrupt arrived after the task's code finished, while its logs were saved: the
    task is complete (record it), then stop."""


class _Tee(io.TextIOBase):
    """Writes to the cell's stream and keeps a copy for ``Task.stdout`` / ``Task.stderr``.

    ``hidden_line`` gives the line ``MetaflowTask.run_step`` prints before re-raising a
    step's exception (``<flow F step S[i] (input: x)> failed:``): kept in the task's log as
    Metaflow's runtime keeps it, not shown in the cell (the step's error follows)."""

    def __init__(self, target: Any, hidden_line: Callable[[], str] | None = None) -> None:
        self.target = target
        self.copy = io.StringIO()
        self._hidden_line = hidden_line
        self._hid_line = False

    def write(self, text: str) -> int:
        self.copy.write(text)
        line = text.rstrip("\n")
        if (
            self._hidden_line is not None
            and line.endswith(" failed:")
            and line == self._hidden_line()
        ):
            self._hid_line = not text.endswith("\n")  # print() writes the newline apart
            return len(text)
        if self._hid_line and text == "\n":
            self._hid_line = False
            return len(text)
        self._hid_line = False
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return False


def _save_logs(
    backend: Backend, run_id: str, step: str, task_id: str, logs: dict[str, str]
) -> None:
    """Store captured output as Metaflow's runtime does (``mflog`` lines, ``task`` source).
    Empty streams are not written (the Client reads a missing log as empty)."""
    streams = {
        stream: b"".join(
            decorate(TASK_LOG_SOURCE, line.encode("utf-8")) for line in text.splitlines(True)
        )
        for stream, text in logs.items()
        if text
    }
    if streams:
        ds = backend.flow_datastore.get_task_datastore(run_id, step, task_id, attempt=0, mode="w")
        ds.save_logs(TASK_LOG_SOURCE, streams)


def run_task(
    backend: Backend,
    flow_cls: type[FlowSpec],
    run_id: str,
    step: str,
    input_paths: list[str],
    split_index: int | None,
    script_name: str,
    task_id: str | None = None,
) -> TaskOutcome:
    """Run one task of ``step`` in this process with Metaflow's task code.

    ``input_paths`` are ``run/step/task`` pathspecs (may point into other runs); ``task_id``
    one :meth:`Backend.new_task_id` allocated (by the kernel for a worker), else a new one. Output
    goes to the cell (the current ``sys.stdout``/``sys.stderr``) and into the task's logs.
    Exceptions from the user's code (``KeyboardInterrupt`` and ``SystemExit`` too) are returned in
    :attr:`TaskOutcome.error`, not raised: the task is then recorded as failed.
    """
    task_cls = fresh_subclass(flow_cls)
    flow = task_cls(use_cli=False)
    _reset_card_decorator_state()
    backend.reset_sticky_tags()
    # A task process runs inside the CLI's flow context: decorator arguments written with
    # config_expr(...) resolve against the flow's Config values there.
    with parameters.flow_context(flow_cls):
        decorators._init_flow_decorators(
            flow,
            flow._graph,
            backend.environment,
            backend.flow_datastore,
            backend.metadata,
            _quiet_echo,
            _quiet_echo,
            {},
        )
        with _own_step_decorators_only(flow, step):
            decorators._init_step_decorators(
                flow, flow._graph, backend.environment, backend.flow_datastore, _quiet_echo
            )
    task_id = task_id or backend.new_task_id(run_id, step)
    # a foreach join's TaskDataStoreSet leaves its own blob cache on the store: a task
    # process starts without it
    backend.flow_datastore.ca_store.set_blob_cache(backend.blob_cache)
    task = MetaflowTask(
        flow,
        backend.flow_datastore,
        backend.metadata,
        backend.environment,
        _quiet_echo,
        backend.event_logger,
        backend.monitor,
        None,
    )
    out, err = _Tee(sys.stdout), _Tee(sys.stderr, hidden_line=lambda: f"{flow} failed:")
    error: BaseException | None = None
    sys.argv[0] = script_name
    started = time.perf_counter()
    with backend.deferred_writes():
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                task.run_step(step, run_id, task_id, None, input_paths, split_index, 0, 0)
        except BaseException as exc:  # the step failed, did not pickle, exited or was interrupted
            error = exc
        duration = time.perf_counter() - started
        with _interrupts_held() as interrupted:
            _save_logs(
                backend,
                run_id,
                step,
                task_id,
                {"stdout": out.copy.getvalue(), "stderr": err.copy.getvalue()},
            )
            artifacts = 0
            if error is None:
                ds = backend.flow_datastore.get_task_datastore(run_id, step, task_id, mode="r")
                artifacts = sum(
                    1 for name, _ in ds.items() if not name.startswith("_") and name != "name"
                )
    transition = getattr(flow, "_transition", None) if error is None else None
    next_steps, foreach_var = (list(transition[0]), transition[1]) if transition else ([], None)
    state = TaskState(
        step=step,
        task_id=task_id,
        ok=error is None,
        next_steps=next_steps,
        foreach_var=foreach_var,
        num_splits=getattr(flow, "_foreach_num_splits", None) if foreach_var else None,
        foreach_stack=_stack_key(getattr(flow, "_foreach_stack", None)),
    )
    return TaskOutcome(
        state=state,
        duration=duration,
        artifact_count=artifacts,
        error=error,
        interrupted_after=bool(interrupted),
    )


@contextlib.contextmanager
def _interrupts_held() -> Iterator[list[int]]:
    """Hold SIGINT (Interrupt Kernel, Ctrl-C) while a finished task's bookkeeping completes;
    the list yielded gets the signals that arrived. A ``KeyboardInterrupt`` there used to
    leave a finished task out of the run record, so the next execution ran it a second time."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    arrived: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: arrived.append(signum))
    try:
        yield arrived
    finally:
        signal.signal(signal.SIGINT, previous)


# -- step decorators of one in-kernel task ------------------------------------------------
@contextlib.contextmanager
def _own_step_decorators_only(flow: Any, step: str) -> Iterator[None]:
    """Hide the other steps' decorators while step decorators initialise for one task.

    ``_init_step_decorators`` calls ``step_init`` for every step of the flow, and some
    decorators refuse outside Metaflow's runtime (``@kubernetes``/``@batch`` want a remote
    datastore, ``@pypi``/``@conda`` an environment flag). Those steps go through the runtime
    path; an in-kernel task of another step only needs its own step's decorators.
    """
    hidden = [(func, func.decorators) for func in flow if func.__name__ != step and func.decorators]
    for func, _ in hidden:
        func.decorators = []
    try:
        yield
    finally:
        for func, decos in hidden:
            func.decorators = decos


def _reset_card_decorator_state() -> None:
    """``CardDecorator`` keeps per-process class state (events seen, per-step counters that
    decide when ``current.card`` is finalised and the card rendered). A task process starts
    with it empty; so does each in-kernel task, or only the kernel's first ``@card`` task
    would render."""
    from metaflow.plugins.cards.card_decorator import CardDecorator

    CardDecorator._called_once = {}
    CardDecorator.total_decos_on_step = {}
    CardDecorator.step_counter = 0
    CardDecorator.task_finished_decos = 0
    CardDecorator.card_creator = None


# -- metaflow.Runner / Deployer in a kernel (runtime path, %mf_run, %mf_resume, %mf_deploy) ---
@contextlib.contextmanager
def _kernel_subprocess_api(flow_file: str) -> Iterator[None]:
    """Around creating a ``Runner`` or ``Deployer``, without two side effects on a long-lived
    kernel: both cache the flow module by path (``click_api.loaded_modules``), so a regenerated
    file at the same path would keep the old Parameters (the entry is dropped first); their
    ``SubprocessManager`` takes over SIGINT (on the running asyncio loop or with
    ``signal.signal``), which ipykernel re-installs around every execution but a plain IPython
    shell does not (Ctrl-C would stop raising KeyboardInterrupt): both are restored."""
    import asyncio
    import os
    import signal

    from metaflow.runner import click_api

    click_api.loaded_modules.pop(os.path.abspath(flow_file), None)
    saved = signal.getsignal(signal.SIGINT)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    try:
        yield
    finally:
        if loop is not None:
            loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, saved)


def _kernel_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The kernel's interpreter directory first on the PATH: Metaflow starts some processes
    (``@parallel`` workers) as plain ``python``."""
    import os

    env = dict(env or {})
    path = env.get("PATH", os.environ.get("PATH", ""))
    env["PATH"] = os.pathsep.join(
        [os.path.dirname(sys.executable), *filter(None, path.split(os.pathsep))]
    )
    return env


def kernel_runner(flow_file: str, **kwargs: Any) -> Any:
    """``metaflow.Runner(flow_file, **kwargs)`` made in a kernel
    (:func:`_kernel_subprocess_api`)."""
    from metaflow import Runner

    env = _kernel_env(kwargs.pop("env", None))
    with _kernel_subprocess_api(flow_file):
        return Runner(flow_file, env=env, **kwargs)


class MetaflowCommandFailed(Exception):
    """A Metaflow command (deploy, compile) failed; the message is its own output."""


DEPLOY_CLI_MODULES = {
    "argo-workflows": "metaflow.plugins.argo.argo_workflows_cli",
    "step-functions": "metaflow.plugins.aws.step_functions.step_functions_cli",
    "airflow": "metaflow.plugins.airflow.airflow_cli",
}


def create_options(target: str, words: Sequence[str]) -> dict[str, Any]:
    """``create`` options of a deploy target (``--only-json``, ``--max-workers 4``...) parsed by
    Metaflow's own click command, as keyword arguments for its click API; only those given.
    Raises ``ValueError`` with click's words and the command's usage (or help)."""
    import importlib

    command = importlib.import_module(DEPLOY_CLI_MODULES[target]).create
    args = list(words)
    if target == "airflow":
        args.insert(0, "DAG_FILE")  # the FILE argument, given separately
    try:
        ctx = command.make_context(f"{target} create", args)
    except click.exceptions.Exit:  # --help
        raise ValueError(
            command.get_help(click.Context(command, info_name=f"%mf_deploy {target}"))
        ) from None
    except click.ClickException as exc:
        usage = command.get_usage(click.Context(command, info_name=f"%mf_deploy {target}"))
        raise ValueError(f"{exc.format_message()}\n{usage}") from None
    defaults = {p.name: p.get_default(ctx) for p in command.params}
    return {
        k: v
        for k, v in ctx.params.items()
        if k != "file" and v != defaults.get(k) and v not in ((), None)
    }


def deploy(
    flow_file: str, target: str, top: dict[str, Any], group: dict[str, Any], create: dict[str, Any]
) -> tuple[Any, str]:
    """``Deployer(flow_file, **top).<target>(**group).create(**create)`` as ``NBDeployer`` does,
    made in a kernel; returns Metaflow's deployed-flow object and the command's stdout (the
    compiled spec with ``only_json``). Raises :class:`MetaflowCommandFailed` with Metaflow's
    output when the command fails."""
    import os

    from metaflow import Deployer

    with _kernel_subprocess_api(flow_file):
        impl = getattr(
            Deployer(
                flow_file,
                show_output=False,
                env=_kernel_env({"JPY_PARENT_PID": ""}),
                cwd=os.path.dirname(flow_file),
                **top,
            ),
            target.replace("-", "_"),
        )(**group)
    try:
        deployed = impl.create(**create)
    except RuntimeError:
        raise MetaflowCommandFailed(_command_output(impl.spm, "stderr")) from None
    return deployed, _command_output(impl.spm, "stdout")


def airflow_create(
    flow_file: str,
    top: dict[str, Any],
    group: dict[str, Any],
    dag_file: str,
    create: dict[str, Any],
) -> None:
    """``python flow_file [top] airflow [group] create DAG_FILE [create]`` through Metaflow's
    click API (Airflow has no ``Deployer``). Raises :class:`MetaflowCommandFailed`."""
    import os
    import subprocess

    from metaflow.cli import start
    from metaflow.runner.click_api import MetaflowAPI

    with _kernel_subprocess_api(flow_file):
        api = MetaflowAPI.from_cli(flow_file, start)
    command = api(**top).airflow(**group).create(file=dag_file, **create)
    done = subprocess.run(
        [sys.executable, *command],
        cwd=os.path.dirname(flow_file),
        capture_output=True,
        text=True,
        env={**os.environ, **_kernel_env()},
    )
    if done.returncode != 0:
        raise MetaflowCommandFailed(_metaflow_words(done.stderr or done.stdout))


def _command_output(spm: Any, stream: str) -> str:
    """The newest command's ``stream`` in a ``SubprocessManager`` (its log file)."""
    commands = list(spm.commands.values())
    if not commands:
        return ""
    with open(commands[-1].log_files[stream], encoding="utf-8") as handle:
        text = handle.read()
    return _metaflow_words(text) if stream == "stderr" else text


def _metaflow_words(output: str) -> str:
    """Metaflow's output without its banner (version, validation) lines; of a Python traceback
    (an error Metaflow did not word itself), the exception line."""
    banner = (
        "Metaflow ",
        "Validating your flow",
        "    The graph looks good",
        "Running pylint",
        "    Pylint ",
    )
    lines = [line for line in output.splitlines() if not line.startswith(banner)]
    if "Traceback (most recent call last):" in lines:
        start = lines.index("Traceback (most recent call last):")
        last = next((line for line in reversed(lines) if line and not line.startswith(" ")), "")
        lines = [*lines[:start], last]
    return "\n".join(lines).strip()
