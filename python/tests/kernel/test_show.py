"""``%mf_show`` against real Metaflow runs: addresses, views by type, bounds, escaping, diff.

A module-scoped temporary directory holds a ``.metaflow`` datastore with two runs of
``ShowFlow`` (``python flow.py run``, scale 1 and 2) and a notebook run made by the kernel
executor from ``%%flow``/``%%step`` cells in IPython's in-process shell.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import Any

import IPython
import pytest
from IPython.testing.globalipapp import start_ipython
from show_fixtures import FLOW, RICHOBJ

from jupyter_metaflow import _metaflow
from jupyter_metaflow import session as notebook_session
from jupyter_metaflow.cells import CellInput
from jupyter_metaflow.show import artifacts
from jupyter_metaflow.show.address import NotebookRun, ShowError, parse, resolve
from jupyter_metaflow.show.bundle import MIME_TYPE, bundle_size
from jupyter_metaflow.show.magics import ShowMagics

PAYLOAD = '<img src=x onerror="window.__pwned=1">'

NOTEBOOK = (
    "%%flow NbFlow",
    "%%step start\nself.xs = ['a', 'b', 'c']\nself.note = 'from the notebook'\n"
    "self.next(self.work, foreach='xs')",
    "%%step work\nself.out = self.input * 2\nself.next(self.join)",
    "%%step join\nself.outs = [i.out for i in inputs]\nself.next(self.end)",
    "%%step end\nself.done = True",
)
"""The notebook's cells; all but ``end`` run, so ``join`` is the last executed step."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two ShowFlow runs and a notebook run, in one temporary datastore."""
    root = tmp_path_factory.mktemp("show")
    (root / "flow.py").write_text(FLOW)
    (root / "richobj.py").write_text(RICHOBJ)
    env = {
        **os.environ,
        "METAFLOW_USER": "tester",
        "USER": "tester",
        "PYTHONPATH": str(root),
        "MPLBACKEND": "Agg",
    }
    runs = []
    for scale in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "flow.py", "run", "--scale", scale],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append((root / ".metaflow" / "ShowFlow" / "latest_run").read_text().strip())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("METAFLOW_USER", "tester")
        mp.setenv("USER", "tester")
        mp.chdir(root)
        mp.syspath_prepend(str(root))
        _metaflow.forget_datastore_root()
        notebook_session._session = None
        artifacts.clear()
        start_ipython()
        shell = IPython.get_ipython()
        shell.run_line_magic("load_ext", "jupyter_metaflow")
        notebook_session.set_notebook_cells(
            [CellInput(i, f"cell{i}", "code", s) for i, s in enumerate(NOTEBOOK)], "nb.ipynb"
        )
        for source in NOTEBOOK[:-1]:
            result = shell.run_cell(source)
            assert result.success, result.error_in_exec
        yield {"root": root, "a": f"ShowFlow/{runs[0]}", "b": f"ShowFlow/{runs[1]}", "shell": shell}
        notebook_session._session = None
        _metaflow.forget_datastore_root()


def show(address: str = "", diff: list[str] | None = None, max_kb: int = 100) -> dict[str, Any]:
    return ShowMagics.bundle(address, diff, max_kb * 1024)


def data(bundle: dict[str, Any]) -> dict[str, Any]:
    assert set(bundle) == {MIME_TYPE, "text/html", "text/plain"}
    json.dumps(bundle[MIME_TYPE])  # JSON-safe
    return bundle[MIME_TYPE]


