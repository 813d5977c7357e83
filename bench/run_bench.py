"""Whole runs and recursion: what jupyter-metaflow adds on top of Metaflow's own runtime.

1. ``%mf_run`` vs ``python flow.py --no-pylint run`` on the same generated flow file
   (an 11-task flow: start, a static split, a 4-way foreach, joins, end). ``%mf_run`` adds
   notebook assembly, export, ``metaflow.Runner`` set-up in the kernel, log streaming and
   adopting the run; the runs themselves are Metaflow's. Runs are interleaved; medians are
   compared. Target: overhead within 5%.
2. A recursive switch of 50 iterations: executing the notebook's cells in the kernel (one
   cell runs all 50 iterations) vs ``python flow.py run`` of the exported flow.

Usage: ``python bench/run_bench.py [--repeat 5]`` (run from anywhere; works in a temp dir).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

WHOLE_FLOW = [
    "%%flow BenchRunFlow",
    "%%step start\nself.items = list(range(4))\nself.next(self.a, self.b)",
    "%%step a\nself.side = 'a'\nself.next(self.join_ab)",
    "%%step b\nself.side = 'b'\nself.next(self.join_ab)",
    "%%step join_ab\nself.sides = [i.side for i in inputs]\nself.merge_artifacts(inputs, "
    "exclude=['side'])",
    "%%step fan\nself.next(self.work, foreach='items')",
    "%%step work\nself.value = self.input * 2",
    "%%step gather\nself.total = sum(i.value for i in inputs)",
    "%%step end\nprint('total', self.total)",
]

RECURSIVE = [
    "%%flow BenchLoopFlow",
    "%%step start\nself.count = 0\nself.next(self.loop)",
    "%%step loop\nself.count += 1\nself.more = 'yes' if self.count < 50 else 'no'\n"
    "self.next({'yes': self.loop, 'no': self.end}, condition='more')",
    "%%step end\nprint('iterations', self.count)",
]


def shell_for(cells: list[str], notebook: str):
    """An IPython shell with the extension loaded and the notebook's cells known."""
    import IPython
    from IPython.testing.globalipapp import start_ipython

    from jupyter_metaflow import session as notebook_session
    from jupyter_metaflow.cells import CellInput

    notebook_session._session = None
    start_ipython()
    shell = IPython.get_ipython()
    shell.extension_manager.load_extension("jupyter_metaflow")  # quiet when already loaded
    notebook_session.set_notebook_cells(
        [CellInput(i, f"c{i}", "code", s) for i, s in enumerate(cells)], notebook
    )
    return shell


CPU: list[float] = []
"""CPU seconds (user + system, this process and every waited-for descendant) of each
:func:`run_cell` / :func:`flow_py_run` call, in call order: far less sensitive than wall
time to other load on a shared machine."""


def _cpu() -> float:
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_cell(shell, source: str) -> float:
    started, cpu = time.perf_counter(), _cpu()
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        result = shell.run_cell(source)
    elapsed = time.perf_counter() - started
    CPU.append(_cpu() - cpu)
    if not result.success:
        raise SystemExit(f"cell failed: {source.splitlines()[0]}: {result.error_in_exec}")
    return elapsed


