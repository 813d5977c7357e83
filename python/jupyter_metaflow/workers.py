"""Warm worker processes that run a step's tasks (foreach splits) beside the kernel.

A worker is ``python -c "__import__('jupyter_metaflow.workers').workers.serve(FD)"`` started from
the kernel (same interpreter, working directory and environment) with Metaflow imported ahead
of its first task. It builds the flow from the notebook's cells as the exported flow file does:
the module cells run in its ``__main__`` (once per version of the cells), then the flow cell
and the step cells are compiled exactly as in the kernel (same pseudo-files, so tracebacks
name cells and cell lines). Scratch cells never run there: a split sees what it would see in
production. Each task is ``_metaflow.run_task`` with a task id the kernel allocated, against
the same local datastore and metadata: a real task of the notebook's run.

Why not fork the kernel: a fork copies scratch-cell state into the splits and only the forking
thread (ipykernel's ZMQ, heartbeat and comm threads are not in the child).

The kernel talks to a worker over a socket pair (``multiprocessing.connection`` framing):

kernel -> worker: ``("build", key, cells)``, ``("task", job)``, ``("cancel", task_id)``,
``("ping", n, sent)``, ``("exit",)``
worker -> kernel: ``("ready", pid, time)``, ``("built", key, seconds, error)``,
``("begin", task_id)``, ``("out", stream, text)``, ``("display", data, metadata)``,
``("done", result)``,
``("cancelled", task_id)``, ``("pong", n, sent, received)``

The kernel may send a busy worker its next task; the worker reads it when the current one
ends, and skips it (``cancelled``) when a ``cancel`` for it arrived by then. A task the kernel
may still run itself (``contested``: a folder path) begins, not before its ``not_before`` time
if it has one, only when the worker creates that folder first (:func:`claim_once`); else, or
when the worker could not build the flow, it is ``cancelled``.

Output a task writes with ``print``/``sys.stdout``/``sys.stderr`` travels as ``out`` messages
before its ``done`` (so it belongs to that task), at most :data:`OUTPUT_LIMIT` characters per
stream and task (the task's logs keep everything). IPython's ``display()`` in a task (which
in a plain process prints the object's repr) sends the rich output a split in the kernel shows,
as ``display`` messages in order with that text. Output written straight to the file
descriptors (a C library, a subprocess) goes to the kernel's, which Jupyter shows in the cell.

A worker exits when the kernel closes the connection or dies, after :data:`IDLE_EXIT_SECONDS`
without work, after :data:`MAX_TASKS` tasks, or when its resident memory after a task exceeds
:data:`RECYCLE_RSS_BYTES` (the pool starts another when one is needed): memory comes back. When
the machine runs out of memory, the system's out-of-memory killer picks a worker before the
kernel (:data:`OOM_SCORE_ADJ`).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib.abc
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

__all__ = [
    "IDLE_EXIT_SECONDS",
    "MAX_TASKS",
    "OOM_SCORE_ADJ",
    "OUTPUT_LIMIT",
    "RECYCLE_RSS_BYTES",
    "Worker",
    "WorkerPool",
    "claim_once",
    "get_pool",
    "serve",
]

IDLE_EXIT_SECONDS = 300.0
"""A worker without a task for this long exits (its memory returns to the machine)."""
MAX_TASKS = 200
"""A worker exits after this many tasks (a fresh one replaces it when needed)."""
RECYCLE_RSS_BYTES = 1 << 30
"""A worker whose resident memory exceeds this after a task exits after reporting it."""
OOM_SCORE_ADJ = 500
"""Added to a worker's out-of-memory score (Linux; -1000..1000): when memory runs out, the
system kills a worker (the step fails with a message) rather than the kernel."""
OUTPUT_LIMIT = 1 << 20
"""Characters of one stream of one task sent to the cell; the rest stays in the task's log."""
PINGS = 3
"""Round trips timed when a worker becomes ready (the fastest one counts)."""
_FLUSH_SECONDS = 0.05
_IDLE_COLLECT_SECONDS = 0.05
"""A worker collects garbage after a task when no next task came within this long."""


