"""``%mf_run``, ``%mf_resume`` and ``%mf_split``: whole runs and foreach debugging.

* ``%mf_run [--with DECO]... [--max-workers N] [--max-num-splits N] [--tag T]...
  [--param value ...]`` runs the whole notebook flow as one real run through
  ``metaflow.Runner`` on the exported flow file (see :mod:`.native_runtime`): Metaflow's own
  runtime and engines, e.g. ``--with kubernetes``. Parameter values default to the
  ``%%flow`` line's. Logs stream into the cell with a per-step progress line; the ``Run`` is
  returned and becomes the notebook's current run.
* ``%mf_resume STEP [--origin-run-id ID] [...]``: ``resume STEP`` from the notebook's current
  run (or ``ID``), the same way.
* ``%mf_split STEP INDEX`` / ``%mf_split STEP --value V``: run one split of a foreach body in
  the kernel (in a debug run that clones the current run) and preview what the join would
  receive.
"""

from __future__ import annotations

import os
import reprlib
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from . import _metaflow as mf
from . import native_runtime
from .errors import FlowDefinitionError, RunOrderError
from .flowbuild import build_flow
from .foreach import split_label
from .session import get_session
from .show.address import position

__all__ = ["RunMagics"]

PREVIEW_BYTES = 1024 * 1024
"""Largest pickled artifact ``%mf_split`` loads for its one-line preview."""

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60


def _run_options(func: Any) -> Any:
    """The Metaflow run options both ``%mf_run`` and ``%mf_resume`` accept."""
    for deco in reversed(
        [
            argument(
                "--with",
                dest="decospecs",
                action="append",
                default=[],
                metavar="DECO",
                help="add a decorator to every step, as `run --with` (e.g. kubernetes, "
                "'kubernetes:cpu=4', retry)",
            ),
            argument("--max-workers", type=int, default=None, help="tasks run in parallel"),
            argument("--max-num-splits", type=int, default=None, help="largest foreach allowed"),
            argument("--tag", dest="tags", action="append", default=[], help="tag the run"),
        ]
    ):
        func = deco(func)
    return func


