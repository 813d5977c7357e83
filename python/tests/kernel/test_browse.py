"""The DAG panel's requests (details pane, run browser) answered from real runs: in-process for
the handlers, in a real kernel over the comm for the wiring and the schema, and across a kernel
restart for the steps a switch ruled out."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest
from inprocess import ok, set_notebook
from sync_helpers import Frontend, cell

from jupyter_metaflow import browse, protocol
from jupyter_metaflow.export import export_notebook
from jupyter_metaflow.show.address import ShowError

SWITCH_IN_FOREACH = [
    "%%step start\nself.numbers = [1, 2, 3, 4, 5]\nself.next(self.classify, foreach='numbers')",
    "%%step classify\nself.n = self.input\nself.kind = 'odd' if self.input % 2 else 'even'\n"
    "print('classified', self.input)\n"
    "self.next({'odd': self.odd, 'even': self.even}, condition='kind')",
    "%%step odd\nself.label = f'{self.n} is odd'\nself.next(self.tally)",
    "%%step even\nself.label = f'{self.n} is even'\nself.next(self.tally)",
    "%%step tally\nself.next(self.gather)",
    "%%step gather\nself.labels = sorted(i.label for i in inputs)\nself.next(self.end)",
    "%%step end\nprint(len(self.labels))",
]


def test_runs_details_tasks_logs_and_views_of_a_switch_inside_a_foreach(ip, tmp_path):
    cells = set_notebook(*SWITCH_IN_FOREACH, path=str(tmp_path / "parity.ipynb"))
    for source in cells:
        ok(ip, source)

    runs = browse.list_runs({})
    assert runs["flow"] == "ParityFlow"
    (run,) = runs["runs"]
    assert run["origin"] == "notebook" and run["status"] == "successful"
    assert runs["current"] == run["pathspec"] and run["duration_ms"] > 0

    details = browse.run_details({"run": run["pathspec"]})
    steps = details["steps"]
    assert steps["classify"]["switch_counts"] == {"odd": 3, "even": 2}
    assert steps["classify"]["num_splits"] == 5 and steps["classify"]["done_splits"] == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert {s: v["state"] for s, v in steps.items()} == dict.fromkeys(
        ["start", "classify", "odd", "even", "tally", "gather", "end"], "done"
    )
    assert "switch_counts" not in steps["start"]

    tasks = browse.step_details({"step": "classify"})["tasks"]
    assert [t["label"] for t in tasks] == ["[0]", "[1]", "[2]", "[3]", "[4]"]
    assert [t["input"] for t in tasks] == ["1", "2", "3", "4", "5"]
    assert [t["next"] for t in tasks] == ["odd", "even", "odd", "even", "odd"]
    assert all(t["state"] == "done" and t["duration_ms"] >= 0 for t in tasks)

    logs = browse.task_logs({"pathspec": tasks[1]["pathspec"]})
    assert logs["stdout"].strip().endswith("classified 2") and logs["stderr"] == ""

    view = browse.show({"address": tasks[1]["pathspec"]})["data"]
    assert view["kind"] == "task"
    assert {a["name"]: a["preview"] for a in view["artifacts"]}["kind"] == "'even'"
    artifact = browse.show({"address": f"{tasks[1]['pathspec']}/n"})["data"]
    assert artifact["kind"] == "artifact" and artifact["header"]["name"] == "n"


def test_the_run_browser_lists_runs_of_the_exported_file_and_diffs_two_runs(ip, tmp_path):
    notebook = tmp_path / "parity.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in SWITCH_IN_FOREACH]
    nbformat.write(nb, notebook)
    for source in set_notebook(*SWITCH_IN_FOREACH, path=str(notebook)):
        ok(ip, source)
    flow_py = tmp_path / "parity.py"
    flow_py.write_text(export_notebook(notebook))
    env = {**os.environ, "METAFLOW_USER": "tester", "USER": "tester"}
    done = subprocess.run(
        [sys.executable, str(flow_py), "--quiet", "run", "--tag", "nightly"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    runs = browse.list_runs({})["runs"]
    assert [(r["origin"], r["status"]) for r in runs] == [
        ("script", "successful"),
        ("notebook", "successful"),
    ]
    assert "nightly" in runs[0]["tags"]
    script_run = browse.run_details({"run": runs[0]["pathspec"]})
    assert script_run["steps"]["classify"]["switch_counts"] == {"odd": 3, "even": 2}
    assert script_run["summary"]["origin"] == "script"

    diff = browse.show({"address": "", "diff": [runs[1]["pathspec"], runs[0]["pathspec"]]})["data"]
    assert diff["kind"] == "diff"

    with pytest.raises(ShowError, match="step 'nope' has not run in ParityFlow/"):
        browse.step_details({"step": "nope", "run": runs[0]["pathspec"]})


def test_requests_over_the_comm_are_answered_and_follow_the_schema(kernel):
    fe = Frontend(kernel)
    fe.send(
        "flow",
        {"path": "parity.ipynb", "cells": [cell(i, s) for i, s in enumerate(SWITCH_IN_FOREACH)]},
    )
    fe.wait("flow_model")
    for source in SWITCH_IN_FOREACH:
        assert fe.run_cell(source)["content"]["status"] == "ok"
    fe.send("runs", {"request_id": "r1"})
    runs = fe.wait("runs_result", lambda p: p["request_id"] == "r1")
    (run,) = runs["runs"]
    fe.send("step_details", {"request_id": "r2", "step": "classify"})
    tasks = fe.wait("step_details_result", lambda p: p["request_id"] == "r2")["tasks"]
    assert [t["input"] for t in tasks] == ["1", "2", "3", "4", "5"]
    fe.send("run_details", {"request_id": "r3", "run": run["pathspec"]})
    assert fe.wait("run_details_result", lambda p: p["request_id"] == "r3")["steps"]["classify"][
        "switch_counts"
    ] == {"odd": 3, "even": 2}
    # a request that cannot be served is answered with an error text, not silence
    fe.send("step_details", {"request_id": "r4", "step": "nope"})
    answer = fe.wait("step_details_result", lambda p: p["request_id"] == "r4")
    assert "has not run" in answer["error"]
    fe.send("task_logs", {"request_id": "r5", "pathspec": "NoSuchFlow/1/start/1"})
    assert "error" in fe.wait("task_logs_result", lambda p: p["request_id"] == "r5")
    assert {"runs", "use_run", "task_logs_result"} <= protocol.MESSAGE_TYPES


def test_after_a_restart_the_steps_a_switch_ruled_out_stay_skipped(tmp_path):
    import headless
    from conftest import KernelHarness
    from jupyter_client.manager import start_new_kernel

    sources = [
        (
            "self.mode = 'small'\nself.next({'small': self.small, 'large': self.large}, "
            "condition='mode')",
            "step:start",
        ),
        ("self.size = 1\nself.next(self.end)", "step:small"),
        ("self.size = 100\nself.next(self.end)", "step:large"),
        ("print('done')", "step:end"),
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s, metadata={"tags": [t]}) for s, t in sources]
    path = tmp_path / "sizes.ipynb"
    nbformat.write(nb, path)
    env = headless.kernel_env(JPY_SESSION_NAME=str(path))  # JupyterLab's kernel: the server sets it
    states = []
    for restart in (False, True):
        km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
        try:
            fe = Frontend(KernelHarness(km, kc))
            if not restart:
                for source, _ in sources:
                    assert fe.run_cell(source)["content"]["status"] == "ok"
                fe.barrier()
                states.append({s["step"]: s["state"] for s in fe.statuses()})
            else:
                states.append({k: v["state"] for k, v in fe.snapshot["steps"].items()})
                assert fe.snapshot["steps"]["start"]["switch_counts"] == {"small": 1}
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    live, restored = states
    assert live["large"] == "skipped"
    assert restored == {"start": "done", "small": "done", "large": "skipped", "end": "done"}


def test_a_past_run_can_be_made_the_notebooks_current_run(ip, tmp_path):
    from jupyter_metaflow.session import get_session
    from jupyter_metaflow.sync import get_sync

    cells = set_notebook(*SWITCH_IN_FOREACH, path=str(tmp_path / "parity.ipynb"))
    for source in cells:
        ok(ip, source)
    first = get_session().restorable_run()
    ok(ip, cells[0])  # the start step again: a new run, which is now current
    second = get_session().restorable_run()
    assert second != first

    sync = get_sync()
    sync.on_flow({"path": "parity.ipynb", "cells": [cell(i, s) for i, s in enumerate(cells)]})
    assert browse.use_run({"run": first}) == {"run": first}
    assert get_session().restorable_run() == first
    assert f"{sync.flow}/{sync.run_id}" == first
    assert {s: v["state"] for s, v in sync.run_state()["steps"].items()}["end"] == "done"
    with pytest.raises(ShowError, match=r"not a run of this notebook.s ParityFlow"):
        browse.use_run({"run": "OtherFlow/1"})


class _RunsCode:
    """Pickles to a call of ``open(path, 'w')``: loading it creates ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_the_panel_reads_runs_without_unpickling_objects(ip, tmp_path, monkeypatch):
    """A datastore from elsewhere (a shared one, a folder someone sent) may hold pickles that
    run code when loaded: the details pane and the run browser show parameters, switch
    choices and split inputs only when they are plain data, and name the rest."""
    import gzip
    import pickle

    from metaflow import Flow, namespace
    from metaflow.client import core as client_core
    from metaflow.client.filecache import FileCache

    from jupyter_metaflow._metaflow.artifacts import client_task_datastore

    cells = set_notebook(
        "%%flow ParityFlow\ngroup = Parameter('group', default='nightly')\nUNITS = 'cm'",
        *SWITCH_IN_FOREACH,
        path=str(tmp_path / "parity.ipynb"),
    )
    for source in cells:
        ok(ip, source)
    namespace(None)
    run = Flow("ParityFlow").latest_run
    before = browse.run_details({"run": run.pathspec})
    assert before["parameters"] == {"group": "'nightly'"}  # not the constant UNITS

    marker = tmp_path / "ran"
    payload = gzip.compress(pickle.dumps(_RunsCode(str(marker))))
    planted = [run["_parameters"].task["group"], next(iter(run["classify"]))["_transition"]]
    for artifact in planted:
        ds = client_task_datastore(artifact)
        key = ds._objects[artifact.path_components[-1]]
        blob = tmp_path / ".metaflow" / "ParityFlow" / "data" / key[:2] / key
        assert blob.is_file()
        blob.write_bytes(payload)
    # a new Client cache: what a teammate's kernel reading the shared datastore would see
    monkeypatch.setattr(client_core, "filecache", FileCache(cache_dir=str(tmp_path / "cache")))

    details = browse.run_details({"run": run.pathspec})
    assert details["parameters"] == {"group": "<str: not shown, not plain data>"}
    tasks = browse.step_details({"step": "classify", "run": run.pathspec})["tasks"]
    assert sum("next" not in t for t in tasks) >= 1
    assert [t["input"] for t in tasks] == ["1", "2", "3", "4", "5"]
    assert not marker.exists()