def claim_once(marker: str) -> bool:
    """Whether this process is the first to claim ``marker`` (a folder path: ``mkdir`` is
    atomic, so of the kernel and a worker exactly one runs a contested task)."""
    try:
        os.mkdir(marker)
    except OSError:
        return False
    return True


# -- kernel side ----------------------------------------------------------------------------
@dataclass
class Worker:
    """One worker process as the kernel sees it."""

    proc: subprocess.Popen
    conn: Connection
    spawned: float
    """``time.time()`` when it was started (the worker reports when it became ready)."""
    ready: bool = False
    busy: bool = False
    dead: bool = False
    build_key: str | None = None
    """The notebook version the worker has built (the kernel sends cells only when it changes)."""
    building: str | None = None
    """The notebook version it is building."""
    build_error: str | None = None
    tasks: int = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, message: tuple) -> bool:
        """Send, or mark the worker dead (it exited or was killed)."""
        try:
            self.conn.send(message)
            return True
        except (OSError, EOFError, ValueError):
            self.dead = True
            return False

    def interrupt(self) -> None:
        """SIGINT: the task it runs fails as interrupted (a worker ignores it between tasks)."""
        if not self.dead and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGINT)

    def kill(self) -> None:
        self.dead = True
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.conn.close()

    def exit_reason(self) -> str:
        """How the process ended, for error messages."""
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        if code < 0:
            name = signal.Signals(-code).name
            hint = (
                " (the system's out-of-memory killer sends it)" if -code == signal.SIGKILL else ""
            )
            return f"was killed by {name}{hint}"
        return f"exited with code {code}"