def flow_py_run(flow_file: Path, cwd: Path) -> float:
    started, cpu = time.perf_counter(), _cpu()
    done = subprocess.run(
        [sys.executable, str(flow_file), "--no-pylint", "run"],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    CPU.append(_cpu() - cpu)
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return elapsed


def record_process_lifetime(marks: dict[str, float]):
    """Note when ``metaflow.Runner`` launches Metaflow's process and when it has exited, so
    the kernel-side time of ``%mf_run`` (before the launch and after the exit: assembly,
    export, ``Runner`` set-up and command building, adopting the run) can be told apart."""
    from metaflow.runner.subprocess_manager import CommandManager, SubprocessManager

    launch, wait = SubprocessManager.run_command, CommandManager.sync_wait

    def run_command(self, *args, **kwargs):
        marks["launch"] = time.perf_counter()
        return launch(self, *args, **kwargs)

    def sync_wait(self):
        try:
            return wait(self)
        finally:
            marks["exit"] = time.perf_counter()

    SubprocessManager.run_command, CommandManager.sync_wait = run_command, sync_wait


def bench_mf_run(workdir: Path, repeat: int) -> None:
    shell = shell_for(WHOLE_FLOW, str(workdir / "bench_run.ipynb"))
    marks: dict[str, float] = {}
    record_process_lifetime(marks)
    run_cell(shell, "%mf_run")  # warm-up; writes bench_run.nbflow.py
    flow_file = workdir / "bench_run.nbflow.py"
    flow_py_run(flow_file, workdir)
    CPU.clear()
    ours, theirs, kernel_side = [], [], []
    for _ in range(repeat):
        ours.append(run_cell(shell, "%mf_run"))
        kernel_side.append(ours[-1] - (marks["exit"] - marks["launch"]))
        theirs.append(flow_py_run(flow_file, workdir))
    cpu_ours, cpu_theirs = statistics.median(CPU[0::2]), statistics.median(CPU[1::2])
    mine, base = statistics.median(ours), statistics.median(theirs)
    side = statistics.median(kernel_side)
    print(f"1. whole run, 11 tasks (medians of {repeat}, interleaved)")
    print(f"   python flow.py run : {base:6.2f} s   (all: {', '.join(f'{t:.2f}' for t in theirs)})")
    print(f"   %mf_run            : {mine:6.2f} s   (all: {', '.join(f'{t:.2f}' for t in ours)})")
    print(
        f"   end-to-end wall    : {100 * (mine - base) / base:+.1f}%  (target: within 5%; wall "
        "time on a "
        "shared machine is noisy)"
    )
    print(
        f"   kernel-side wall   : {side:6.2f} s = {100 * side / base:.1f}% of `python flow.py run` "
        "(before Metaflow's process starts and after it exits)"
    )
    print(
        f"   CPU, all processes : {cpu_theirs:6.2f} s vs {cpu_ours:6.2f} s: "
        f"{100 * (cpu_ours - cpu_theirs) / cpu_theirs:+.1f}%"
    )
    # the same without the frontend sync's listener (it validates every step_status message
    # against the protocol's JSON Schema)
    from jupyter_metaflow.session import get_session

    session = get_session()
    for listener in session.listeners:
        session.remove_listener(listener)
    bare = []
    for _ in range(repeat):
        wall = run_cell(shell, "%mf_run")
        bare.append(wall - (marks["exit"] - marks["launch"]))
    side = statistics.median(bare)
    print(
        f"   kernel-side wall without the sync listener: {side:6.2f} s = {100 * side / base:.1f}%"
    )


def bench_recursion(workdir: Path) -> None:
    from jupyter_metaflow.cells import CellInput
    from jupyter_metaflow.export import export_cells

    shell = shell_for(RECURSIVE, str(workdir / "bench_loop.ipynb"))
    times = [run_cell(shell, c) for c in RECURSIVE]
    kernel = sum(times)
    flow_file = workdir / "bench_loop_export.py"
    flow_file.write_text(
        export_cells(
            [CellInput(i, None, "code", s) for i, s in enumerate(RECURSIVE)],
            str(workdir / "bench_loop.ipynb"),
        )
    )
    runtime = flow_py_run(flow_file, workdir)
    print("2. recursive switch, 50 iterations (52 tasks)")
    print(
        f"   in the kernel (cells) : {kernel:6.2f} s   (loop cell {times[2]:.2f} s, "
        f"{1000 * times[2] / 50:.1f} ms per iteration)"
    )
    print(f"   python flow.py run    : {runtime:6.2f} s   ({1000 * runtime / 52:.0f} ms per task)")
    print(f"   ratio                 : {runtime / kernel:.0f}x faster in the kernel")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("METAFLOW_USER", "bench")
    os.environ.setdefault("USER", "bench")
    with tempfile.TemporaryDirectory(prefix="jmf_run_bench_") as tmp:
        workdir = Path(tmp)
        (workdir / ".metaflow").mkdir()
        os.chdir(workdir)
        try:
            bench_mf_run(workdir, args.repeat)
            bench_recursion(workdir)
        finally:
            os.chdir(tempfile.gettempdir())


if __name__ == "__main__":
    main()
