"""Framework overhead per step: in-kernel executor vs ``spin`` vs ``flow.py run`` vs plain calls.

Runs the same six-step linear flow of trivial steps

  (a) in the kernel executor (IPython shell in this process, ``%%step`` cells),
  (b) with ``python flow.py spin <step>`` per step (after one real run, as spin needs),
  (c) with ``python flow.py run`` (whole flow, per-task share of the wall time),
  (d) as plain Python function calls,

and prints the per-step framework overhead of each (step time minus the plain call) and the
ratios; then persists a 100 MB artifact in the kernel executor and compares it with
``pickle.dumps`` + writing the bytes to a file on the same disk.

    python bench/executor_bench.py [--repeat 5] [--spin-repeat 1] [--run-repeat 2]

Everything is written under a temporary directory (removed at the end); ``--dir`` picks the
disk it lives on.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STEPS = ["start", "a", "b", "c", "d", "end"]


def step_body(i: int) -> str:
    return f"self.x{i} = {i}"


def flow_file() -> str:
    """The bench flow as a ``flow.py`` (what the notebook exports to)."""
    lines = ["from metaflow import FlowSpec, step", "", "", "class BenchFlow(FlowSpec):"]
    for i, name in enumerate(STEPS):
        lines += ["    @step", f"    def {name}(self):", f"        {step_body(i)}"]
        if name != "end":
            lines.append(f"        self.next(self.{STEPS[i + 1]})")
        lines.append("")
    lines += ["", 'if __name__ == "__main__":', "    BenchFlow()", ""]
    return "\n".join(lines)


def step_cells() -> list[str]:
    cells = ["%%flow BenchFlow\n# no parameters"]
    for i, name in enumerate(STEPS):
        cells.append(f"%%step {name}\n{step_body(i)}")
    return cells


def plain_calls(repeat: int) -> list[float]:
    """(d) the step bodies as plain method calls on a plain object."""

    class Plain:
        pass

    funcs = []
    for i in range(len(STEPS)):
        namespace: dict = {}
        exec(f"def f(self):\n    {step_body(i)}\n", namespace)
        funcs.append(namespace["f"])
    times = []
    obj = Plain()
    for _ in range(repeat):
        for f in funcs:
            t0 = time.perf_counter()
            f(obj)
            times.append(time.perf_counter() - t0)
    return times


def kernel_shell(cells: list[str]) -> Any:
    """An IPython shell in this process with the extension loaded, ``cells`` as the notebook's
    cells and the first (``%%flow``) executed."""
    import IPython
    from IPython.testing.globalipapp import start_ipython

    from jupyter_metaflow import session as notebook_session
    from jupyter_metaflow.cells import CellInput

    start_ipython()
    shell = IPython.get_ipython()
    shell.run_line_magic("load_ext", "jupyter_metaflow")
    notebook_session.set_notebook_cells(
        [CellInput(i, f"c{i}", "code", s) for i, s in enumerate(cells)], "bench.ipynb"
    )
    assert shell.run_cell(cells[0]).success
    return shell


def time_step_cells(shell: Any, cells: list[str], repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each of ``cells`` executed ``repeat`` times, after one pass that
    warms imports and caches."""
    times, cpu = [], []
    for _ in range(repeat + 1):
        for source in cells:
            t0, c0 = time.perf_counter(), time.process_time()
            result = shell.run_cell(source)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            assert result.success, result.error_in_exec
    return times[len(cells) :], cpu[len(cells) :]


def in_kernel(workdir: Path, repeat: int, big_mb: int, big_repeat: int) -> tuple:
    """(a) every step cell executed through the magics, first with the listeners
    ``%load_ext`` installs (comm status updates), then without; also the large-artifact step."""
    from jupyter_metaflow import session as notebook_session
    from jupyter_metaflow.cells import CellInput

    os.chdir(workdir)
    cells = step_cells()
    shell = kernel_shell(cells)
    with_listeners, _ = time_step_cells(shell, cells[1:], repeat)
    session = notebook_session.get_session()
    for listener in session.listeners:
        session.remove_listener(listener)
    times, cpu_times = time_step_cells(shell, cells[1:], repeat)

    import numpy as np

    big_cells = [
        "%%flow BigFlow\n# no parameters",
        "%%step start\nself.big = BIG",
        "%%step end\npass",
    ]
    notebook_session.set_notebook_cells(
        [CellInput(i, f"b{i}", "code", s) for i, s in enumerate(big_cells)], "bench.ipynb"
    )
    big_times, trivial, raw = [], [], []
    for seed in range(big_repeat):  # new data each time: the store skips blobs it already holds
        shell.user_ns["BIG"] = np.random.default_rng(seed).random(big_mb * 1024 * 1024 // 8)
        raw.append(raw_pickle_write(shell.user_ns["BIG"], workdir / ".metaflow" / "raw.bin"))
        t0 = time.perf_counter()
        assert shell.run_cell(big_cells[1]).success
        big_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        assert shell.run_cell(big_cells[2]).success
        trivial.append(time.perf_counter() - t0)
    from metaflow import Flow

    loaded = Flow("BigFlow").latest_run["start"].task.data.big
    assert loaded.shape == shell.user_ns["BIG"].shape and float(loaded[123]) == float(
        shell.user_ns["BIG"][123]
    )
    return with_listeners, times, cpu_times, big_times, statistics.median(trivial), raw


def headless_child(workdir: Path, repeat: int) -> None:
    """(a') the step cells in a kernel no frontend told the notebook: the extension finds
    ``bench.ipynb`` in the working directory, as under nbconvert or papermill. Runs in its own
    interpreter (no notebook cells set) and prints the step times as JSON."""
    import IPython
    import nbformat
    from IPython.testing.globalipapp import start_ipython

    os.chdir(workdir)
    cells = step_cells()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in cells])
    nbformat.write(notebook, str(workdir / "bench.ipynb"))
    start_ipython()
    shell = IPython.get_ipython()
    shell.run_line_magic("load_ext", "jupyter_metaflow")
    assert shell.run_cell(cells[0]).success
    times, cpu = time_step_cells(shell, cells[1:], repeat)
    print(json.dumps({"times": times, "cpu": cpu}))