@dataclass
class WorkerPool:
    """The kernel's worker processes, started on demand and reused while the environment they
    were started in (working directory, interpreter, ``METAFLOW_*`` variables) is unchanged."""

    workers: list[Worker] = field(default_factory=list)
    startup_seconds: float | None = None
    """Measured: spawn to ``ready`` of the last worker that started."""
    ping_seconds: float | None = None
    """Measured: the fastest message round trip to a ready worker."""
    build_seconds: float | None = None
    """Measured: the last flow build in a worker."""
    _key: tuple | None = None

    @staticmethod
    def environment_key() -> tuple:
        env = tuple(
            sorted(
                (k, v)
                for k, v in os.environ.items()
                if k.startswith("METAFLOW_") or k in ("USER", "PYTHONPATH", "PATH", "HOME")
            )
        )
        return (os.getcwd(), sys.executable, env)

    def check_environment(self) -> None:
        """Stop the workers when the environment they were started in changed (once per step
        execution: reading the environment costs milliseconds)."""
        key = self.environment_key()
        if self._key != key:
            self.shutdown()
            self._key = key

    def live(self) -> list[Worker]:
        """Workers not known to have ended (checks exited processes)."""
        for worker in self.workers:
            if not worker.dead and worker.proc.poll() is not None and not worker.busy:
                worker.dead = True
                worker.conn.close()
        self.workers = [w for w in self.workers if not w.dead]
        return list(self.workers)

    def ensure(self, count: int) -> list[Worker]:
        """Start workers until ``count`` are alive (started or starting); returns the new ones."""
        started = []
        while len(self.live()) < count:
            worker = self._spawn()
            self.workers.append(worker)
            started.append(worker)
        return started

    def _spawn(self) -> Worker:
        if not self.workers:  # the environment the pool's workers start in
            self._key = self.environment_key()
        parent, child = socket.socketpair()
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    f"__import__('jupyter_metaflow.workers').workers.serve({child.fileno()})",
                ],
                pass_fds=[child.fileno()],
                stdin=subprocess.DEVNULL,
                cwd=os.getcwd(),
                env=dict(os.environ),
                start_new_session=True,  # the kernel forwards interrupts
            )
        finally:
            child.close()
        return Worker(proc, Connection(parent.detach()), time.time())

    def receive(self, worker: Worker, message: tuple) -> tuple | None:
        """Handle a message about the worker itself (``ready``, ``pong``, ``built``); returns
        any other message (a task's) for the caller."""
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self.startup_seconds = max(0.0, message[2] - worker.spawned)
            worker.send(("ping", 0, time.time()))
        elif kind == "pong":
            # twice the one-way time the worker saw (the kernel may read the pong much later)
            _, count, sent, received = message
            rtt = 2 * max(0.0, received - sent)
            self.ping_seconds = rtt if self.ping_seconds is None else min(self.ping_seconds, rtt)
            if count < PINGS - 1:  # the fastest of a few (one can meet a busy CPU)
                worker.send(("ping", count + 1, time.time()))
        elif kind == "built":
            _, key, seconds, error = message
            worker.building = None
            if error is None:
                worker.build_key, worker.build_error = key, None
                self.build_seconds = seconds
            else:
                worker.build_key, worker.build_error = None, error
        else:
            return message
        return None

    def build(self, worker: Worker, key: str, spec: dict) -> None:
        """Have the worker build notebook version ``key`` (unless it has or is building it)."""
        if worker.build_key != key and worker.building != key and worker.send(("build", key, spec)):
            worker.building = key

    def poll(self) -> None:
        """Read what idle workers reported meanwhile (ready, build results), without waiting."""
        for worker in self.live():
            if worker.busy:
                continue
            try:
                while worker.conn.poll():
                    self.receive(worker, worker.conn.recv())
            except (EOFError, OSError):
                worker.dead = True

    def await_ping(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for the first round trip to a ready worker: the
        ping it was sent when it became ready, answered at once by an idle worker."""
        deadline = time.perf_counter() + timeout
        while self.ping_seconds is None and time.perf_counter() < deadline:
            idle = [w for w in self.live() if w.ready and not w.busy]
            if not idle:
                return
            for conn in wait([w.conn for w in idle], deadline - time.perf_counter()):
                worker = next(w for w in idle if w.conn is conn)
                try:
                    self.receive(worker, worker.conn.recv())
                except (EOFError, OSError):
                    worker.dead = True

    def ready_count(self) -> int:
        return sum(1 for w in self.live() if w.ready)

    def discard(self, worker: Worker) -> None:
        worker.kill()
        if worker in self.workers:
            self.workers.remove(worker)

    def shutdown(self) -> None:
        """Stop every worker (kernel shutdown, changed environment)."""
        for worker in self.workers:
            if not worker.busy:
                worker.send(("exit",))
        for worker in self.workers:
            if worker.busy:
                worker.kill()
            else:
                try:
                    worker.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    worker.kill()
                worker.conn.close()
        self.workers = []


_pool: WorkerPool | None = None


def get_pool() -> WorkerPool:
    """This kernel's pool (stopped when the kernel exits)."""
    global _pool
    if _pool is None:
        _pool = WorkerPool()
        atexit.register(_pool.shutdown)
    return _pool


# -- worker side ----------------------------------------------------------------------------
class _Channel:
    """The worker's end of the connection; sends are serialised (the output flusher sends
    from its own thread)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def send(self, message: tuple) -> None:
        with self.lock:
            self.conn.send(message)


class _OutStream:
    """``sys.stdout``/``sys.stderr`` of a worker: text goes to the kernel as ``out`` messages,
    batched (sent every :data:`_FLUSH_SECONDS` and at every ``flush``), at most
    :data:`OUTPUT_LIMIT` characters per task."""

    def __init__(self, channel: _Channel, name: str) -> None:
        self.channel = channel
        self.name = name
        self.parts: list[str] = []
        self.sent = 0
        self.dropped = 0
        self.lock = threading.Lock()
        self.encoding = "utf-8"
        self.errors = "replace"

    def write(self, text: str) -> int:
        with self.lock:
            room = OUTPUT_LIMIT - self.sent
            if room <= 0:
                self.dropped += len(text)
            else:
                kept = text[:room]
                self.parts.append(kept)
                self.sent += len(kept)
                self.dropped += len(text) - len(kept)
        return len(text)

    def flush(self) -> None:
        with self.lock:
            text, self.parts = "".join(self.parts), []
        if text:
            self.channel.send(("out", self.name, text))

    def new_task(self) -> int:
        """Flush, start counting a new task's output; returns the characters dropped before."""
        self.flush()
        with self.lock:
            dropped, self.sent, self.dropped = self.dropped, 0, 0
        return dropped

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return 1 if self.name == "stdout" else 2


class _TaskGuard:
    """SIGINT raises KeyboardInterrupt only while a task runs; between tasks it is ignored
    (the kernel interrupts busy workers only, but a signal may cross a task's end)."""

    def __init__(self) -> None:
        self.active = False
        signal.signal(signal.SIGINT, self._handler)

    def _handler(self, signum: int, frame: Any) -> None:
        if self.active:
            raise KeyboardInterrupt


def _watch_parent(parent: int) -> None:
    """Exit when the kernel is gone (a busy worker does not read its connection)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _first_to_go_when_memory_runs_out() -> None:
    """Make the out-of-memory killer pick a worker before the kernel: a killed worker fails
    one split (and is replaced); a killed kernel loses the notebook's state."""
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as adj:
        adj.write(str(OOM_SCORE_ADJ))


def _send_displays(channel: _Channel, streams: dict[str, _OutStream]) -> None:
    """IPython's ``display()`` in a task sends the kernel what it shows in the kernel: the
    object's formats, after the text printed before it. Installed as IPython's display module
    is imported (by a step or a module cell), not before: importing IPython costs a worker's
    start some 70 ms."""

    formatters: list[Any] = []  # the one formatter, made at the first display()

    def formatter() -> Any:
        from IPython.core.formatters import DisplayFormatter

        if not formatters:
            formatters.append(DisplayFormatter())
        made = formatters[0]
        if "matplotlib.figure" in sys.modules and not getattr(made, "figures", False):
            # figures as PNG, as the kernel's inline backend shows them (plt.show() in a
            # worker of a kernel calls display(): ipykernel's MPLBACKEND is inherited)
            from types import SimpleNamespace

            from IPython.core.pylabtools import select_figure_formats

            select_figure_formats(SimpleNamespace(display_formatter=made), {"png"})
            made.figures = True
        return made

    def display(
        *objs: Any,
        include: Any = None,
        exclude: Any = None,
        metadata: dict | None = None,
        raw: bool = False,
        **_: Any,
    ) -> None:
        for obj in objs:
            if raw:
                data, meta = dict(obj), dict(metadata or {})
            else:
                data, meta = formatter().format(obj, include=include, exclude=exclude)
                meta = {**meta, **(metadata or {})}
            if data:
                for stream in streams.values():
                    stream.flush()
                channel.send(("display", data, meta))

    _after_import(_DISPLAY_MODULE, lambda module: setattr(module, "display", display))


_DISPLAY_MODULE = "IPython.core.display_functions"
"""Where IPython's ``display`` lives (``IPython.display`` imports it from there)."""


def _after_import(name: str, patch: Callable[[Any], None]) -> None:
    """Call ``patch`` with module ``name`` once it is imported (now, if it already is)."""
    if name in sys.modules:
        patch(sys.modules[name])
        return

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
            if fullname != name:
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(fullname)
            loader = spec.loader if spec is not None else None
            if loader is not None and hasattr(loader, "exec_module"):
                run = loader.exec_module

                def exec_module(module: Any) -> None:
                    run(module)
                    patch(module)

                loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, Finder())


