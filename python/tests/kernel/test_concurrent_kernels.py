"""Two real kernels on one notebook and one run (the notebook open twice, or a second kernel
re-attaching while the first still runs steps): every task gets its own id."""

from __future__ import annotations

import collections

import headless
import nbformat
from conftest import KernelHarness
from jupyter_client.manager import start_new_kernel
from sync_helpers import Frontend

SOURCES = [
    ("self.x = 1\nself.next(self.a, self.b)", "step:start"),
    ("self.y = 'a'\nself.next(self.join)", "step:a"),
    ("self.y = 'b'\nself.next(self.join)", "step:b"),
    ("self.ys = sorted(i.y for i in inputs)", "step:join"),
    ("print(self.ys)", "step:end"),
]


def test_two_kernels_on_one_run_never_share_a_task_id(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s, metadata={"tags": [t]}) for s, t in SOURCES]
    path = tmp_path / "twice.ipynb"
    nbformat.write(nb, path)
    env = headless.kernel_env(JPY_SESSION_NAME=str(path))  # JupyterLab's kernel: the server sets it
    kernels = [
        start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env) for _ in range(2)
    ]
    try:
        first, second = (Frontend(KernelHarness(km, kc)) for km, kc in kernels)
        reply = first.run_cell(SOURCES[0][0])
        assert reply["content"]["status"] == "ok", first.output_text(reply["msg_id"])
        reply = second.run_cell(SOURCES[1][0])  # re-attaches to the run
        assert reply["content"]["status"] == "ok", second.output_text(reply["msg_id"])
        reply = first.run_cell(SOURCES[2][0])  # the same run, with its own task counter
        assert reply["content"]["status"] == "ok", first.output_text(reply["msg_id"])
        runs = {
            s["run_id"] for fe in (first, second) for s in fe.statuses() if s["state"] == "done"
        }
        assert len(runs) == 1
        (run_id,) = runs
        reply = second.run_cell(
            "from metaflow import Run\n"
            f"r = Run('TwiceFlow/{run_id}', _namespace_check=False)\n"
            "print(sorted((t.id, s.id) for s in r for t in s))\n"
            "print({s.id: s.task.data.y for s in r if s.id in ('a', 'b')})"
        )
        text = second.output_text(reply["msg_id"])
        pairs = eval(text.splitlines()[0])
        ids = collections.Counter(task for task, _ in pairs)
        assert not [t for t, n in ids.items() if n > 1], text
        assert "{'a': 'a', 'b': 'b'}" in text or "{'b': 'b', 'a': 'a'}" in text
    finally:
        for km, kc in kernels:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
