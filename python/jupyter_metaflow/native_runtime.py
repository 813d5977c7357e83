"""Steps and runs that need Metaflow's runtime: ``metaflow.Runner`` on the exported flow.

Some step decorators only work under ``NativeRuntime`` (it launches every task as a
subprocess and lets decorators rewrite that command or relaunch it): ``@kubernetes``,
``@batch``, ``@conda``, ``@pypi``, ``@parallel`` (the step ``num_parallel`` starts), ``@timeout``,
``@environment``, ``@retry`` with retries, and any decorator with ``runtime_*`` hooks.
:func:`runtime_reasons` says which of them a step has.

Such a step is executed the way Metaflow itself continues a run: ``resume STEP
--origin-run-id <notebook's current run>`` on the flow file the one exporter
(:mod:`jupyter_metaflow.export`) generates from the notebook. Metaflow clones every task the
step does not depend on (metadata only), runs the step under its runtime with all its
decorators, and, as ``resume`` always does, runs the steps after it. The resumed run then
becomes the notebook's current run, so later in-kernel steps read its artifacts. ``start``
itself has no run to resume from and is executed with ``run``. (The hidden ``step`` command
would run one task only, but without the runtime's retries, environments, remote launch and
``@parallel`` control tasks, which is exactly what these decorators need.)

The generated file is ``<notebook>.nbflow.py`` in the kernel's working directory (the
notebook's folder), so Metaflow packages the notebook's helper modules with it for remote
compute. :func:`stream_run` runs any ``Runner`` call with its logs streamed into the cell and
a per-step progress line; ``%mf_run`` and ``%mf_resume`` use it too.
"""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from . import _metaflow as mf
from . import cards
from .cells import TWO_VALUE_FLOW_OPTIONS
from .events import Listener, StepEvent, emit
from .export import HEADER, ExportError, export_cells, write_atomic
from .task_errors import UNKNOWN_USER_FIX

if TYPE_CHECKING:
    from metaflow import FlowSpec

    from .cells import CellInput
    from .flowbuild import BuiltFlow

__all__ = [
    "GENERATED_SUFFIX",
    "RunProgress",
    "RuntimeRun",
    "RuntimeRunFailed",
    "generated_flow_file",
    "report",
    "run_step_in_runtime",
    "runtime_reasons",
    "stream_run",
]

GENERATED_SUFFIX = ".nbflow.py"

_RUNTIME_ONLY = {
    "kubernetes": "@kubernetes launches the task on Kubernetes",
    "batch": "@batch launches the task on AWS Batch",
    "conda": "@conda builds the step's Conda environment",
    "pypi": "@pypi builds the step's PyPI environment",
    "parallel": "@parallel starts a control task and its workers",
    "timeout": "@timeout is enforced on the task process",
    "environment": "@environment sets the task process's environment",
}
_RUNTIME_ONLY_FLOW = {
    "conda_base": "@conda_base builds every step's Conda environment",
    "pypi_base": "@pypi_base builds every step's PyPI environment",
}
_ENVIRONMENTS = {"pypi": "pypi", "pypi_base": "pypi", "conda": "conda", "conda_base": "conda"}


class RuntimeRunFailed(Exception):
    """A run under Metaflow's runtime did not succeed; its logs are already in the cell."""


def runtime_reasons(flow_cls: type[FlowSpec], step: str) -> list[str]:
    """Why ``step`` must run under Metaflow's runtime (empty: it can run in the kernel)."""
    node = mf.flow_graph(flow_cls)[step]
    reasons = []
    for deco in node.decorators:
        if deco.name in _RUNTIME_ONLY:
            reasons.append(_RUNTIME_ONLY[deco.name])
        elif deco.name == "retry":
            times = int(mf.decorator_attribute(flow_cls, deco, "times") or 0)
            if times > 0:
                reasons.append(f"@retry(times={times}) relaunches a failed task")
        elif mf.acts_in_runtime(deco):
            reasons.append(f"@{deco.name} acts in Metaflow's runtime")
    reasons += [
        why for name, why in _RUNTIME_ONLY_FLOW.items() if name in mf.flow_decorator_names(flow_cls)
    ]
    return list(dict.fromkeys(reasons))