def headless(workdir: Path, repeat: int) -> tuple[list[float], list[float]]:
    workdir.mkdir()
    out = subprocess.run(
        [sys.executable, __file__, "--headless-child", str(workdir), "--repeat", str(repeat)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["times"], result["cpu"]


def raw_pickle_write(data, target: Path) -> float:
    """pickle.dumps + write (+ flush) of ``data`` to ``target``: the baseline for persisting."""
    t0 = time.perf_counter()
    blob = pickle.dumps(data, protocol=4)
    with open(target, "wb") as f:
        f.write(blob)
        f.flush()
    elapsed = time.perf_counter() - t0
    target.unlink()
    return elapsed


def cli(workdir: Path, *args: str) -> float:
    env = {**os.environ, "METAFLOW_USER": os.environ.get("METAFLOW_USER", "bench")}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "flow.py", "--no-pylint", *args],
        cwd=workdir,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="in-kernel passes over the flow")
    parser.add_argument("--spin-repeat", type=int, default=1, help="spin passes over the steps")
    parser.add_argument("--run-repeat", type=int, default=2, help="`flow.py run` repetitions")
    parser.add_argument("--big-mb", type=int, default=100, help="large artifact size (MB)")
    parser.add_argument("--big-repeat", type=int, default=5, help="large artifact repetitions")
    parser.add_argument(
        "--dir",
        default=None,
        help="where the flow and its .metaflow datastore live (default: a temporary "
        "directory; e.g. /dev/shm to take disk latency out)",
    )
    parser.add_argument("--headless-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("METAFLOW_USER", "bench")
    os.environ.setdefault("USER", os.environ["METAFLOW_USER"])
    if args.headless_child:
        headless_child(Path(args.headless_child), args.repeat)
        return
    load = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="mf-bench-", dir=args.dir))
    try:
        (root / ".metaflow").mkdir()
        (root / "flow.py").write_text(flow_file())
        plain = plain_calls(1000)
        plain_step = statistics.median(plain)

        listened, kernel_times, cpu_times, big_times, trivial_step, raw = in_kernel(
            root, args.repeat, args.big_mb, args.big_repeat
        )

        headless_times, headless_cpu = headless(root / "headless", args.repeat)
        run_times = [cli(root, "run") for _ in range(args.run_repeat)]
        spin_times = [cli(root, "spin", name) for _ in range(args.spin_repeat) for name in STEPS]
    finally:
        os.chdir(Path(__file__).resolve().parent)
        shutil.rmtree(root, ignore_errors=True)

    kernel = statistics.median(kernel_times) - plain_step
    spin = statistics.median(spin_times) - plain_step
    run = statistics.median(run_times) / len(STEPS) - plain_step
    print(f"load average at start: {load[0]:.2f}; datastore under {root.parent}")
    print(f"framework overhead per trivial step (median; {len(STEPS)}-step linear flow)")
    print(
        f"  (a) in-kernel executor  {kernel * 1000:9.2f} ms   ({len(kernel_times)} steps,"
        f" min {min(kernel_times) * 1000:.2f} ms, max {max(kernel_times) * 1000:.2f} ms)"
    )
    print(
        f"      CPU time of the kernel process per step: {statistics.median(cpu_times) * 1000:.2f} "
        "ms"
        " (the rest of the wall time is waiting for the disk or the CPU)"
    )
    print(
        f"      same, with the comm listeners %load_ext installs: "
        f"{(statistics.median(listened) - plain_step) * 1000:.2f} ms"
    )
    headless_step = statistics.median(headless_times) - plain_step
    print(
        f"  (a') headless           {headless_step * 1000:9.2f} ms   (no frontend: the kernel "
        f"found bench.ipynb in its working directory; CPU "
        f"{statistics.median(headless_cpu) * 1000:.2f} ms; {headless_step / kernel:.2f}x (a))"
    )
    print(f"  (b) spin per step       {spin * 1000:9.2f} ms   ({len(spin_times)} spins)")
    print(
        f"  (c) flow.py run         {run * 1000:9.2f} ms   (wall / {len(STEPS)} tasks,"
        f" {len(run_times)} runs: {', '.join(f'{t:.2f} s' for t in run_times)})"
    )
    print(f"  (d) plain call          {plain_step * 1e6:9.2f} us")
    print(f"ratios: spin / in-kernel = {spin / kernel:.0f}x, run / in-kernel = {run / kernel:.0f}x")
    big = statistics.median(big_times) - trivial_step
    raw_t = statistics.median(raw)
    print(
        f"{args.big_mb} MB artifact: in-kernel persist {big:.3f} s (step "
        f"{statistics.median(big_times):.3f} s"
        f" - trivial step {trivial_step:.3f} s) vs pickle+write {raw_t:.3f} s (medians of "
        f"{len(raw)}, interleaved) = {big / raw_t:.2f}x"
    )
    target_ok = kernel <= 0.015 and spin / kernel >= 60 and big / raw_t <= 2
    print(
        "targets (<= 15 ms, >= 60x less than spin, large artifact <= 2x):",
        "met" if target_ok else "NOT met",
    )


if __name__ == "__main__":
    main()