# -- parsing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        ("", {}),
        ("self.model", {"artifact": "model", "last_step": True}),
        ("train", {"step": "train"}),
        ("train.model", {"step": "train", "artifact": "model"}),
        ("train[3].model", {"step": "train", "index": (3,), "artifact": "model"}),
        ("train[3]", {"step": "train", "index": (3,)}),
        ("cell[1][2].word", {"step": "cell", "index": (1, 2), "artifact": "word"}),
        ("MyFlow/1234", {"flow": "MyFlow", "run": "1234"}),
        ("MyFlow/1234/train", {"flow": "MyFlow", "run": "1234", "step": "train"}),
        (
            "MyFlow/1234/train/model",
            {"flow": "MyFlow", "run": "1234", "step": "train", "artifact": "model"},
        ),
        (
            "MyFlow/1234/train/5678",
            {"flow": "MyFlow", "run": "1234", "step": "train", "task": "5678"},
        ),
        (
            "MyFlow/1234/train/5678/model",
            {"flow": "MyFlow", "run": "1234", "step": "train", "task": "5678", "artifact": "model"},
        ),
        (
            "MyFlow/1234/train[2].model",
            {"flow": "MyFlow", "run": "1234", "step": "train", "index": (2,), "artifact": "model"},
        ),
    ],
)
@pytest.mark.unit
def test_parse_every_form(text: str, expected: dict[str, Any]) -> None:
    address = parse(text)
    fields = {k: v for k, v in vars(address).items() if k != "text" and v not in (None, False)}
    assert fields == expected


@pytest.mark.parametrize(
    "text",
    [
        "train.",
        "1train",
        "a b",
        "train[x].m",
        "self.",
        "F/1//x",
        "F/1/s/t-1",
        "F/1/s/2/3/4",
        "F/1/s[1].a/2",
    ],
)
@pytest.mark.unit
def test_parse_rejects_malformed_addresses(text: str) -> None:
    with pytest.raises(ShowError, match="cannot read"):
        parse(text)


# -- the notebook's run ----------------------------------------------------------------------
def test_whole_notebook_run(world: Any) -> None:
    d = data(show(""))
    assert d["kind"] == "run"
    assert d["header"]["pathspec"].startswith("NbFlow/")
    steps = {s["step"]: s for s in d["steps"]}
    assert list(steps) == ["start", "work", "join"]
    assert steps["work"]["tasks"] == 3 and steps["work"]["status"] == "ok"
    assert "note" in steps["start"]["artifacts"]
    assert "name" not in steps["start"]["artifacts"]  # Metaflow's, not the flow's


def test_self_is_the_last_executed_step(world: Any) -> None:
    d = data(show("self.outs"))
    assert d["kind"] == "artifact"
    assert d["header"]["step"] == "join" and d["header"]["type"] == "list"
    entries = d["view"]["root"]["entries"]
    assert [e["value"]["text"] for e in entries] == ["'aa'", "'bb'", "'cc'"]


def test_foreach_every_split_and_one_split(world: Any) -> None:
    d = data(show("work.out"))
    assert d["kind"] == "splits" and d["header"]["splits"] == 3
    assert [(s["index"], s["label"], s["view"]["preview"]) for s in d["splits"]] == [
        (0, "[0]", "aa"),
        (1, "[1]", "bb"),
        (2, "[2]", "cc"),
    ]
    # which value came from which input, the run said once in the header
    assert [s["input"] for s in d["splits"]] == [{"var": "xs", "value": v} for v in "abc"]
    run = d["header"]["pathspec"]
    assert run.count("/") == 1 and (d["header"]["over"], d["header"]["type"]) == ("xs", "str")
    text = show("work.out")["text/plain"]
    assert "[1] \u00b7 xs = b \u00b7 str: str of length 2 | bb" in text and text.count(run) == 1
    assert next(t["input"] for t in data(show("work"))["tasks"]) == {"var": "xs", "value": "a"}
    one = data(show("work[1].out"))
    assert one["kind"] == "artifact" and one["header"]["index"] == 1
    assert one["view"] == {"kind": "text", "type": "str", "length": 2, "lines": 1, "preview": "bb"}


def test_step_table(world: Any) -> None:
    d = data(show("start"))
    assert d["kind"] == "step"
    rows = {a["name"]: a for a in d["artifacts"]}
    assert rows["note"]["type"] == "str" and rows["note"]["preview"] == "'from the notebook'"
    assert "name" not in rows and "\nname: " not in show("start")["text/plain"]
    assert rows["xs"]["size"] > 0
    work = data(show("work"))
    assert [(t["index"], t["label"]) for t in work["tasks"]] == [(0, "[0]"), (1, "[1]"), (2, "[2]")]