def environment_option(flow_cls: type[FlowSpec]) -> dict[str, str]:
    """``--environment`` for a flow with ``@pypi``/``@conda`` (or their ``_base`` forms),
    unless Metaflow's configuration already picks an environment: Metaflow's runtime
    refuses those decorators in its default ``local`` environment."""
    if mf.default_environment() != "local":
        return {}
    names = mf.flow_decorator_names(flow_cls) | {
        d.name for node in mf.flow_graph(flow_cls) for d in node.decorators
    }
    kinds = {_ENVIRONMENTS[name] for name in names if name in _ENVIRONMENTS}
    return {"environment": "pypi" if kinds == {"pypi"} else "conda"} if kinds else {}


def split_config_args(args: Sequence[str]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The ``%%flow`` line's ``--config NAME FILE`` / ``--config-value NAME JSON`` options
    (Metaflow's top-level options, before ``run``) apart from its parameter options."""
    configs, params = [], []
    tokens = list(args)
    while tokens:
        token = tokens.pop(0)
        if token in TWO_VALUE_FLOW_OPTIONS and len(tokens) >= 2:
            configs.append((token, tokens.pop(0), tokens.pop(0)))
        else:
            params.append(token)
    return configs, params


def top_level_options(built: BuiltFlow) -> tuple[dict[str, Any], list[str]]:
    """What goes before the command for this flow, as ``Runner`` keywords and as command-line
    words: ``--environment`` (:func:`environment_option`), the ``%%flow`` line's storage
    options (``--datastore s3``...) and Configs."""
    kwargs: dict[str, Any] = dict(environment_option(built.cls))
    words = [f"--environment={kwargs['environment']}"] if kwargs else []
    for key, value in built.storage_options.items():
        kwargs[key] = value
        words += [f"--{key.replace('_', '-')}", shlex.quote(value)]
    for option, name, value in split_config_args(built.param_args)[0]:
        key = option[2:].replace("-", "_")
        kwargs.setdefault(key, []).append(
            (name, json.loads(value) if key == "config_value" else value)
        )
        words += [option, shlex.quote(name), shlex.quote(value)]
    return kwargs, words


def command_line(flow_file: Path, top: Sequence[str], command: str) -> str:
    """How the run reads on Metaflow's command line: ``python FILE [TOP OPTIONS] COMMAND``."""
    return " ".join(["python", shlex.quote(flow_file.name), *top, command])


def generated_flow_file(
    cells: Sequence[Any],
    notebook_path: str | None,
    flow_name: str,
    directory: str | os.PathLike[str],
) -> Path:
    """Export the notebook with the one exporter into ``<notebook>.nbflow.py`` in ``directory``.

    The file is ours: it is rewritten when the notebook changed. A file of that name that the
    exporter did not write is never overwritten.
    """
    stem = Path(notebook_path).stem if notebook_path else flow_name
    path = Path(directory) / f"{stem}{GENERATED_SUFFIX}"
    try:
        text = export_cells(list(cells), notebook_path)
    except ExportError as exc:
        raise RuntimeRunFailed(
            f"The notebook cannot be exported for Metaflow's runtime:\n{exc}"
        ) from None
    prefix = HEADER.split("{source}")[0]
    if path.is_symlink():  # never ours; a dangling one would make the write create its target
        raise RuntimeRunFailed(
            f"{path} is a symbolic link, not a file jupyter-metaflow generated; remove it so the "
            "flow file for Metaflow's runtime can be written there."
        )
    if path.exists() and not path.read_text(encoding="utf-8", errors="replace").startswith(prefix):
        raise RuntimeRunFailed(
            f"{path} exists and was not generated by jupyter-metaflow; move it away so the "
            "flow file for Metaflow's runtime can be written there."
        )
    write_atomic(path, text, force=True)
    return path


# -- progress -------------------------------------------------------------------------------
_TASK_LINE = re.compile(
    r"\[(?P<run>[^/\]\s]+)/(?P<step>[^/\]\s]+)/(?P<task>[^\s\]]+)(?: \(pid \d+\))?\] (?P<msg>.*)"
)
_STARTING = re.compile(r"Workflow starting \(run-id (?P<run>[^)]+)\)")


class RunProgress:
    """Per-step task counts parsed from the runtime's log lines, shown as one updating line.

    ``listeners`` (the notebook session's) receive a ``StepEvent`` per task status change,
    so the DAG views follow a run made by Metaflow's runtime too.
    """

    MARKS: ClassVar[dict[str, str]] = {"running": "▶", "done": "✓", "cloned": "↺", "failed": "✗"}

    def __init__(self, flow: str, steps: Iterable[str], listeners: Iterable[Listener] = ()) -> None:
        self.flow = flow
        self.steps = list(steps)
        self.run_id: str | None = None
        self.tasks: dict[str, dict[str, str]] = {s: {} for s in self.steps}
        self.listeners = list(listeners)
        self._handle: Any = None
        self._shown = ""
        self._last = 0.0

    def feed(self, line: str) -> None:
        """Update from one log line of the runtime."""
        started = _STARTING.search(line)
        if started:
            self.run_id = started.group("run")
            return
        match = _TASK_LINE.search(line)
        if not match:
            return
        msg = match.group("msg")
        state = (
            "running"
            if msg.startswith("Task is starting")
            else "done"
            if msg.startswith("Task finished successfully")
            else "failed"
            if msg.startswith("Task failed")
            else "cloned"
            if msg.startswith("Cloning previously run task")
            else None
        )
        if state:
            self._set(match.group("run"), match.group("step"), match.group("task"), state)

    def _set(self, run_id: str, step: str, task: str, state: str) -> None:
        self.run_id = self.run_id or run_id
        self.tasks.setdefault(step, {})[task] = state
        event = StepEvent(
            "done" if state == "cloned" else state,
            step=step,
            flow=self.flow,
            run_id=run_id,
            task_id=task,
        )
        emit(self.listeners, event)
        self.show()

    def summary(self) -> str:
        """``Flow/run: start ✓  train ▶ 3  join ·``: each step's state and task count."""
        parts = []
        for step in self.steps:
            states = list(self.tasks.get(step, {}).values())
            if not states:
                parts.append(f"{step} ·")
                continue
            worst = next((s for s in ("failed", "running", "done") if s in states), "cloned")
            count = f" {len(states)}" if len(states) > 1 else ""
            parts.append(f"{step} {self.MARKS[worst]}{count}")
        run = f"{self.flow}/{self.run_id}" if self.run_id else self.flow
        return f"{run}: " + "  ".join(parts)

    def html(self) -> str:
        """:meth:`summary` as HTML (every part escaped)."""
        cells = []
        for part in self.summary().split(": ", 1)[1].split("  "):
            cells.append(f"<span style='margin-right:1em'>{html.escape(part)}</span>")
        head = html.escape(self.summary().split(": ", 1)[0])
        return f"<div class='jp-mf-RunProgress'><b>{head}</b>: {''.join(cells)}</div>"

    def show(self, force: bool = False) -> None:
        """Display (first call) or update the progress line, at most ten times a second."""
        text = self.summary()
        now = time.monotonic()
        if text == self._shown or (not force and now - self._last < 0.1):
            return
        self._shown, self._last = text, now
        try:
            from IPython.display import display
        except ImportError:  # not in IPython
            return
        bundle = {"text/plain": text, "text/html": self.html()}
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)


# -- running under Metaflow's runtime --------------------------------------------------------
def stream_run(runner: Any, launch: Callable[[], Any], progress: RunProgress) -> Any:
    """Call ``launch()`` (a blocking ``Runner.run``/``resume``) in a thread while this thread
    copies the subprocess's stdout and stderr into the cell line by line and feeds
    ``progress``. What Metaflow writes to stderr before the run starts (its banner, "The
    graph looks good!") is shown as output, above the run's log, as a terminal shows it;
    it stays error output when no run started (it then holds the reason). Interrupting the
    kernel kills the subprocess. Returns the ``ExecutingRun``; raises
    :class:`RuntimeRunFailed` when the process did not get to start a run."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["run"] = launch()
        except BaseException as exc:  # reported in the calling thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="jupyter-metaflow-runner", daemon=True)
    thread.start()
    preamble = _Preamble()
    # stderr first: its preamble lines go out before the stdout line that starts the run
    tails = {
        "stderr": _Tail(sys.stderr, progress, preamble, errors=True),
        "stdout": _Tail(sys.stdout, progress, preamble),
    }
    command = None
    progress.show(force=True)
    try:
        while True:
            alive = thread.is_alive()
            if command is None and runner.spm.commands:
                command = next(iter(runner.spm.commands.values()))
            if command is not None:
                for name, tail in tails.items():
                    tail.read(command.log_files.get(name), final=not alive)
            if not alive:
                break
            thread.join(0.05)
    except KeyboardInterrupt:
        if command is not None:
            command.kill()
        thread.join(10)
        preamble.release(sys.stderr)
        print("Interrupted: the run's process was stopped.", file=sys.stderr)
        raise
    refusal = "".join(preamble.lines)
    preamble.release(sys.stderr)
    progress.show(force=True)
    if "error" in result:
        from metaflow.exception import MetaflowUnknownUser

        if f"{MetaflowUnknownUser.headline}:" in refusal:
            raise RuntimeRunFailed(
                f"Metaflow's runtime could not start the run: {MetaflowUnknownUser.headline} "
                f"(its output is above). {UNKNOWN_USER_FIX}, then run it again."
            )
        message = str(result["error"]).strip().splitlines()
        raise RuntimeRunFailed(
            "Metaflow's runtime stopped before the run started (its output is above): "
            + (message[0] if message else type(result["error"]).__name__)
        )
    return result["run"]


class _Preamble:
    """The stderr lines Metaflow's runtime wrote before the run started, held back until it
    starts (then shown as output: banner and validation) or ends without starting (then as
    errors: they say why)."""

    def __init__(self) -> None:
        self.started = False
        self.lines: list[str] = []

    def release(self, stream: Any) -> None:
        """Write the held lines to ``stream``; later stderr lines go straight to stderr."""
        self.started = True
        for line in self.lines:
            stream.write(line)
        self.lines = []
        stream.flush()


class _Tail:
    """Copies complete new lines of a growing log file to a stream."""

    def __init__(
        self, stream: Any, progress: RunProgress, preamble: _Preamble, errors: bool = False
    ) -> None:
        self.stream = stream
        self.progress = progress
        self.preamble = preamble
        self.errors = errors
        self.position = 0
        self.partial = ""

    def read(self, path: str | None, final: bool) -> None:
        if not path or not os.path.exists(path):
            return
        with open(path, encoding="utf-8", errors="replace") as handle:
            handle.seek(self.position)
            chunk = handle.read()
            self.position = handle.tell()
        text = self.partial + chunk
        lines = text.split("\n")
        self.partial = "" if final else lines.pop()
        if final and lines and not lines[-1]:
            lines.pop()
        for line in lines:
            if self.errors and not self.preamble.started:
                self.preamble.lines.append(line + "\n")
                continue
            if not self.preamble.started and _STARTING.search(line):
                self.preamble.release(self.stream)
            self.stream.write(line + "\n")
            self.progress.feed(line)
        self.stream.flush()


@dataclass
class RuntimeRun:
    """A run Metaflow's runtime made for one step: its id, final status and progress."""

    run_id: str
    status: str
    origin_run: str | None
    flow_file: Path
    progress: RunProgress


def run_step_in_runtime(
    built: BuiltFlow,
    step: str,
    reasons: list[str],
    origin_run: str | None,
    param_args: Sequence[str] = (),
    *,
    cells: Sequence[CellInput],
    notebook_path: str | None,
    listeners: Iterable[Listener] = (),
) -> RuntimeRun:
    """Execute ``step`` under Metaflow's runtime (``resume`` from ``origin_run``, or ``run``
    for the start step) from the flow file exported from ``cells``; ``listeners`` receive
    its task events. The caller makes the run the notebook's current run, then
    :func:`report` s it."""
    cwd = os.getcwd()
    flow_file = generated_flow_file(cells, notebook_path, built.cls.__name__, cwd)
    params = split_config_args(param_args)[1]
    command = (
        f"resume {step} --origin-run-id {origin_run}"
        if origin_run
        else " ".join(["run", *(shlex.quote(a) for a in params)])
    )
    top, words = top_level_options(built)
    print(
        f"Step {step!r} runs under Metaflow's runtime, not in the kernel: {'; '.join(reasons)}.\n"
        f"Running `{command_line(flow_file, words, command)}`"
        + (" (as resume does, the steps after it run there too)." if origin_run else "."),
        flush=True,
    )
    progress = RunProgress(built.cls.__name__, [s.name for s in built.model.steps], listeners)
    runner = mf.kernel_runner(str(flow_file), show_output=False, cwd=cwd, pylint=False, **top)
    with runner:
        if origin_run:
            launch = lambda: runner.resume(step_to_rerun=step, origin_run_id=origin_run)  # noqa: E731
        else:
            values = parameter_kwargs(built, params)
            launch = lambda: runner.run(**values)  # noqa: E731
        executing = stream_run(runner, launch, progress)
        run_id = executing.run.id
        status = executing.status
    return RuntimeRun(run_id, status, origin_run, flow_file, progress)


def report(built: BuiltFlow, step: str, run: RuntimeRun) -> None:
    """After the run became the notebook's current run: the step's cards, and what happened
    (raises :class:`RuntimeRunFailed` when the run failed)."""
    if cards.has_card(built.graph, step) and run.status == "successful":
        cards.display_cards(built.cls.__name__, run.run_id, step, run.flow_file.name)
    if run.status != "successful":
        raise RuntimeRunFailed(
            f"Step {step!r} failed under Metaflow's runtime in run "
            f"{built.cls.__name__}/{run.run_id} "
            f"({'resume' if run.origin_run else 'run'}; its log is above). The notebook's current "
            "run is now that run; earlier runs are unchanged."
        )
    after = [
        s
        for s, tasks in run.progress.tasks.items()
        if s != step and tasks and any(v == "done" for v in tasks.values())
    ]
    print(
        f"Done: {built.cls.__name__}/{run.run_id} is now the notebook's current run."
        + (
            f" The runtime also ran {', '.join(after)}; executing those cells runs them again "
            "in the kernel, in a new run."
            if after and run.origin_run
            else ""
        ),
        flush=True,
    )


def parameter_kwargs(built: BuiltFlow, args: Sequence[str]) -> dict[str, Any]:
    """Parameter values given as ``--name value`` options, converted by the flow's own click
    options (what ``Runner.run(**kwargs)`` type-checks against); defaults are left to the run."""
    given = {a[2:].split("=", 1)[0].replace("-", "_").lower() for a in args if a.startswith("--")}
    try:
        values = mf.parameter_values(built.cls, list(args), f"{built.cls.__name__} run")
    except mf.UsageError as exc:
        raise RuntimeRunFailed(f"Bad parameter option: {exc}") from None
    return {k: v for k, v in values.items() if k in given}
