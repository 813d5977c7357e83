"""Start-up benchmark: what importing the package and one CLI call cost, beside baselines.

Side by side, each in fresh processes (median of ``--runs``, interleaved so a busy machine
slows every command alike):

* ``import jupyter_metaflow`` against ``import metaflow`` (every ``%load_ext``, every CLI call
  and every kernel's first step imports the package; a flow imports Metaflow anyway).
  Target: at most 0.3 s beyond ``import metaflow``.
* ``jupyter metaflow export NB --check`` (what a pre-commit hook runs) against jupytext's
  conversion of the same notebook, ``jupytext --to py:percent NB -o FILE``.
  Target: within 2x of jupytext.

    python bench/startup_bench.py [--runs 7] [--notebook examples/branch_join.ipynb]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(command: list[str], cwd: Path) -> float:
    """Wall time of one run of ``command`` (which must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--notebook", default=str(ROOT / "examples" / "branch_join.ipynb"))
    args = parser.parse_args()
    jupytext = shutil.which("jupytext", path=str(BIN)) or shutil.which("jupytext")
    if jupytext is None:
        sys.exit("jupytext is not installed (pip install jupytext): it is the CLI baseline.")
    jupyter = shutil.which("jupyter", path=str(BIN)) or "jupyter"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        notebook = work / Path(args.notebook).name
        shutil.copy(args.notebook, notebook)
        flow_file = notebook.with_suffix(".py")
        subprocess.run(
            [jupyter, "metaflow", "export", notebook.name],
            cwd=work,
            check=True,
            capture_output=True,
        )
        commands = {
            "python -c 'pass'": [sys.executable, "-c", "pass"],
            "import metaflow": [sys.executable, "-c", "import metaflow"],
            "import jupyter_metaflow": [sys.executable, "-c", "import jupyter_metaflow"],
            "jupytext --to py:percent": [
                jupytext,
                "--to",
                "py:percent",
                notebook.name,
                "-o",
                str(work / "percent.py"),
            ],
            "jupyter metaflow export --check": [
                jupyter,
                "metaflow",
                "export",
                notebook.name,
                "--check",
                "-o",
                flow_file.name,
            ],
        }
        for command in commands.values():  # warm the file cache and .pyc files
            timed(command, work)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():
                times[name].append(timed(command, work))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"startup_bench: {Path(args.notebook).name}, {args.runs} runs each, median seconds "
        f"(Python {sys.version.split()[0]})"
    )
    for name, value in median.items():
        spread = f"{min(times[name]):.2f}-{max(times[name]):.2f}"
        print(f"  {name:34s} {value:6.2f} s  (range {spread})")
    extra = median["import jupyter_metaflow"] - median["import metaflow"]
    ratio = median["jupyter metaflow export --check"] / median["jupytext --to py:percent"]
    print(
        f"import jupyter_metaflow - import metaflow: {extra:+.2f} s (target <= +0.30 s): "
        f"{'OK' if extra <= 0.3 else 'MISSED'}"
    )
    print(
        f"export --check / jupytext: {ratio:.2f}x (target <= 2x): "
        f"{'OK' if ratio <= 2 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