def test_errors_say_what_exists(world: Any) -> None:
    with pytest.raises(
        ShowError,
        match=r"no step 'wrk'; did you mean 'work'\? steps: start, "
        r"work, join",
    ):
        show("wrk.out")
    with pytest.raises(ShowError, match=r"no artifact 'notes'; did you mean 'note'\?.*xs"):
        show("start.notes")
    with pytest.raises(ShowError, match=r"no split \[5\]; splits: \[0\], \[1\], \[2\]"):
        show("work[5].out")
    with pytest.raises(ShowError, match=r"not a foreach split"):
        show("start[0].note")
    with pytest.raises(ShowError, match=r"flow ShowFlow has no run '42'; latest runs: \d+"):
        show("ShowFlow/42/start")
    with pytest.raises(ShowError, match=r"no flow 'ShowFlw'; did you mean 'ShowFlow'\?"):
        show("ShowFlw/1")
    with pytest.raises(ShowError, match=r"has no task '999'; tasks: \d+"):
        show(f"{world['a']}/start/999")


def test_no_notebook_run_yet(world: Any) -> None:
    for address in ("", "train.x", "self.x"):
        with pytest.raises(
            ShowError,
            match=r"no (run|step has run) in this notebook yet|"
            "this notebook has no run yet",
        ):
            resolve(parse(address), NotebookRun())
    with pytest.raises(
        ShowError, match=r"^this notebook has no run yet"
    ):  # %mf_show adds "%mf_show: "
        resolve(parse(""), NotebookRun())


# -- past runs by pathspec -------------------------------------------------------------------
def test_pathspec_forms(world: Any) -> None:
    run = world["a"]
    assert data(show(run))["kind"] == "run"
    assert data(show(f"{run}/start"))["kind"] == "step"
    artifact = data(show(f"{run}/start/arr"))
    assert artifact["kind"] == "artifact" and artifact["view"]["kind"] == "ndarray"
    task_id = artifact["header"]["task"]
    task = data(show(f"{run}/start/{task_id}"))
    assert task["kind"] == "task" and task["header"]["pathspec"] == f"{run}/start/{task_id}"
    same = data(show(f"{run}/start/{task_id}/arr"))
    assert same["header"]["pathspec"] == f"{run}/start/{task_id}/arr"
    assert data(show(f"{run}/train[2].score"))["view"]["text"] == "30"
    assert data(show(f"{run}/train/score"))["kind"] == "splits"


# -- views by type ---------------------------------------------------------------------------
def test_dataframe_view(world: Any) -> None:
    d = data(show(f"{world['a']}/start/df"))
    v = d["view"]
    assert d["header"]["type"] == "pandas.DataFrame" and d["header"]["size"] > 0
    assert v["kind"] == "dataframe" and v["shape"] == [1000, 3]
    assert v["columns"] == ["a", PAYLOAD, "f"]
    assert v["dtypes"][0] == "int64" and v["dtypes"][2] == "float64"
    assert v["head"]["start"] == 0 and v["head"]["index"][:2] == ["0", "1"]
    assert v["tail"]["start"] == 1000 - v["page_size"] and v["tail"]["index"][-1] == "999"
    assert v["head"]["cells"][1] == ["1", PAYLOAD, "0.001001"]
    assert d["page"] == {"pathspec": f"{world['a']}/start/{d['header']['task']}", "artifact": "df"}


def test_series_view(world: Any) -> None:
    v = data(show(f"{world['a']}/start/series"))["view"]
    assert v["kind"] == "dataframe" and v["series"] and v["shape"] == [50, 1]
    assert v["columns"] == ["s"]


def test_ndarray_view_with_stats_and_image(world: Any) -> None:
    v = data(show(f"{world['a']}/start/arr"))["view"]
    assert v["shape"] == [3, 4] and v["dtype"] == "float64"
    assert v["stats"] == {
        "nan": 0,
        "sampled": False,
        "min": 0.0,
        "max": 11.0,
        "mean": 5.5,
        "std": pytest.approx(3.452, abs=1e-3),
    }
    assert "image" not in v and "[ 8.,  9., 10., 11.]" in v["preview"]
    img = data(show(f"{world['a']}/start/img"))["view"]
    assert img["image"]["width"] == 30 and img["image"]["height"] == 40
    assert base64.b64decode(img["image"]["png"]).startswith(b"\x89PNG")


