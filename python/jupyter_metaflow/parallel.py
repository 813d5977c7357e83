"""Running one step's tasks (foreach splits) in the worker pool, and when that pays.

The rule (:func:`workers_pay`), from what this kernel measured:

* ``d``: a task's time in the kernel: the median of the step's kernel tasks in this execution,
  else in its previous one (its worker tasks' when none ran in the kernel); without one, the
  first split runs in the kernel and is timed (it stays a kernel task); ``d_w``: the same
  task's time in a worker, the fastest of the step's worker tasks in this execution, else in
  its last one with any (``d`` until a worker ran one): a worker's task can take longer than the
  kernel's for reasons every task pays (its caches cold, its inputs loaded anew), while a slower
  one met a busy core, which the next need not (a median would keep a step in the kernel after
  one execution on a loaded machine);
* ``s``: a worker's start (spawn to ready), measured when one last started; ``b``: building the
  flow in a worker (module cells, step cells), measured; ``c``: a worker task's overhead as the
  kernel sees it (its wall time minus the task's own), median of the recent ones, or a ping's
  round trip before any worker task ran; ``k``: the kernel's own work per worker task
  (allocating its id, its events, reading its result), median of the recent ones (0 before any).

The remaining ``m`` tasks go to ``W = min(max workers, m)`` workers when ``b + max(T, m * k) < 0.8 *
m * d``, ``T`` the time the ``m`` tasks of ``d_w + c`` seconds take on ``W`` workers, the ready ones
free now, the others after ``s`` (the kernel dispatches one task at a time: ``m * k`` bounds how
soon they can end). While nothing is known about workers (the kernel's first foreach), one
worker starts in the background as the first split runs in the kernel, sent the next split
meanwhile (:class:`HeadStart`; idle ready workers get one too, to begin after a worker's start):
when it is ready before the kernel's split ends, the splits take longer than a worker's start
and it runs that split beside the kernel's, the rest going to workers; else the kernel takes the
split back, and the splits keep running in the kernel, the rule re-checked after each one. When
``W`` ready workers would pay but starting them now would not, they start in the background
(later tasks, or the step's next execution, use them; on a ping alone only when the work left
outweighs a worker's start). A choice made on a ping's round trip alone is checked against the
overheads measured as the first worker tasks end (:meth:`Planner.keep_going`).

Output: the tasks' output reaches the cell in task order, each under the header a sequential
run prints (``── train · split 2 of 4 ──``); the earliest unfinished task's output streams
live, the others' is held until their turn.
"""

from __future__ import annotations

import heapq
import os
import re
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any, TextIO

from .workers import OUTPUT_LIMIT, Worker, WorkerPool, claim_once, get_pool

__all__ = [
    "MAX_WORKERS_VARIABLE",
    "HeadStart",
    "Job",
    "Measurements",
    "ParallelOutcome",
    "Planner",
    "default_max_workers",
    "max_workers_limit",
    "measurements",
    "run_in_workers",
    "workers_pay",
]

MARGIN = 0.8
"""Workers are used only when they are expected to take at most this share of the kernel's time."""
PING_WAIT_SECONDS = 0.5
"""How long the rule waits for a newly ready worker's first round trip (an idle worker answers
in milliseconds) rather than deciding without it."""
HEAD_START_WAIT_SECONDS = 0.5
"""How long an idle worker waits before it may begin a head start, when no worker's start was
measured (else that start's time)."""
INTERRUPT_GRACE_SECONDS = 3.0
"""After an interrupt, how long workers get to report their interrupted task before SIGKILL."""


MAX_WORKERS_VARIABLE = "METAFLOW_RUN_MAX_WORKERS"
"""Metaflow's own environment variable for ``run --max-workers``; the kernel reads it too."""


