"""Export benchmark: a 1,000-cell notebook -> flow.py (target: under 1 s).

Builds a notebook of 1,000 cells (markdown docs, module cells, scratch cells and ~330 step
cells with decorators, a foreach and its join), then times ``export_notebook`` (read, cell
rules, export guard, Metaflow graph + lint, render) in-process, and the whole
``jupyter metaflow export`` command in a fresh process.

    python bench/export_bench.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from jupyter_metaflow.export import export_notebook

CELLS = 1000


def build_notebook(path: Path, n_cells: int = CELLS) -> int:
    nb = nbformat.v4.new_notebook()
    cells = [
        nbformat.v4.new_markdown_cell("# Benchmark flow\nA long notebook."),
        nbformat.v4.new_code_cell("%load_ext jupyter_metaflow"),
        nbformat.v4.new_code_cell(
            "import math\nimport json\n\nSCALE = 2\n\ndef helper(x):\n"
            "    return math.sqrt(x) * SCALE"
        ),
        nbformat.v4.new_code_cell(
            "%%flow BenchFlow\nsize = Parameter('size', default=3, type=int)"
        ),
        nbformat.v4.new_code_cell(
            "%%step start\nself.items = list(range(self.size))\nself.next(self.work, "
            "foreach='items')"
        ),
        nbformat.v4.new_code_cell("%%step work\nself.value = helper(self.input)"),
        nbformat.v4.new_code_cell("%%step gather\nself.total = sum(i.value for i in inputs)"),
    ]
    k = 0
    while len(cells) < n_cells - 1:
        k += 1
        if k % 3 == 0:
            cells.append(
                nbformat.v4.new_markdown_cell(f"Step {k} does a little work.\n\n* one\n* two")
            )
        elif k % 3 == 1:
            cells.append(
                nbformat.v4.new_code_cell(
                    f"%%step s{k}\n@retry(times=2)\n@resources(cpu=1)\n"
                    "values = [helper(i) for i in range(5)]\n"
                    "self.total = self.total + len(json.dumps(values))\n"
                    "if self.total < 0:\n    raise ValueError('negative')\n"
                )
            )
        else:
            cells.append(nbformat.v4.new_code_cell(f"print({k})\nx{k} = helper({k})"))
    cells.append(nbformat.v4.new_code_cell("%%step end\nprint(self.total)"))
    nb.cells = cells
    nbformat.write(nb, str(path))
    return sum(1 for c in cells if c.source.startswith("%%step"))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_notebook.ipynb"
        steps = build_notebook(path)
        export_notebook(path)  # warm-up (imports Metaflow once)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            text = export_notebook(path)
            times.append(time.perf_counter() - t0)
        cli = Path(sys.executable).parent / "jupyter-metaflow"
        t0 = time.perf_counter()
        subprocess.run(
            [str(cli), "export", str(path), "-o", str(Path(tmp) / "out.py")],
            check=True,
            capture_output=True,
        )
        cli_time = time.perf_counter() - t0
        print(f"notebook: {CELLS} cells, {steps} steps -> {text.count(chr(10))} lines of flow.py")
        print(
            f"export_notebook (in-process): median {statistics.median(times):.3f} s, "
            f"min {min(times):.3f} s over {len(times)} runs"
        )
        print(
            "jupyter metaflow export (new process, incl. Python + Metaflow import): "
            f"{cli_time:.3f} s"
        )
        print("target < 1 s: %s" % ("met" if statistics.median(times) < 1.0 else "MISSED"))


if __name__ == "__main__":
    main()
