"""Foreach splits in the notebook (parallel workers / one at a time) vs ``python flow.py run``.

The same flow, N splits of t seconds of CPU each (t = 0: trivial splits), run

  (a) in the notebook with parallel splits (the ``%%flow`` line's default: the machine's cores),
  (b) in the notebook with ``--max-workers 1`` (every split in the kernel, one after another),
  (c) with ``python flow.py run`` on the exported file (Metaflow's runtime, its defaults),

each notebook in a fresh kernel (nbclient, the notebook file named as jupyter-server names it)
that executes start, the foreach body, the join and end as JupyterLab's Run All does (every
cell's execute request sent at once), then again: the first pass ("cold")
includes starting the worker processes, the later ones ("warm", the median of ``--warm`` passes,
default 1, 5 for trivial splits whose times are a few hundred milliseconds) reuse them, as
re-executing a cell does. The two kernels run at once and take turns, pass by pass: on a shared
machine both see the same load. Every time is measured by the flow itself: ``end``'s ``time.time()``
minus ``start``'s.
Printed: each time, the machine's limit N x t / cores, and the ratios. The load average is
printed before and after (the machine is shared: compare ratios of one invocation only).

    python bench/foreach_bench.py [--splits 8 32] [--seconds 1 0.1 0] [--repeat 1] [--warm N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.util import run_sync

MODULE_CELL = """import os
import time