def default_max_workers() -> int:
    """The machine's cores available to this process."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def max_workers_limit(line: int | None, setting: int | None) -> tuple[int, str]:
    """How many workers a step's tasks may use, and where that comes from: the ``%%flow``
    line's ``--max-workers``, else the JupyterLab setting, else ``METAFLOW_RUN_MAX_WORKERS``
    (when a positive integer), else the machine's cores."""
    if line is not None:
        return line, "the %%flow line's --max-workers"
    if setting is not None:
        return setting, "the JupyterLab setting Maximum workers"
    value = os.environ.get(MAX_WORKERS_VARIABLE, "").strip()
    if re.fullmatch(r"[0-9]+", value) and int(value) >= 1:
        return int(value), MAX_WORKERS_VARIABLE
    if value:
        print(
            f"Warning: {MAX_WORKERS_VARIABLE}={value!r} is not a positive integer; using the "
            f"machine's {default_max_workers()} cores.",
            file=sys.stderr,
        )
    return default_max_workers(), "the machine's cores"


# -- what this kernel measured ----------------------------------------------------------------
@dataclass
class Measurements:
    task_seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    """``(flow, step)`` -> median kernel task time of the step's previous execution (its worker
    tasks' when none ran in the kernel)."""
    worker_task_seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    """``(flow, step)`` -> fastest worker task of the step's last execution with one."""
    overhead: deque = field(default_factory=lambda: deque(maxlen=32))
    """Recent worker-task overheads (kernel wall time minus the worker's)."""
    dispatch: deque = field(default_factory=lambda: deque(maxlen=32))
    """The kernel's own time for recent worker tasks (id, events, result)."""

    def overhead_seconds(self, pool: WorkerPool) -> float | None:
        """The median recent overhead; before any worker task, a ping's round trip."""
        if self.overhead:
            return statistics.median(self.overhead)
        return pool.ping_seconds

    def dispatch_seconds(self) -> float:
        """The median of the kernel's own time per recent worker task (0 before any)."""
        return statistics.median(self.dispatch) if self.dispatch else 0.0


_measurements = Measurements()


def measurements() -> Measurements:
    """This kernel's measurements."""
    return _measurements


def workers_pay(
    remaining: int,
    task_seconds: float,
    max_workers: int,
    ready: int,
    startup: float | None,
    build: float | None,
    overhead: float | None,
    dispatch: float = 0.0,
    worker_task_seconds: float | None = None,
) -> bool | None:
    """Whether the remaining tasks finish sooner in workers (the rule in the module docstring);
    None when a needed worker cost is not measured yet. ``worker_task_seconds`` (``d_w``)
    defaults to ``task_seconds``."""
    workers = min(max_workers, remaining)
    if workers < 2:
        return False
    if overhead is None or (startup is None and ready < workers):
        return None
    available = [0.0] * min(ready, workers) + [startup or 0.0] * (workers - min(ready, workers))
    each = task_seconds if worker_task_seconds is None else worker_task_seconds
    tasks_end = makespan(available, remaining, each + overhead)
    parallel = (build or 0.0) + max(tasks_end, remaining * dispatch)
    return parallel < MARGIN * remaining * task_seconds


def makespan(available: list[float], tasks: int, each: float) -> float:
    """When ``tasks`` tasks of ``each`` seconds end, each taken by the first free worker
    (worker ``i`` free from ``available[i]``)."""
    free = sorted(available)
    for _ in range(tasks):
        heapq.heapreplace(free, free[0] + each)
    return max(free)