def test_figure_and_pil_image_as_png(world: Any) -> None:
    fig = data(show(f"{world['a']}/start/fig"))
    assert fig["header"]["type"] == "matplotlib.figure.Figure"
    assert fig["view"]["kind"] == "image" and fig["view"]["source"] == "matplotlib"
    assert base64.b64decode(fig["view"]["image"]["png"]).startswith(b"\x89PNG")
    photo = data(show(f"{world['a']}/start/photo"))["view"]
    assert photo["source"] == "PIL" and photo["detail"] == "64\u00d748 px, mode RGB"
    assert (photo["image"]["width"], photo["image"]["height"]) == (64, 48)


def test_estimator_has_own_html_and_params(world: Any) -> None:
    v = data(show(f"{world['a']}/start/model"))["view"]
    assert v["kind"] == "estimator"
    assert ["C", "0.5"] in v["params"]
    assert "LogisticRegression" in v["html"] and v["text"] == "LogisticRegression(C=0.5)"


def test_containers_as_truncated_tree(world: Any) -> None:
    root = data(show(f"{world['a']}/start/nested"))["view"]["root"]
    assert root["type"] == "dict" and root["length"] == 4
    first = root["entries"][0]
    assert first["key"] == repr(PAYLOAD)
    deep = first["value"]["entries"][0]["value"]
    assert deep["type"] == "list" and deep["length"] == 500
    assert len(deep["entries"]) == 40 and deep["omitted"] == 460
    by_key = {e["key"]: e["value"] for e in root["entries"]}
    assert [e["value"]["text"] for e in by_key["'s'"]["entries"]] == ["1", "2", "3"]
    assert by_key["'t'"]["type"] == "tuple"


def test_str_and_bytes(world: Any) -> None:
    words = data(show(f"{world['a']}/start/words"))["view"]
    assert words["length"] == 19000 and words["lines"] == 1001
    assert len(words["preview"]) == 4000 and words["preview"].endswith("\u2026")
    blob = data(show(f"{world['a']}/start/blob"))["view"]
    assert blob["type"] == "bytes" and blob["length"] == 2560
    assert blob["preview"].startswith("\\x00\\x01\\x02")


def test_own_html_and_safe_repr_fallback(world: Any) -> None:
    rich = data(show(f"{world['a']}/start/rich"))["view"]
    assert (
        rich["kind"] == "rich"
        and rich["html"].startswith("<b onclick")
        and rich["text"] == "Rich()"
    )
    broken = data(show(f"{world['a']}/start/broken"))
    assert broken["view"]["kind"] == "repr"
    assert "repr() failed: RuntimeError: no repr for you" in broken["view"]["text"]


# -- bounds ----------------------------------------------------------------------------------
def test_every_bundle_fits_the_default_limit(world: Any) -> None:
    run = world["a"]
    for name in (
        "df",
        "series",
        "big",
        "arr",
        "img",
        "photo",
        "fig",
        "model",
        "nested",
        "words",
        "blob",
        "rich",
        "broken",
    ):
        bundle = show(f"{run}/start/{name}")
        assert bundle_size(bundle) <= 100 * 1024, name
    big = data(show(f"{run}/start/big"))["view"]
    assert big["shape"] == [1_000_000, 2] and len(big["head"]["cells"]) == 10


def test_smaller_limit_shrinks_the_view(world: Any) -> None:
    full = show(f"{world['a']}/start/fig")
    small = show(f"{world['a']}/start/fig", max_kb=8)
    assert bundle_size(small) <= 8 * 1024 < bundle_size(full)
    assert any("8 KB" in n for n in data(small)["notes"])
    tiny = data(show(f"{world['a']}/start/nested", max_kb=1))
    assert tiny["kind"] == "omitted" and "--max-kb" in tiny["notes"][0]


# -- escaping --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["df", "nested", "words", "rich"])
def test_html_fallback_escapes_everything(world: Any, name: str) -> None:
    html = show(f"{world['a']}/start/{name}")["text/html"]
    assert "<img src=x" not in html and "<b onclick" not in html and "<b>world" not in html
    if name in ("df", "nested"):
        assert "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in html