@magics_class
class RunMagics(Magics):
    """Whole-flow runs through Metaflow's runtime, and single foreach splits in the kernel."""

    shell: InteractiveShell  # registered with a shell, never without one

    @magic_arguments()
    @_run_options
    @line_magic
    def mf_run(self, line: str) -> Any:
        """Run the whole notebook flow as one Metaflow run (``python flow.py run ...``).

        Options other than those below are the flow's parameters (``--alpha 0.1``).
        """
        args, params = self._parse(self.mf_run, line)
        built, flow_file = self._flow_file()
        values = native_runtime.parameter_kwargs(
            built, native_runtime.split_config_args(built.param_args)[1] + params
        )
        options = self._options(args, built)
        command = " ".join(
            ["run"]
            + [f"--with {d}" for d in args.decospecs]
            + [line_of(options)]
            + [shlex.quote(p) for p in params]
        )
        words = native_runtime.top_level_options(built)[1]
        print(
            f"Running `{native_runtime.command_line(flow_file, words, ' '.join(command.split()))}` "
            "with Metaflow's runtime.",
            flush=True,
        )
        return self._launch(built, flow_file, args, lambda r: r.run(**options, **values))

    @magic_arguments()
    @argument("step", help="the step to resume from (it and the steps after it run again)")
    @argument(
        "--origin-run-id", default=None, help="run to resume (default: the notebook's current run)"
    )
    @_run_options
    @line_magic
    def mf_resume(self, line: str) -> Any:
        """Resume a run from STEP, as ``python flow.py resume STEP --origin-run-id ID``."""
        args, rest = self._parse(self.mf_resume, line)
        if rest:
            raise UsageError(
                f"%mf_resume: unknown options {' '.join(rest)} (parameters come from the origin "
                "run)"
            )
        session = get_session()
        built, flow_file = self._flow_file()
        if args.step not in built.steps:
            raise UsageError(
                f"%mf_resume: the notebook has no step {args.step!r} "
                f"(steps: {', '.join(built.steps)})"
            )
        origin = args.origin_run_id
        if origin is None:
            current = session.restorable_run()
            if current is None or current.split("/", 1)[0] != built.cls.__name__:
                raise UsageError(
                    "%mf_resume: the notebook has no current run of "
                    f"{built.cls.__name__} yet; pass --origin-run-id or run steps first"
                )
            origin = current.split("/", 1)[1]
        options = self._options(args, built)
        command = f"resume {args.step} --origin-run-id {origin}" + (
            f" {line_of(options)}" if options else ""
        )
        words = native_runtime.top_level_options(built)[1]
        print(
            f"Running `{native_runtime.command_line(flow_file, words, command)}` with Metaflow's "
            "runtime.",
            flush=True,
        )
        return self._launch(
            built,
            flow_file,
            args,
            lambda r: r.resume(step_to_rerun=args.step, origin_run_id=origin, **options),
        )

    @magic_arguments()
    @argument("step", help="a foreach body step (the first step after the foreach)")
    @argument(
        "index",
        nargs="*",
        type=int,
        help="0-based split index; inside nested foreach, one per foreach, outermost first",
    )
    @argument(
        "--value", default=None, help="the split whose foreach value is this (its str() or repr())"
    )
    @line_magic
    def mf_split(self, line: str) -> Any:
        """Run one split of a foreach body in the kernel; preview what the join would get."""
        args, rest = self._parse(self.mf_split, line)
        if rest or bool(args.index) == (args.value is not None):
            raise UsageError("%mf_split STEP INDEX...  or  %mf_split STEP --value V")
        session = get_session()
        model = session.notebook_model()
        built = build_flow(model, self.shell.user_ns)
        graph = built.graph
        if args.step not in built.steps:
            raise UsageError(f"%mf_split: the notebook has no step {args.step!r}")
        parents = [p for p in graph[args.step].in_funcs if graph[p].type == "foreach"]
        if not parents:
            raise UsageError(f"%mf_split: {args.step!r} is not the first step of a foreach body")
        run = session.client_run()
        if run is None:
            raise RunOrderError(
                f"No current run yet: execute the steps up to {parents[0]!r} first."
            )
        splits = _foreach_splits(run, parents[0])
        position = tuple(args.index)
        if args.value is not None:
            matches = [p for p, v in splits.items() if args.value in (str(v), repr(v))]
            if not matches:
                raise UsageError(
                    f"%mf_split: no split of {args.step!r} has the value {args.value!r}; "
                    f"values: {', '.join(_short.repr(v) for v in splits.values())}"
                )
            position = matches[0]
            if len(matches) > 1:
                print(
                    f"{args.value!r} is the value of splits "
                    f"{', '.join(split_label(p) for p in matches)}; "
                    f"running {split_label(position)} (name another by its indices: "
                    f"%mf_split {args.step} {' '.join(str(i) for i in matches[1])}).",
                    flush=True,
                )
        record = session.run_split(args.step, position, self.shell.user_ns)
        group = [v for p, v in splits.items() if p[:-1] == position[:-1]]
        _preview_join(built, record, args.step, parents[0], position, group, session)
        return None

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _parse(magic: Any, line: str) -> tuple[Any, list[str]]:
        from IPython.core.magic_arguments import arg_split

        parser = magic.parser
        try:
            args, rest = parser.parse_known_args(
                arg_split(line, posix=True)
            )  # quotes as in a shell
        except UsageError as exc:
            usage = parser.format_usage().split("::", 1)[-1].strip()
            raise UsageError(f"{exc}\nUsage: {usage}") from None
        return args, rest

    def _flow_file(self) -> tuple[Any, Any]:
        return notebook_flow_file(self.shell.user_ns)

    @staticmethod
    def _options(args: Any, built: Any) -> dict[str, Any]:
        """The run options; ``--max-workers`` defaults to the ``%%flow`` line's."""
        options: dict[str, Any] = {}
        if args.tags:
            options["tags"] = list(args.tags)
        max_workers = args.max_workers if args.max_workers is not None else built.max_workers
        if max_workers is not None:
            options["max_workers"] = max_workers
        if args.max_num_splits is not None:
            options["max_num_splits"] = args.max_num_splits
        return options

    def _launch(self, built: Any, flow_file: Any, args: Any, call: Any) -> Any:
        session = get_session()
        progress = native_runtime.RunProgress(
            built.cls.__name__, list(built.steps), session.listeners
        )
        top = {"decospecs": list(args.decospecs)} if args.decospecs else {}
        top.update(native_runtime.top_level_options(built)[0])
        runner = mf.kernel_runner(
            str(flow_file), show_output=False, cwd=os.getcwd(), pylint=False, **top
        )
        with runner:
            executing = native_runtime.stream_run(runner, lambda: call(runner), progress)
            run = executing.run
            status = executing.status
        adopted = session.adopt_run(built, run.id) is not None
        if adopted:  # the DAG reads the run whole, as a chosen run: per-case switch counts
            from .sync import get_sync

            get_sync().reload_run()
        where = (
            "It is now the notebook's current run"
            if adopted
            else "It is stored outside the kernel's local datastore (Metaflow's configuration), so "
            f"in-kernel steps keep using {session.current_run or 'no run'}"
        )
        if status != "successful":
            raise native_runtime.RuntimeRunFailed(
                f"Run {run.pathspec} did not succeed (Metaflow's log is above). {where}; fix the "
                "failing step and use %mf_resume STEP."
            )
        print(f"Done: {run.pathspec}. {where}.", flush=True)
        return run