class Planner:
    """One step execution's choice between the kernel and workers, re-made before each task
    the kernel would run (see the module docstring)."""

    def __init__(
        self,
        key: tuple[str, str],
        total: int,
        max_workers: int,
        blocked: str | None,
        build: tuple[str, dict[str, Any]],
        kernel_build_seconds: float,
        limit_source: str = "",
    ) -> None:
        self.key = key
        self.total = total
        self.max_workers = max_workers
        self.limit_source = limit_source
        """Where ``max_workers`` comes from (:func:`max_workers_limit`), for the cell's note."""
        self.blocked = blocked
        """Why the tasks must stay in the kernel (said once, when workers would have paid)."""
        self.build_key, self.build_spec = build
        self.kernel_build_seconds = kernel_build_seconds
        self.kernel_times: list[float] = []
        self.worker_times: list[float] = []
        self._said = False
        self._checked = False
        self._provisional = False
        """Workers were chosen before any worker task's overhead was measured."""
        self.starting: list[Worker] = []
        """The worker started as the first task runs here (it may take a :class:`HeadStart`)."""
        self._timing = False
        """The next kernel task is the first one, timed (workers may take head starts)."""
        self.withdrawn = False
        """:meth:`keep_going` took the tasks back from workers: the rest of this execution stays
        in the kernel (the next one decides again), not handed back and forth on figures that
        differ by their noise."""

    def hand_off(self, remaining: int) -> bool:
        """Whether the ``remaining`` tasks go to workers now."""
        if self.total < 2 or remaining < 2 or self.max_workers < 2 or self.withdrawn:
            return False
        pool = get_pool()
        if not self._checked:  # once per execution
            self._checked = True
            pool.check_environment()
        seconds, worker_seconds = self._task_seconds()
        if seconds is None:  # the first task runs here and is timed
            self._timing = self.blocked is None
            if self.blocked is None and _measurements.overhead_seconds(pool) is None:
                # meanwhile, a worker starts on the idle core to be measured (and head start)
                self.starting = self._start(pool, 1)
            return False
        pool.poll()
        ready = [w for w in pool.live() if w.ready]
        if ready and _measurements.overhead_seconds(pool) is None:
            pool.await_ping(PING_WAIT_SECONDS)  # a ready worker's cost is a round trip away
        wanted = min(self.max_workers, remaining)
        built = sum(1 for w in ready if w.build_key == self.build_key)
        build = 0.0 if built >= wanted else (pool.build_seconds or self.kernel_build_seconds)
        overhead = _measurements.overhead_seconds(pool)
        dispatch = _measurements.dispatch_seconds()
        pays = workers_pay(
            remaining,
            seconds,
            self.max_workers,
            len(ready),
            pool.startup_seconds,
            build,
            overhead,
            dispatch,
            worker_seconds,
        )
        if pays is False:
            if (
                self.blocked is None
                # on a ping's optimism only when the work left outweighs a worker's start
                and (_measurements.overhead or remaining * seconds > (pool.startup_seconds or 0))
                and workers_pay(
                    remaining,
                    seconds,
                    self.max_workers,
                    wanted,
                    0.0,
                    build,
                    overhead,
                    dispatch,
                    worker_seconds,
                )
            ):
                self._start(pool, wanted)  # they would pay once started: start them, meanwhile here
            return False
        if self.blocked is not None:
            if pays and not self._said:
                self._said = True
                print(
                    f"Note: the tasks of {self.key[1]!r} run in the kernel, one after another: "
                    f"{self.blocked}.",
                    file=sys.stderr,
                    flush=True,
                )
            return False
        if pays is None:  # what a worker costs here is not measured yet: start one, meanwhile here
            self._start(pool, 1)
        for worker in ready:  # build the flow ahead of the tasks
            if not worker.busy:
                pool.build(worker, self.build_key, self.build_spec)
        self._provisional = bool(pays) and not _measurements.overhead
        return bool(pays)

    def _start(self, pool: WorkerPool, count: int) -> list[Worker]:
        """Start workers until ``count`` are alive; the new ones build the flow as soon as they
        are ready (the cells wait in their connection), not when a task is first sent."""
        started = pool.ensure(count)
        for worker in started:
            pool.build(worker, self.build_key, self.build_spec)
        return started

    def head_start_workers(self) -> list[tuple[Worker, float]]:
        """The workers that may take a :class:`HeadStart` as the kernel times the first task,
        each with how long it waits before it may begin it: the one started for it (its start
        is the wait) and idle ready ones (they wait what a worker's start takes), up to
        ``max_workers - 1``. A task that outlasts a worker's start is worth a worker."""
        starting, self.starting = self.starting, []
        if not self._timing:
            return []
        self._timing = False
        pool = get_pool()
        pool.poll()
        chosen = [(w, 0.0) for w in starting if not (w.dead or w.ready or w.busy)]
        wait = pool.startup_seconds or HEAD_START_WAIT_SECONDS
        chosen += [(w, wait) for w in pool.live() if w.ready and not w.busy]
        return chosen[: self.max_workers - 1]

    def adopt_head_start(self) -> None:
        """The head start's worker began its task: the tasks go to workers, the choice checked
        as their overheads are measured (:meth:`keep_going`)."""
        self._provisional = not _measurements.overhead

    def keep_going(self, remaining: int) -> bool:
        """Whether workers still take the ``remaining`` tasks, checked as worker tasks end: a
        choice made on a ping's round trip (no worker task measured before) is checked against
        the overheads measured, for the first two tasks per worker (a ping misses the kernel's
        share of a task, and the first tasks' overheads can be lucky ones: the others were not
        running yet)."""
        if not self._provisional or not _measurements.overhead:
            return True
        if len(self.worker_times) >= 2 * self.max_workers:
            self._provisional = False
        seconds, worker_seconds = self._task_seconds()
        pool = get_pool()
        going = (
            workers_pay(
                max(remaining, 2),  # the last task: on a free worker unless workers are slower
                seconds if seconds is not None else statistics.median(self.worker_times),
                self.max_workers,
                self.max_workers,
                pool.startup_seconds,
                0.0,
                _measurements.overhead_seconds(pool),
                _measurements.dispatch_seconds(),
                worker_seconds,
            )
            is not False
        )
        self.withdrawn = not going
        return going

    def _task_seconds(self) -> tuple[float | None, float | None]:
        """``d`` and ``d_w`` of the rule: this execution's kernel and worker task times, else
        the step's previous execution's."""
        kernel = (
            statistics.median(self.kernel_times)
            if self.kernel_times
            else _measurements.task_seconds.get(self.key)
        )
        if kernel is None and self.worker_times:
            kernel = statistics.median(self.worker_times)
        worker = (
            min(self.worker_times)
            if self.worker_times
            else _measurements.worker_task_seconds.get(self.key)
        )
        return (worker if kernel is None else kernel), worker

    def kernel_task(self, seconds: float) -> None:
        self.kernel_times.append(seconds)

    def worker_task(self, seconds: float) -> None:
        self.worker_times.append(seconds)

    def done(self) -> None:
        """Remember the step's task times for its next execution."""
        times = self.kernel_times or self.worker_times
        if times:
            _measurements.task_seconds[self.key] = statistics.median(times)
        if self.worker_times:  # kept through executions that ran every task in the kernel
            _measurements.worker_task_seconds[self.key] = min(self.worker_times)