# -- the magic -------------------------------------------------------------------------------
def test_magic_displays_one_bundle(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    shell = world["shell"]
    shown: list[dict[str, Any]] = []
    monkeypatch.setattr(
        shell.display_pub, "publish", lambda data, metadata=None, **kw: shown.append(data)
    )
    assert shell.run_cell(f"%mf_show --max-kb 50 {world['a']}/start/arr").success
    assert len(shown) == 1 and set(shown[0]) == {MIME_TYPE, "text/html", "text/plain"}
    result = shell.run_cell("%mf_show start.nope")
    assert not result.success
    assert "no artifact 'nope'" in str(result.error_in_exec)
    result = shell.run_cell('%mf_show "start.arr')  # was a raw ValueError traceback from shlex
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert str(result.error_in_exec) == "%mf_show: cannot read '\"start.arr': No closing quotation"


# -- run comparison --------------------------------------------------------------------------
def test_diff_whole_runs(world: Any) -> None:
    d = data(show(diff=[world["a"], world["b"]]))
    assert d["kind"] == "diff" and d["unchanged"] > 0
    rows = {(r["step"], r["split"], r["artifact"]): r for r in d["rows"]}
    assert rows[("start", None, "arr")]["status"] == "changed"
    score = rows[("train", "[2]", "score")]
    assert (score["value_a"], score["value_b"]) == ("30", "60")
    assert ("start", None, "words") not in rows  # same content hash


def test_diff_one_large_artifact_gives_summary_deltas(world: Any) -> None:
    d = data(show("start.big", diff=[world["a"], world["b"]]))
    assert d["header"]["scope"] == "start.big"
    (row,) = d["rows"]
    assert row["size_a"] > 64 * 1024
    assert row["changes"] == [["mean['y']", "1", "2"]]
    small = data(show("start.df", diff=[world["a"], world["b"]]))["rows"][0]
    assert small["type_a"] == small["type_b"] == "pandas.DataFrame"
    assert "value_a" in small and small["value_a"] != small["value_b"]
    with pytest.raises(ShowError, match="give the run as Flow/"):
        resolve_run_without_notebook(world["b"].split("/")[1])


def resolve_run_without_notebook(run_id: str) -> Any:
    from jupyter_metaflow.show.address import resolve_run

    return resolve_run(run_id, NotebookRun())


def test_unloadable_artifact_says_why(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(world["root"])])
    monkeypatch.delitem(sys.modules, "richobj", raising=False)
    with pytest.raises(
        ShowError,
        match=r"cannot load .*/start/\d+/rich: ModuleNotFoundError: "
        r"No module named 'richobj'.*importable",
    ):
        show(f"{world['a']}/start/rich")
    rows = {a["name"]: a for a in data(show(f"{world['a']}/start"))["artifacts"]}
    assert rows["rich"]["type"] is None and "No module named 'richobj'" in rows["rich"]["preview"]
    assert rows["arr"]["type"] == "numpy.ndarray"
    changed = {r["artifact"]: r for r in data(show(diff=[world["a"], world["b"]]))["rows"]}
    assert "No module named 'richobj'" in changed["rich"]["note"]
    assert changed["arr"]["type_a"] == "numpy.ndarray"  # the rest of the diff still shows


def test_values_of_a_failed_task_are_marked(ip) -> None:
    from inprocess import ok, set_notebook

    cells = set_notebook(
        "%%step start\nself.items = [1, 2]\nself.next(self.mid, foreach='items')",
        "%%step mid\nself.b = self.input * 10\nassert self.input == 1, 'split 2 breaks'",
        "%%step join\nself.next(self.end)",
        "%%step end",
        path="failing_nb.ipynb",
    )
    ok(ip, cells[0])
    assert not ip.run_cell(cells[1]).success
    splits = data(show("mid.b"))
    assert [s["view"]["text"] for s in splits["splits"]] == ["10", "20"]
    (note,) = splits["notes"]
    assert note.startswith("1 of these tasks (") and "did not finish successfully" in note
    failed = data(show("mid[1].b"))
    assert failed["view"]["text"] == "20" and failed["notes"][0].startswith(
        "this task did not finish"
    )
    assert "did not finish successfully" in show("mid[1].b")["text/plain"]
    assert "notes" not in data(show("mid[0].b")) and "notes" not in data(show("start.items"))