def notebook_flow_file(user_ns: dict[str, Any]) -> tuple[Any, Any]:
    """The notebook's built flow and its generated flow file (what Metaflow's runtime and
    deployers run)."""
    session = get_session()
    model = session.notebook_model()
    if model.errors:
        raise FlowDefinitionError(
            "The notebook's flow has problems:\n" + "\n".join(f"  - {e}" for e in model.errors)
        )
    built = build_flow(model, user_ns)
    flow_file = native_runtime.generated_flow_file(
        session.last_cells, session.notebook_path(), built.cls.__name__, os.getcwd()
    )
    return built, flow_file


def line_of(options: dict[str, Any]) -> str:
    """``{"max_workers": 2, "tags": ["a"]}`` -> ``--max-workers 2 --tag a``."""
    parts = []
    for key, value in options.items():
        flag = "--tag" if key == "tags" else "--" + key.replace("_", "-")
        for item in value if isinstance(value, list) else [value]:
            parts.append(f"{flag} {shlex.quote(str(item))}")
    return " ".join(parts)


def _foreach_splits(run: Any, split_step: str) -> dict[tuple[int, ...], Any]:
    """Each split of ``split_step``'s foreach in ``run`` (one list per task of a foreach
    nested in another): its position (``split_label``) and the value it gets as ``self.input``."""
    splits: dict[tuple[int, ...], Any] = {}
    for task in sorted(run[split_step], key=position):
        try:
            var = task["_foreach_var"].data
        except KeyError:
            var = None
        if var is None:
            raise FlowDefinitionError(
                f"Step {split_step!r} has not run as a foreach in {run.pathspec}."
            )
        splits.update(((*position(task), i), value) for i, value in enumerate(task[var].data))
    return splits


def _preview_join(
    built: Any,
    record: Any,
    step: str,
    split_step: str,
    where: tuple[int, ...],
    values: list[Any],
    session: Any,
) -> None:
    """Print what the join of ``split_step``'s foreach would receive (text, never HTML)."""
    graph = built.graph
    join = graph[split_step].matching_join
    flow = built.cls.__name__
    # a debug run is not registered (the Client cannot see it): read its task's datastore
    task_id = record.tasks[step][-1].task_id
    artifacts = mf.task_artifacts(session.backend, record.run_id, step, task_id, PREVIEW_BYTES)
    index = where[-1]
    at = f"split {split_label(where)}, " if len(where) > 1 else ""
    lines = [
        f"Debug run {flow}/{record.run_id}: split {index + 1} of {len(values)} of {step!r} "
        f"({at}index {index}, input {_short.repr(values[index])}); the notebook's current run "
        "stays "
        f"{session.current_run}.",
    ]
    if join:
        via = (
            ""
            if graph[step].out_funcs == [join]
            else " (as of this step; the steps before the join may change them)"
        )
        lines.append(
            f"Join {join!r} would receive {len(values)} inputs, one per split; "
            f"inputs[{index}] would carry{via}:"
        )
    else:
        lines.append("The split's artifacts:")
    for name, value in sorted(artifacts.items()):
        lines.append(f"  {name} = {_short.repr(value)}")
    lines.append(f"Execute the %%step {step} cell to run every split.")
    print("\n".join(lines))