# -- running tasks in workers ---------------------------------------------------------------
@dataclass
class Job:
    """One task for a worker: ``payload`` is what the worker's task runner reads (run, step,
    inputs, split index, script, datastore root; the task id is added when it starts)."""

    index: Any  # the caller's ordering key (the session's split positions are tuples)
    header: str | None
    payload: dict[str, Any]
    spec: Any = None
    """The caller's description of the task (passed back to its callbacks)."""


@dataclass
class ParallelOutcome:
    """How :func:`run_in_workers` ended."""

    unrun: list[Job] = field(default_factory=list)
    """Jobs never started (after a failure, or all of them when workers could not be used)."""
    fallback: str | None = None
    """Why the tasks could not run in workers (the caller runs ``unrun`` in the kernel); None
    with ``unrun`` when measured costs said the kernel runs them sooner."""
    interrupted: bool = False


class _OrderedOutput:
    """The cell's output in job order: the head job streams, later ones wait their turn."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.streams = {"stdout": out, "stderr": err}
        self.order: list[int] = []
        self.headers: dict[int, str | None] = {}
        self.held: dict[int, list[tuple[str, tuple]]] = {}
        self.finished: set[int] = set()
        self.shown: set[int] = set()

    def add(self, job: Job) -> None:
        self.order.append(job.index)
        self.order.sort()
        self.headers[job.index] = job.header
        self.held.setdefault(job.index, [])

    def remove(self, index: int) -> None:
        """Forget a job that never began (it runs elsewhere, or not at all)."""
        if index in self.order:
            self.order.remove(index)
        self.headers.pop(index, None)
        self.held.pop(index, None)
        self._advance()

    def _head(self) -> int | None:
        return self.order[0] if self.order else None

    def write(self, index: int, kind: str, *what: Any) -> None:
        """A job's ``("out", stream, text)`` or ``("display", data, metadata)``."""
        if index == self._head():
            self._show_header(index)
            self._emit(kind, what)
        else:
            self.held[index].append((kind, what))

    def _emit(self, kind: str, what: tuple) -> None:
        if kind == "out":
            self.streams[what[0]].write(what[1])
            return
        from IPython.display import publish_display_data

        for stream in self.streams.values():  # the text before it stays before it
            stream.flush()
        publish_display_data(*what)

    def finish(self, index: int, note: str | None = None) -> None:
        if note:
            self.held[index].append(("out", ("stderr", note + "\n")))
        self.finished.add(index)
        self._advance()

    def _show_header(self, index: int) -> None:
        if index not in self.shown:
            self.shown.add(index)
            header = self.headers.get(index)
            if header:
                self.streams["stderr"].flush()
                self.streams["stdout"].write(header + "\n")
        self.streams["stdout"].flush()

    def _advance(self) -> None:
        while self.order:
            head = self.order[0]
            held = self.held.pop(head, [])
            if held or head in self.finished:
                self._show_header(head)
            for kind, what in held:
                self._emit(kind, what)
            self.held[head] = []
            if head not in self.finished:
                return
            for stream in self.streams.values():
                stream.flush()
            self.order.pop(0)
            self.held.pop(head, None)

    def close(self) -> None:
        """Show everything still held (the step ends: interrupted or failed)."""
        self.finished.update(self.order)
        self._advance()