def serve(fd: int) -> None:
    """A worker's main loop (the process entry point)."""
    _first_to_go_when_memory_runs_out()
    channel = _Channel(Connection(fd))
    guard = _TaskGuard()
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    from . import worker_tasks  # Metaflow and the flow builder, before announcing ready

    gc.freeze()  # the imported modules live as long as the worker: collections skip them

    streams = {"stdout": _OutStream(channel, "stdout"), "stderr": _OutStream(channel, "stderr")}
    sys.stdout, sys.stderr = streams["stdout"], streams["stderr"]

    def flusher() -> None:
        while True:
            time.sleep(_FLUSH_SECONDS)
            for stream in streams.values():
                try:
                    stream.flush()
                except (OSError, EOFError):
                    os._exit(1)

    threading.Thread(target=flusher, daemon=True).start()
    _send_displays(channel, streams)
    runner = worker_tasks.TaskRunner()
    channel.send(("ready", os.getpid(), time.time()))
    waiting: deque[tuple] = deque()  # messages read ahead of their turn

    def next_message(timeout: float) -> tuple | None:
        if waiting:
            return waiting.popleft()
        return channel.conn.recv() if channel.conn.poll(timeout) else None

    def read_ahead() -> bool:
        """Read what already arrived (False: the kernel closed the connection)."""
        try:
            while channel.conn.poll(0):
                waiting.append(channel.conn.recv())
        except (EOFError, OSError):
            return False
        return True

    def wait_until(moment: float | None) -> bool:
        """Wait until ``moment`` (``time.time()``), reading what arrives meanwhile (False: the
        kernel closed the connection)."""
        while moment is not None and time.time() < moment:
            try:
                if channel.conn.poll(max(0.0, moment - time.time())):
                    waiting.append(channel.conn.recv())
            except (EOFError, OSError):
                return False
        return True

    tasks = 0
    while True:
        try:
            message = next_message(IDLE_EXIT_SECONDS)
        except (EOFError, OSError, KeyboardInterrupt):
            break
        if message is None or message[0] == "exit":
            break
        if message[0] == "ping":
            channel.send(("pong", message[1], message[2], time.time()))
            continue
        if message[0] == "cancel":  # of a task that ran already
            continue
        if message[0] == "build":
            try:
                channel.send(("built", message[1], runner.build(message[1], message[2]), None))
            except worker_tasks.BuildError as exc:
                channel.send(("built", message[1], 0.0, str(exc)))
            continue
        job, begun = message[1], False
        guard.active = True  # from here an interrupt stops the task, or keeps it from beginning
        try:
            if not read_ahead():  # a cancel sent after the task is read before it begins
                break
            cancel = ("cancel", job["task_id"])
            if cancel in waiting:
                waiting.remove(cancel)
                channel.send(("cancelled", job["task_id"]))
                continue
            contested = job.get("contested")
            if contested and not wait_until(job.get("not_before")):
                break
            if contested and (job["build_key"] != runner.build_key or not claim_once(contested)):
                channel.send(("cancelled", job["task_id"]))  # the kernel runs it
                continue
            channel.send(("begin", job["task_id"]))
            begun = True
            for stream in streams.values():
                stream.new_task()
            result = runner.run(job)
        except KeyboardInterrupt:  # before the task began, or between its end and here
            if not begun:
                guard.active = False
                channel.send(("cancelled", job["task_id"]))
                continue
            result = runner.interrupted(job)
        finally:
            guard.active = False
        for name, stream in streams.items():
            stream.flush()
            result[f"{name}_dropped"] = stream.new_task()
        tasks += 1
        rss = _rss_bytes()
        result["rss"] = rss
        result["retire"] = tasks >= MAX_TASKS or rss > RECYCLE_RSS_BYTES
        channel.send(("done", result))
        if result["retire"]:
            break
        if result["failure"] is not None:  # the step stops: what waits here does not begin
            if not read_ahead():
                break
            for skipped in [m for m in waiting if m[0] == "task"]:
                waiting.remove(skipped)
                channel.send(("cancelled", skipped[1]["task_id"]))
        if not waiting and not channel.conn.poll(_IDLE_COLLECT_SECONDS):
            gc.collect()  # the task's cycles, when no next task waits for the collection
    channel.conn.close()