def burn(seconds):
    \"\"\"Spend ``seconds`` of this process's CPU time.\"\"\"
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass"""

STEP_CELLS = [
    "%%step start\nself.t0 = time.time()\nself.kernel_pid = os.getpid()\n"
    "self.items = list(range(self.splits))\nself.next(self.work, foreach='items')",
    "%%step work\nburn(self.seconds)\nself.value = self.input\nself.pid = os.getpid()\n"
    "self.next(self.join)",
    "%%step join\nself.values = [i.value for i in inputs]\nself.next(self.end)",
    "%%step end\nself.t1 = time.time()",
]


def notebook(splits: int, seconds: float, max_workers: int | None) -> nbformat.NotebookNode:
    option = "" if max_workers is None else f" --max-workers {max_workers}"
    flow = (
        f"%%flow ForeachBench{option}\n"
        f"splits = Parameter('splits', default={splits})\n"
        f"seconds = Parameter('seconds', default={seconds})"
    )
    cells = ["%load_ext jupyter_metaflow", MODULE_CELL, flow, *STEP_CELLS]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def elapsed(run) -> float:
    return run["end"].task["t1"].data - run["start"].task["t0"].data


class NotebookKernel:
    """One notebook of the flow in its own fresh kernel (nbclient, the notebook file named as
    jupyter-server names it), run pass by pass."""

    def __init__(self, workdir: Path, splits: int, seconds: float, max_workers: int | None):
        path = workdir / f"bench_{splits}_{seconds}_{max_workers}.ipynb"
        self.nb = notebook(splits, seconds, max_workers)
        nbformat.write(self.nb, path)
        self.env = {
            **os.environ,
            "METAFLOW_USER": "bench",
            "USER": "bench",
            "JPY_SESSION_NAME": str(path),
        }
        self.client = NotebookClient(
            self.nb,
            timeout=1800,
            kernel_name="python3",
            resources={"metadata": {"path": str(workdir)}},
        )
        self.passes = 0
        self.in_workers = 0
        """How many splits of the last pass ran in worker processes."""

    async def _execute_all(self) -> None:
        kc = self.client.kc
        sent = [
            kc.execute(cell.source, store_history=True, stop_on_error=True)
            for cell in self.nb.cells
            if self.passes == 0 or cell.source.startswith("%%step")
        ]
        replies: dict[str, dict] = {}
        while len(replies) < len(sent):
            reply = await kc.get_shell_msg(timeout=1800)
            replies[reply["parent_header"].get("msg_id")] = reply["content"]
        failed = [r for r in replies.values() if r["status"] != "ok"]
        if failed:
            raise RuntimeError(f"{failed[0].get('ename')}: {failed[0].get('evalue')}")
        while True:  # the cells' output, as a frontend reads it, up to the last one's end
            message = await kc.get_iopub_msg(timeout=60)
            if (
                message["parent_header"].get("msg_id") == sent[-1]
                and message["msg_type"] == "status"
                and message["content"]["execution_state"] == "idle"
            ):
                return

    def run_pass(self) -> float:
        """Execute start .. end (every cell the first time) as JupyterLab's Run All does: every
        cell's execute request sent at once, the kernel running them in turn; seconds from
        start to end."""
        from metaflow import Flow, namespace

        run_sync(self._execute_all)()
        self.passes += 1
        namespace(None)
        run = Flow("ForeachBench").latest_run
        kernel = run["start"].task["kernel_pid"].data
        self.in_workers = sum(task["pid"].data != kernel for task in run["work"])
        return elapsed(run)


def in_notebooks(
    workdir: Path, splits: int, seconds: float, warm: int
) -> dict[str, tuple[float, float, int]]:
    """(cold, median of ``warm`` warm passes, splits in workers in the last pass) of the notebook
    with parallel splits and of the one with ``--max-workers 1``, each in its own fresh kernel.
    The passes alternate between the two kernels: on a shared machine both see the same load."""
    kernels = {
        "parallel": NotebookKernel(workdir, splits, seconds, None),
        "kernel": NotebookKernel(workdir, splits, seconds, 1),
    }
    times: dict[str, list[float]] = {name: [] for name in kernels}
    with contextlib.ExitStack() as stack:
        for kernel in kernels.values():
            stack.enter_context(kernel.client.setup_kernel(env=kernel.env))
        for _ in range(warm + 1):
            for name, kernel in kernels.items():
                times[name].append(kernel.run_pass())
    return {
        name: (t[0], statistics.median(t[1:]), kernels[name].in_workers)
        for name, t in times.items()
    }


def with_runtime(workdir: Path, splits: int, seconds: float) -> float:
    """``python flow.py run`` of the exported notebook; seconds from start to end."""
    from metaflow import Flow, namespace

    path = workdir / "runtime.ipynb"
    nbformat.write(notebook(splits, seconds, None), path)
    flow_file = workdir / "foreach_flow.py"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_metaflow.cli",
            "export",
            str(path),
            "-o",
            str(flow_file),
            "--force",
        ],
        check=True,
        cwd=workdir,
    )
    env = {**os.environ, "METAFLOW_USER": "bench", "USER": "bench"}
    subprocess.run(
        [sys.executable, str(flow_file), "run"],
        check=True,
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    namespace(None)
    return elapsed(Flow("ForeachBench").latest_run)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--splits", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--seconds", type=float, nargs="+", default=[1.0, 0.1, 0.0])
    parser.add_argument("--repeat", type=int, default=1, help="best of this many")
    parser.add_argument("--warm", type=int, default=None, help="warm passes (median)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"{cores} cores; load average {loadavg()} (1, 5, 15 min)")
    for seconds in args.seconds:
        for splits in args.splits:
            results: dict[str, list[float]] = {}
            placed: dict[str, int] = {}
            for _ in range(args.repeat):
                workdir = Path(tempfile.mkdtemp(prefix="foreach_bench_"))
                (workdir / ".metaflow").mkdir()
                cwd = os.getcwd()
                os.chdir(workdir)
                try:
                    from jupyter_metaflow import _metaflow

                    _metaflow.forget_datastore_root()
                    passes = args.warm or (5 if seconds == 0 else 1)
                    timed = in_notebooks(workdir, splits, seconds, passes)
                    for name, (cold, warm, in_workers) in timed.items():
                        results.setdefault(f"{name} cold", []).append(cold)
                        results.setdefault(f"{name} warm", []).append(warm)
                        placed[name] = in_workers
                    results.setdefault("flow.py run", []).append(
                        with_runtime(workdir, splits, seconds)
                    )
                finally:
                    os.chdir(cwd)
                    shutil.rmtree(workdir, ignore_errors=True)
            best = {k: min(v) for k, v in results.items()}
            limit = splits * seconds / cores
            kind = "trivial" if seconds == 0 else f"{seconds:g} s CPU"
            print(f"\nN = {splits} splits of {kind}; limit N x t / cores = {limit:.2f} s")
            for name, value in best.items():
                print(f"  {name:<14} {value:7.2f} s")
            print(f"  splits in workers (last warm pass): {placed['parallel']} of {splits}")
            a, b, c = best["parallel warm"], best["kernel warm"], best["flow.py run"]
            if limit:
                print(
                    f"  parallel / limit       warm {a / limit:5.2f}x   cold "
                    f"{best['parallel cold'] / limit:5.2f}x"
                    "   (target <= 1.25)"
                )
            print(
                f"  flow.py run / parallel warm {c / a:5.2f}x   cold "
                f"{c / best['parallel cold']:5.2f}x"
                "   (target >= 1.4 for CPU-bound splits)"
            )
            print(
                f"  parallel / one-worker  warm {a / b:5.2f}x   cold "
                f"{best['parallel cold'] / best['kernel cold']:5.2f}x"
                "   (target <= 1.0 for trivial splits)"
            )
    print(f"\nload average {loadavg()} (1, 5, 15 min)")


if __name__ == "__main__":
    main()