@dataclass
class _Sent:
    """A job sent to a worker: it runs it after the ones sent before."""

    job: Job
    sent: float
    """``time.perf_counter()`` when it was sent."""
    kernel_seconds: float
    """The kernel's own time to send it (its task id, its events)."""
    begun: bool = False
    """The worker said it began the task (its ``begin`` message was read)."""
    cancelled: bool = False
    """A cancel was sent: the worker skips it unless it began it already."""
    timed: bool = True
    """Its overhead counts (a head start's wait includes the worker's start)."""


@dataclass
class HeadStart:
    """A next task, sent to a worker as the kernel runs (and times) a step's first task. The
    worker begins it only if, before the kernel takes it back, it is ready, has built the flow
    and has waited what a worker's start takes (a starting worker: its start): the kernel's
    task then takes longer than a worker's start, and they run side by side. The kernel and
    the worker each try to claim it (:func:`.workers.claim_once` on the job's ``contested``
    marker, a folder): only one of them runs it."""

    worker: Worker
    job: Job
    sent: _Sent

    @classmethod
    def send(
        cls,
        pool: WorkerPool,
        worker: Worker,
        job: Job,
        build_key: str,
        build_spec: dict[str, Any],
        start: Callable[[Job], str],
        marker: Callable[[str], str | None],
        wait: float = 0.0,
    ) -> HeadStart:
        """Send ``job`` (after the flow's cells) to ``worker``, to begin ``wait`` seconds from
        now at the earliest; ``start`` gives its task id, ``marker`` the folder deciding who
        runs it (None: the worker runs it)."""
        began_at = time.perf_counter()
        job.payload["task_id"] = start(job)
        job.payload["build_key"] = build_key
        job.payload["contested"] = marker(job.payload["task_id"])
        if wait:
            job.payload["not_before"] = time.time() + wait
        pool.build(worker, build_key, build_spec)
        worker.busy = True
        worker.send(("task", job.payload))
        now = time.perf_counter()
        return cls(worker, job, _Sent(job, now, now - began_at, timed=False))

    def take_back(self) -> bool:
        """Whether the kernel claimed the task (the worker will skip it); False: the worker
        began it, and :func:`run_in_workers` (``adopted``) reads its result."""
        marker = self.job.payload["contested"]
        if marker is not None and claim_once(marker):
            self.worker.busy = False
            return True
        return False


