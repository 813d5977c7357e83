"""The metadata provider of a kernel, which runs many tasks in one process.

Metaflow's providers serve one task process: :func:`kernel_metadata` makes one serve every
task of a kernel session, claiming local task ids so two kernels on one run never share one,
with the metadata service's requests off a task's critical path and one thread for every
task's heartbeats.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from .deferral import Deferring, wait_all

TASK_ID_CLAIMS = ".jupyter_metaflow_task_ids"
"""Folder in a run's metadata folder where each task id is claimed (one empty folder per id;
hidden, so Metaflow's listings, which glob ``*``, never see it)."""


def _write_json_file(path: str, data: Any, overwrite: bool) -> None:
    """The local metadata provider's ``_dump_json_to_file``: the same file (``json.dump``'s
    text, written to a private temporary file beside it and renamed into place, kept when it
    exists unless ``overwrite``), in one write instead of ``NamedTemporaryFile``'s buffered
    text stream (a task writes some 30 of these files; this halves their cost)."""
    if not overwrite and os.path.isfile(path):
        return
    text = json.dumps(data).encode()
    folder = os.path.dirname(path)
    while True:  # hidden, no .json: Metaflow's listings never see it
        temporary = os.path.join(folder, f".tmp{secrets.token_hex(8)}")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text)
        os.rename(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def kernel_metadata(provider: type) -> type:
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

        def claim_folder(self, run_id: str, task_id: str) -> str | None:
            """The folder claiming a local task id (None: the service hands out ids)."""
            if self.TYPE != "local":
                return None
            run_meta = self._create_and_get_metadir(self._flow_name, run_id)
            return os.path.abspath(os.path.join(run_meta, TASK_ID_CLAIMS, task_id))

        def claim_task_id(self, run_id: str, step_name: str) -> tuple[str, bool]:
            """A task id for a task another process runs, and whether it is registered
            already: a local id is only claimed (the task's process registers it, so an id
            whose task never starts leaves nothing in the run); the service registers as it
            hands one out."""
            if self.TYPE == "local":
                return self._claim_task_id(run_id), False
            return self.new_task_id(run_id, step_name), True

        def register_claimed(self, run_id: str, step_name: str, task_id: str) -> None:
            """Register a task id :meth:`claim_task_id` claimed without registering it, as
            ``new_task_id`` would have (then ``run_step`` does not register it again)."""
            self._new_task(run_id, step_name, task_id)
            self._allocated.add((run_id, step_name, task_id))

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

        @classmethod
        def _dump_json_to_file(cls, filepath, data, allow_overwrite=False):
            _write_json_file(filepath, data, allow_overwrite)

    kernel_cls: Any = KernelMetadata
    if getattr(provider, "TYPE", None) == "service":
        kernel_cls = type("KernelMetadata", (_KernelServiceRequests, KernelMetadata), {})
    kernel_cls.__name__ = kernel_cls.__qualname__ = f"Kernel{provider.__name__}"
    return kernel_cls


class _KernelServiceRequests(Deferring):
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

    def settle(self) -> None:
        queued, self._queued = self._queued, []
        wait_all(queued)

    def register_metadata(self, run_id, step_name, task_id, metadata):
        register = super().register_metadata  # type: ignore[misc]
        if not self.deferring:
            return register(run_id, step_name, task_id, metadata)
        if self._queue is None:
            from concurrent.futures import ThreadPoolExecutor

            self._queue = ThreadPoolExecutor(1, thread_name_prefix="mf-service")
        self._queued.append(self._queue.submit(register, run_id, step_name, task_id, metadata))
        return None

    def register_data_artifacts(self, run_id, step_name, task_id, attempt_id, artifacts):
        self.settle()
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