def test_nested_foreach_split_by_one_index_per_foreach(ip) -> None:
    from inprocess import ok, set_notebook

    cells = set_notebook(
        "%%step start\nself.rows = ['a', 'b']\nself.next(self.row, foreach='rows')",
        "%%step row\nself.cols = [self.input + str(i) for i in range(3)]\n"
        "self.next(self.cell, foreach='cols')",
        "%%step cell\nself.word = self.input.upper()",
        "%%step join_cols\nself.next(self.join_rows)",
        "%%step join_rows\nself.next(self.end)",
        "%%step end",
        path="grid_nb.ipynb",
    )
    for cell in cells[:3]:
        ok(ip, cell)
    one = data(show("cell[1][2].word"))
    assert one["kind"] == "artifact" and one["view"]["preview"] == "B2"
    inner = data(show("cell[2].word"))  # one index: the innermost, in every row
    assert [(s["label"], s["view"]["preview"]) for s in inner["splits"]] == [
        ("[0][2]", "A2"),
        ("[1][2]", "B2"),
    ]
    with pytest.raises(ShowError, match=r"no split \[2\]\[0\]; splits: \[0\]\[0\], \[0\]\[1\], "):
        show("cell[2][0].word")

    # --diff pairs a nested foreach's tasks by their whole position (was by innermost index:
    # one of [0][2] and [1][2] silently dropped)
    from jupyter_metaflow.session import get_session

    first = get_session().current_run
    cells = set_notebook(
        *cells[:2], cells[2].replace("upper()", "lower()"), *cells[3:], path="grid_nb.ipynb"
    )
    ok(ip, cells[2])
    rows = data(show("cell.word", diff=[first, get_session().current_run]))["rows"]
    assert [(r["split"], r["value_a"], r["value_b"]) for r in rows] == [
        ("[0][0]", "'A0'", "'a0'"),
        ("[0][1]", "'A1'", "'a1'"),
        ("[0][2]", "'A2'", "'a2'"),
        ("[1][0]", "'B0'", "'b0'"),
        ("[1][1]", "'B1'", "'b1'"),
        ("[1][2]", "'B2'", "'b2'"),
    ]


def test_artifact_set_in_some_splits_only(ip) -> None:
    from inprocess import ok, set_notebook

    cells = set_notebook(
        "%%step start\nself.items = [0, 1, 2]\nself.next(self.mid, foreach='items')",
        "%%step mid\nif self.input == 1:\n    self.found = 'split one'",
        "%%step join\nself.next(self.end)",
        "%%step end",
        path="partial_nb.ipynb",
    )
    ok(ip, cells[0])
    ok(ip, cells[1])
    splits = data(show("mid.found"))  # was: "task .../mid/N has no artifact 'found'"
    assert [
        (
            s["label"],
            s["type"],
            s["view"]["text"] if s["type"] == "not set" else s["view"]["preview"],
        )
        for s in splits["splits"]
    ] == [
        ("[0]", "not set", "this task did not set 'found'"),
        ("[1]", "str", "split one"),
        ("[2]", "not set", "this task did not set 'found'"),
    ]
    with pytest.raises(ShowError, match=r"mid/\d+ has no artifact 'fond'"):  # in no split
        show("mid.fond")


def test_frame_splits_name_their_task_for_the_pager(ip) -> None:
    import metaflow
    from inprocess import ok, set_notebook

    from jupyter_metaflow.show.address import any_namespace

    cells = set_notebook(
        "%%step start\nself.items = [1, 2]\nself.next(self.mid, foreach='items')",
        "%%step mid\nimport pandas as pd\nself.df = pd.DataFrame({'v': range(100 * self.input)})",
        "%%step join\nself.next(self.end)",
        "%%step end",
        path="frames_nb.ipynb",
    )
    ok(ip, cells[0])
    ok(ip, cells[1])
    splits = data(show("mid.df"))["splits"]
    for split, rows in zip(splits, (100, 200)):
        page = split["page"]  # was absent: the pager of a split could not fetch other rows
        assert page["pathspec"] == split["pathspec"].rsplit("/", 1)[0] and page["artifact"] == "df"
        with any_namespace():
            assert len(metaflow.Task(page["pathspec"])[page["artifact"]].data) == rows