def test_a_cloned_step_reports_its_origins_duration(ip, tmp_path):
    """Re-executing a step clones the steps before it into a new run: after a restart the
    panel reads their durations back from metadata, which must be the time the step took,
    not the time since it ran."""
    import time

    cells = set_notebook(
        "%%step start\nimport time\ntime.sleep(0.3)\nself.next(self.middle)",
        "%%step middle\nself.x = 1\nself.next(self.end)",
        "%%step end\npass",
        path=str(tmp_path / "clones.ipynb"),
    )
    for source in cells:
        ok(ip, source)
    time.sleep(2)
    ok(ip, cells[1])  # a new run: start is a clone of the first run's
    runs = browse.list_runs({})["runs"]
    assert len(runs) == 2
    steps = browse.run_details({"run": runs[0]["pathspec"]})["steps"]
    assert 300 <= steps["start"]["duration_ms"] < 1500


def test_a_run_whose_split_or_middle_step_failed_is_listed_failed(ip, tmp_path):
    """The run browser calls a run failed when any of its tasks raised, as the run's DAG does,
    not only when ``end`` failed: a failed foreach split, a failed middle step."""
    cells = set_notebook(
        "%%step start\nself.items = [1, 0, 2]\nself.next(self.divide, foreach='items')",
        "%%step divide\nself.q = 1 / self.input\nself.next(self.join)",
        "%%step join\nself.qs = [i.q for i in inputs]\nself.next(self.end)",
        "%%step end\npass",
        path=str(tmp_path / "divide.ipynb"),
    )
    ok(ip, cells[0])
    assert not ip.run_cell(cells[1]).success
    (run,) = browse.list_runs({"flow": "DivideFlow"})["runs"]
    details = browse.run_details({"run": run["pathspec"]})
    assert details["steps"]["divide"]["state"] == "failed"
    assert run["status"] == "failed" and details["summary"]["status"] == "failed"
    assert run["finished_at"] is not None

    cells = set_notebook(
        "%%step start\nself.next(self.middle)",
        "%%step middle\nraise ValueError('no')\nself.next(self.end)",
        "%%step end\npass",
        path=str(tmp_path / "middle.ipynb"),
    )
    ok(ip, cells[0])
    assert not ip.run_cell(cells[1]).success
    (run,) = browse.list_runs({"flow": "MiddleFlow"})["runs"]
    assert run["status"] == "failed"

    ok(ip, "%%step middle\nself.next(self.end)")
    runs = browse.list_runs({"flow": "MiddleFlow"})["runs"]
    assert [r["status"] for r in runs] == ["unfinished", "failed"]


def test_a_whole_run_by_mf_run_shows_what_each_switch_chose(kernel):
    """After ``%mf_run`` the DAG shows its run as it shows an in-kernel one: a switch inside a
    foreach with how many splits took each case, not one case for all of them."""
    fe = Frontend(kernel)
    fe.send(
        "flow",
        {"path": "parity.ipynb", "cells": [cell(i, s) for i, s in enumerate(SWITCH_IN_FOREACH)]},
    )
    fe.wait("flow_model")
    reply = fe.run_cell("run = %mf_run\nprint('RUN', run.id)", timeout=300)
    assert reply["content"]["status"] == "ok", fe.output_text(reply["msg_id"])
    run_id = fe.output_text(reply["msg_id"]).split("RUN ")[-1].split()[0]
    states = [s for s in fe.messages("run_state") if s["run_id"] == run_id]
    assert states, "no snapshot of the run %mf_run made"
    classify = states[-1]["steps"]["classify"]
    assert classify["state"] == "done" and classify["switch_counts"] == {"odd": 3, "even": 2}
