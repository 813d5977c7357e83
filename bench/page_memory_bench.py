"""Memory a page request costs: peak and retained RSS, bounded path vs the unbounded baseline.

Creates a real run (``python flow.py run``) holding a large non-frame artifact (``blob``:
N MB of bytes) and two large frames. Each scenario runs in a fresh process (so peak RSS is its
own) and prints its RSS (MB) measured with ``resource.getrusage`` (peak) and
``/proc/self/statm`` (retained, after ``gc.collect()``):

* ``page blob``: baseline = what a page request used to do (load the artifact, whatever its
  type); bounded = ``on_artifact_page`` now (type and size checked from metadata first);
* ``page two frames``: baseline = the frame cache without a byte budget; bounded = with
  ``CACHED_FRAME_BYTES`` (the frames are above it, so nothing stays pinned).

Run: ``python bench/page_memory_bench.py [--mb N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

FLOW = """
from metaflow import FlowSpec, Parameter, step


class PageMemFlow(FlowSpec):
    mb = Parameter("mb", default=200)

    @step
    def start(self):
        import numpy as np
        import pandas as pd

        rows = int(self.mb) * 1024 * 1024 // 32
        self.blob = bytes(int(self.mb) * 1024 * 1024)
        self.df1 = pd.DataFrame(np.zeros((rows, 4)))
        self.df2 = pd.DataFrame(np.ones((rows, 4)))
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PageMemFlow()
"""

SCENARIO = r"""
import gc, json, os, resource, sys
from metaflow import Flow, namespace
namespace(None)
from jupyter_metaflow.show import artifacts
from jupyter_metaflow.show.magics import on_artifact_page

class Link:
    def send(self, *a, **k):
        self.last = a
mode, what = sys.argv[1], sys.argv[2]
task = Flow("PageMemFlow").latest_run["start"].task
if what == "frames" and mode == "baseline":
    artifacts.CACHED_FRAME_BYTES = 1 << 62
names = ["blob"] if what == "blob" else ["df1", "df2"]
for name in names:
    if what == "blob" and mode == "baseline":
        artifacts.load(task[name])  # the page handler before: load whatever the request names
    else:
        on_artifact_page({"request_id": "r", "pathspec": task.pathspec, "artifact": name,
                          "offset": 0, "limit": 10}, Link(), None)
gc.collect()
page = os.sysconf("SC_PAGE_SIZE")
retained = int(open("/proc/self/statm").read().split()[1]) * page / 2 ** 20
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_mb": round(peak), "retained_mb": round(retained)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "METAFLOW_USER": "bench", "USERNAME": "bench"}
        Path(tmp, "flow.py").write_text(FLOW)
        os.mkdir(Path(tmp, ".metaflow"))
        subprocess.run(
            [sys.executable, "flow.py", "--quiet", "run", "--mb", str(args.mb)],
            cwd=tmp,
            env=env,
            check=True,
            capture_output=True,
        )
        print(f"artifacts: blob {args.mb} MB of bytes, two frames of {args.mb} MB each")
        for what in ("blob", "frames"):
            results = {}
            for mode in ("baseline", "bounded"):
                out = subprocess.run(
                    [sys.executable, "-c", SCENARIO, mode, what],
                    cwd=tmp,
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                results[mode] = json.loads(out.strip().splitlines()[-1])
            b, n = results["baseline"], results["bounded"]
            print(
                f"page {what:6}: peak RSS {b['peak_mb']} -> {n['peak_mb']} MB "
                f"(ratio {n['peak_mb'] / b['peak_mb']:.2f}); retained {b['retained_mb']} -> "
                f"{n['retained_mb']} MB (ratio {n['retained_mb'] / b['retained_mb']:.2f})"
            )


if __name__ == "__main__":
    main()