def run_in_workers(
    pool: WorkerPool,
    jobs: list[Job],
    max_workers: int,
    build_key: str,
    build_spec: dict[str, Any],
    start: Callable[[Job], str],
    began: Callable[[Job], None],
    finish: Callable[[Job, dict[str, Any]], list[Job]],
    skip: Callable[[Job], None],
    keep_going: Callable[[int], bool] = lambda remaining: True,
    prefetch: bool = True,
    adopted: list[HeadStart] | None = None,
) -> ParallelOutcome:
    """Run ``jobs`` on up to ``max_workers`` workers of ``pool``.

    ``start(job)`` is called as a job is sent (returns its task id, allocated by the caller);
    ``began(job)`` when the worker begins it; ``finish(job, result)`` with the worker's result
    (``failure`` set when the task failed) and returns follow-up jobs (a recursive switch's next
    iteration); ``skip(job)`` for jobs not run after a failure; ``keep_going(remaining)`` after
    each finished job: when False, no new job starts and the rest are returned in ``unrun``.

    With ``prefetch`` (the caller's task ids can be dropped unused), a busy worker is sent its
    next job while it runs one, so it begins it without waiting for the kernel; a job sent but
    not begun is cancelled when the step stops (the worker skips it) and handed back when its
    worker exits. After the first failure no new job begins; the running ones finish. An
    interrupt (``KeyboardInterrupt``) interrupts every busy worker, reports their tasks through
    ``finish`` and returns ``interrupted``. When no worker can start or build the flow, nothing
    ran and ``fallback`` says why. ``adopted``: head starts their workers began, run with the
    rest.
    """
    adopted = adopted or []
    queue = sorted(jobs, key=lambda j: j.index)
    output = _OrderedOutput(sys.stdout, sys.stderr)
    wanted = max(1, min(max_workers, len(queue) + len(adopted)))
    inflight: dict[int, deque[_Sent]] = {}  # worker pid -> the jobs sent to it, in order
    for head_start in adopted:
        output.add(head_start.job)
        inflight[head_start.worker.pid] = deque([head_start.sent])
    last_read: dict[int, float] = {}  # worker pid -> when its last result was read
    outcome = ParallelOutcome()
    state = {"stop": False, "back": False}  # stop: a task failed, or interrupted; back: to kernel
    start_errors: list[str] = []

    def open_for_more() -> bool:
        return bool(queue) and not state["stop"] and not state["back"] and not outcome.fallback

    def sent_to(worker: Worker) -> deque[_Sent]:
        return inflight.setdefault(worker.pid, deque())

    def dispatch(worker: Worker) -> None:
        """Send the worker a job when it is free (or, with ``prefetch``, its next one)."""
        sent_jobs = sent_to(worker)
        if not open_for_more() or not worker.ready or worker.dead:
            return
        if worker.build_key != build_key:
            if not sent_jobs:
                pool.build(worker, build_key, build_spec)
            return
        # a next job waits at a busy worker only while every worker has one to come
        if sent_jobs and not (prefetch and len(sent_jobs) < 2 and len(queue) >= wanted):
            return
        began_at = time.perf_counter()
        job = queue.pop(0)
        job.payload["task_id"] = start(job)
        job.payload["build_key"] = build_key
        for key in ("contested", "not_before"):  # a head start given back: this one runs it
            job.payload.pop(key, None)
        output.add(job)
        now = time.perf_counter()
        sent_jobs.append(_Sent(job, now, now - began_at))
        worker.busy = True
        if not worker.send(("task", job.payload)):
            worker_died(worker)

    def take_back(entry: _Sent) -> None:
        """A job that never began goes back to the queue (run elsewhere, or skipped)."""
        output.remove(entry.job.index)
        queue.append(entry.job)
        queue.sort(key=lambda j: j.index)

    def cancel_waiting() -> None:
        """No new job begins: cancel those sent but not begun."""
        for pid, sent_jobs in inflight.items():
            worker = next((w for w in pool.workers if w.pid == pid), None)
            for entry in sent_jobs:
                if not entry.begun and not entry.cancelled and worker is not None:
                    entry.cancelled = True
                    worker.send(("cancel", entry.job.payload["task_id"]))

    def failure_result(job: Job, interrupted: bool, event: str, message: str) -> dict[str, Any]:
        return {
            "state": {"step": job.payload["step"], "task_id": job.payload["task_id"], "ok": False},
            "duration": None,
            "artifact_count": None,
            "failure": {
                "interrupted": interrupted,
                "event": event,
                "message": message,
                "user_traceback": "",
            },
        }

    def head(worker: Worker, task_id: str) -> _Sent | None:
        sent_jobs = sent_to(worker)
        if sent_jobs and sent_jobs[0].job.payload["task_id"] == task_id:
            return sent_jobs[0]
        return None

    def complete(worker: Worker, result: dict[str, Any]) -> None:
        read_at = time.perf_counter()
        entry = sent_to(worker).popleft()
        worker.busy = bool(sent_to(worker))
        worker.tasks += 1
        if "wall" in result and entry.timed:  # from when it could begin to when it was read
            could_begin = max(entry.sent, last_read.get(worker.pid, entry.sent))
            _measurements.overhead.append(max(0.0, read_at - could_begin - result["wall"]))
        last_read[worker.pid] = read_at
        notes = [
            f"[{result[f'{s}_dropped']:,} more characters of {s} than the cell shows (limit "
            f"{OUTPUT_LIMIT:,} per task); the task's log keeps all of it]"
            for s in ("stdout", "stderr")
            if result.get(f"{s}_dropped")
        ]
        output.finish(entry.job.index, "\n".join(notes) or None)
        if result.get("failure") is not None and not state["stop"]:
            state["stop"] = True
            cancel_waiting()
        queue.extend(finish(entry.job, result))
        queue.sort(key=lambda j: j.index)
        _measurements.dispatch.append(entry.kernel_seconds + time.perf_counter() - read_at)
        if open_for_more() and not keep_going(len(queue)):
            state["back"] = True
            cancel_waiting()
        if result.get("retire"):  # it exits: what it was sent next goes to another worker
            for waiting in sent_to(worker):
                take_back(waiting)
            inflight.pop(worker.pid, None)
            worker.busy = False
            pool.discard(worker)

    def worker_died(worker: Worker) -> None:
        try:  # what it said before it ended (which task it began, or finished)
            while worker.conn.poll(0):
                message = pool.receive(worker, worker.conn.recv())
                if message is not None:
                    process(worker, message)
        except (EOFError, OSError):
            pass
        reason = worker.exit_reason()
        worker.busy = False
        pool.discard(worker)
        sent_jobs = inflight.pop(worker.pid, deque())
        if sent_jobs and sent_jobs[0].begun:
            job = sent_jobs.popleft().job
            what = (
                job.header.strip("─ ") if job.header else f"a task of step {job.payload['step']!r}"
            )
            output.finish(job.index)
            if not state["stop"]:
                state["stop"] = True
                cancel_waiting()
            queue.extend(
                finish(
                    job,
                    failure_result(
                        job,
                        False,
                        f"worker {reason}",
                        f"The worker process running {what} (pid {worker.pid}) {reason}; its task "
                        "did not finish. The step's other tasks are unaffected.",
                    ),
                )
            )
        for waiting in sent_jobs:  # never begun: another worker (or nobody, after a failure)
            take_back(waiting)
        if not worker.ready:
            start_errors.append(f"a worker process {reason} before it was ready")

    def handle(worker: Worker) -> None:
        try:
            message = pool.receive(worker, worker.conn.recv())
        except (EOFError, OSError):
            worker_died(worker)
            return
        if message is None:
            if worker.build_error is not None and not state["stop"]:
                outcome.fallback = (
                    "the flow cannot be built from the module and step cells alone "
                    f"(as the exported flow file would be): {worker.build_error}"
                )
        else:
            process(worker, message)
        if not worker.dead:
            dispatch(worker)

    def process(worker: Worker, message: tuple) -> None:
        """A message about one of the worker's tasks."""
        if message[0] in ("out", "display"):
            sent_jobs = sent_to(worker)
            if sent_jobs:
                output.write(sent_jobs[0].job.index, *message)
        elif message[0] == "begin":
            entry = head(worker, message[1])
            if entry is not None:
                entry.begun = True
                began(entry.job)
        elif message[0] == "cancelled":
            entry = head(worker, message[1])
            if entry is not None:
                sent_to(worker).popleft()
                worker.busy = bool(sent_to(worker))
                take_back(entry)
        elif message[0] == "done" and head(worker, message[1]["state"]["task_id"]) is not None:
            complete(worker, message[1])

    try:
        while any(inflight.values()) or open_for_more():
            if open_for_more():
                if len(start_errors) >= wanted and not any(w.ready for w in pool.live()):
                    outcome.fallback = "; ".join(start_errors)
                    break
                for worker in pool.ensure(wanted):  # first use, or replacing retired workers
                    pool.build(worker, build_key, build_spec)
            workers = pool.live()
            for _ in range(2):  # a job for every free worker first, then the next ones
                for worker in workers:
                    dispatch(worker)
            for conn in wait([w.conn for w in workers], timeout=1.0):
                ready = next((w for w in workers if w.conn is conn), None)
                if ready is not None and not ready.dead:
                    handle(ready)
    except KeyboardInterrupt:
        outcome.interrupted = state["stop"] = True
        cancel_waiting()
        _stop_after_interrupt(pool, inflight, handle)
        for sent_jobs in inflight.values():
            for entry in sent_jobs:
                if not entry.begun:
                    take_back(entry)
                    continue
                output.finish(entry.job.index)
                finish(
                    entry.job,
                    failure_result(
                        entry.job,
                        True,
                        "KeyboardInterrupt",
                        "the worker did not stop after the interrupt and was killed",
                    ),
                )
    finally:
        output.close()
    if (outcome.fallback is not None or state["back"]) and not state["stop"]:
        outcome.unrun = queue
    else:
        for job in queue:
            skip(job)
    return outcome


def _stop_after_interrupt(
    pool: WorkerPool, inflight: dict[int, deque[_Sent]], handle: Callable[[Worker], None]
) -> None:
    """Interrupt every busy worker (after cancelling what they were sent next); let them report
    for a moment, then kill the rest. A second interrupt kills at once."""
    for worker in [w for w in pool.live() if inflight.get(w.pid)]:
        worker.interrupt()
    deadline = time.perf_counter() + INTERRUPT_GRACE_SECONDS
    try:
        while any(inflight.values()) and time.perf_counter() < deadline:
            workers = [w for w in pool.live() if inflight.get(w.pid)]
            for conn in wait([w.conn for w in workers], timeout=0.1):
                worker = next(w for w in workers if w.conn is conn)
                try:
                    handle(worker)
                except KeyboardInterrupt:
                    raise
    except KeyboardInterrupt:
        pass
    for worker in [w for w in pool.workers if inflight.get(w.pid)]:
        worker.busy = False
        pool.discard(worker)
