"""``%mf_show`` of a 10-million-row DataFrame artifact vs ``Task.data`` + pandas' HTML repr.

Creates a real run (``python flow.py run``) in a temporary directory, then in this process:

* baseline: ``Task(...).data.df`` (loads the artifact) + ``df._repr_html_()``;
* ``%mf_show FLOW/RUN/start/df`` through IPython (the magic, bundle and display), cold
  (artifact not loaded yet) and warm (the frame is in the paging cache: a re-show);
* one ``artifact_page`` answer (rows 5,000,000..5,000,009) from the warm cache.

Run: ``python bench/show_bench.py [--rows N] [--repeat K]``. Prints times and output sizes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOW = """
from metaflow import FlowSpec, Parameter, step


class BigFrameFlow(FlowSpec):
    rows = Parameter("rows", default=10_000_000)

    @step
    def start(self):
        import numpy as np
        import pandas as pd
        rng = np.random.default_rng(0)
        n = int(self.rows)
        self.df = pd.DataFrame({"x": rng.normal(size=n), "k": rng.integers(0, 100, n),
                                "cat": pd.Categorical(rng.choice(["a", "b", "c"], n)),
                                "t": pd.date_range("2026-01-01", periods=n, freq="s")})
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    BigFrameFlow()
"""


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="show_bench_"))
    (work / "flow.py").write_text(FLOW)
    env = {**os.environ, "METAFLOW_USER": "bench", "USER": "bench"}
    made, done = timed(
        lambda: subprocess.run(
            [sys.executable, "flow.py", "run", "--rows", str(args.rows)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
    )
    if done.returncode != 0:
        sys.exit(done.stderr[-3000:])
    run_id = (work / ".metaflow" / "BigFrameFlow" / "latest_run").read_text().strip()
    os.chdir(work)
    os.environ.update(METAFLOW_USER="bench", USER="bench")

    import IPython
    from IPython.testing.globalipapp import start_ipython
    from metaflow import Task, namespace

    from jupyter_metaflow.show import artifacts
    from jupyter_metaflow.show.bundle import MIME_TYPE, bundle_size
    from jupyter_metaflow.show.magics import on_artifact_page

    namespace(None)
    address = f"BigFrameFlow/{run_id}/start/df"
    task = Task(f"BigFrameFlow/{run_id}/start/1")
    stored = task["df"].size
    print(
        f"run {address}: {args.rows:,} rows, stored artifact {stored / 2**20:.1f} MiB "
        f"(flow run took {made:.1f} s)"
    )

    start_ipython()
    shell = IPython.get_ipython()
    shell.run_line_magic("load_ext", "jupyter_metaflow")
    shown: list[dict] = []
    shell.display_pub.publish = lambda data, metadata=None, **kw: shown.append(data)

    def show() -> dict:
        shell.run_line_magic("mf_show", address)
        return shown[-1]

    def pandas_way() -> tuple[float, float, int]:
        load, frame = timed(lambda: Task(task.pathspec).data.df)
        render, html = timed(frame._repr_html_)
        return load, render, len(html.encode())

    # Interleaved, so both see the same OS page cache and machine load.
    baseline, cold = [], []
    for _ in range(args.repeat):
        gc.collect()
        baseline.append(pandas_way())
        gc.collect()
        artifacts.clear()
        cold.append(timed(show))
    warm = []
    for _ in range(args.repeat):
        gc.collect()
        warm.append(timed(show))
    print("Task.data.df + pandas _repr_html_:")
    for load, render, size in baseline:
        print(
            f"  load {load * 1000:8.0f} ms + html {render * 1000:6.1f} ms = "
            f"{(load + render) * 1000:8.0f} ms, output {size / 1024:.1f} KB"
        )
    print(
        "%mf_show (magic + bundle + display); cold = artifact not loaded yet, "
        "warm = re-show from the paging cache:"
    )
    for label, runs in (("cold", cold), ("warm", warm)):
        for seconds, bundle in runs:
            print(
                f"  {label} {seconds * 1000:8.1f} ms, output {bundle_size(bundle) / 1024:.1f} KB "
                f"(json {len(json.dumps(bundle[MIME_TYPE])) / 1024:.1f} KB, "
                f"html {len(bundle['text/html']) / 1024:.1f} KB)"
            )

    replies: list[dict] = []

    class Link:
        def send(self, msg_type, payload, to=None):
            replies.append(payload)

    page = {
        "request_id": "b",
        "pathspec": task.pathspec,
        "artifact": "df",
        "offset": args.rows // 2,
        "limit": 10,
    }
    paging = [timed(lambda: on_artifact_page(page, Link(), None))[0] for _ in range(args.repeat)]
    assert replies[-1]["rows"]["start"] == args.rows // 2, replies[-1]
    print(
        f"artifact_page (rows {args.rows // 2:,}+10, warm): median "
        f"{statistics.median(paging) * 1000:.1f} ms"
    )

    base = statistics.median(b[0] + b[1] for b in baseline)
    print(
        f"summary (medians): Task.data + pandas HTML {base * 1000:.0f} ms; %mf_show cold "
        f"{statistics.median(c[0] for c in cold) * 1000:.0f} ms, warm "
        f"{statistics.median(w[0] for w in warm) * 1000:.1f} ms (target < 300 ms); largest "
        f"output {max(bundle_size(b) for _, b in cold + warm) / 1024:.1f} KB (limit 100 KB)"
    )


if __name__ == "__main__":
    main()
