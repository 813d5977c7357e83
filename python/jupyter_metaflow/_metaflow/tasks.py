"""Running one task in the kernel, as Metaflow's ``step`` command runs it.

:func:`run_task` calls ``MetaflowTask.run_step`` against the flow's datastore and metadata,
its output shown in the cell and saved as Metaflow saves task logs, Interrupt Kernel held
while a finished task's bookkeeping completes, and only the step's own decorators active.
"""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from metaflow import FlowSpec, decorators, parameters
from metaflow.mflog import TASK_LOG_SOURCE
from metaflow.mflog.mflog import decorate
from metaflow.task import MetaflowTask

from .artifacts import is_user_artifact
from .backend import Backend
from .flowclass import fresh_subclass, quiet_echo
from .taskstate import TaskState, stack_key


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
    claimed: bool = False,
) -> TaskOutcome:
    """Run one task of ``step`` in this process with Metaflow's task code.

    ``input_paths`` are ``run/step/task`` pathspecs (may point into other runs); ``task_id``
    one :meth:`Backend.claim_task_id` gave (by the kernel for a worker; ``claimed``: not
    registered yet, the task registers it), else a new one. Output
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
            quiet_echo,
            quiet_echo,
            {},
        )
        with _own_step_decorators_only(flow, step):
            decorators._init_step_decorators(
                flow, flow._graph, backend.environment, backend.flow_datastore, quiet_echo
            )
    # the task's system metadata (script name, git info) describe the flow's script, as
    # in a task process of Metaflow's runtime
    sys.argv[0] = script_name
    if task_id is None:
        task_id = backend.new_task_id(run_id, step)
    elif claimed:
        backend.metadata.register_claimed(run_id, step, task_id)
    # a foreach join's TaskDataStoreSet leaves its own blob cache on the store: a task
    # process starts without it
    backend.flow_datastore.ca_store.set_blob_cache(backend.blob_cache)
    task = MetaflowTask(
        flow,
        backend.flow_datastore,
        backend.metadata,
        backend.environment,
        quiet_echo,
        backend.event_logger,
        backend.monitor,
        None,
    )
    out, err = _Tee(sys.stdout), _Tee(sys.stderr, hidden_line=lambda: f"{flow} failed:")
    error: BaseException | None = None
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
                artifacts = sum(1 for name, _ in ds.items() if is_user_artifact(name))
    transition = getattr(flow, "_transition", None) if error is None else None
    next_steps, foreach_var = (list(transition[0]), transition[1]) if transition else ([], None)
    state = TaskState(
        step=step,
        task_id=task_id,
        ok=error is None,
        next_steps=next_steps,
        foreach_var=foreach_var,
        num_splits=getattr(flow, "_foreach_num_splits", None) if foreach_var else None,
        foreach_stack=stack_key(getattr(flow, "_foreach_stack", None)),
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
