"""``%mf_inputs``: a step's inputs from the current run as ``self`` (and ``inputs``), in a real
IPython shell against real notebook runs; nothing set on them is stored."""

from __future__ import annotations

import pytest
from inprocess import ok, set_notebook
from IPython.core.error import UsageError

from jupyter_metaflow import errors

CELLS = (
    "%%flow InputsFlow\nC_VALUES = [0.1, 1.0, 10.0]",
    "%%step start\nself.rows = [[1, 2], [3, 4]]\nself.c_values = list(self.C_VALUES)\n"
    "self.next(self.train, foreach='c_values')",
    "%%step train\nself.c = self.input\nself.score = self.c * len(self.rows)",
    "%%step choose\nself.best = max(i.score for i in inputs)",
    "%%step end\nprint(self.best)",
)


def test_self_reads_what_a_split_receives_and_stores_nothing(ip, capsys):
    from metaflow import Flow

    set_notebook(*CELLS, path="inputs.ipynb")
    for source in CELLS[:2]:
        ok(ip, source)
    capsys.readouterr()
    ok(ip, "%mf_inputs train 2")
    out = capsys.readouterr().out
    assert "self now read what step 'train' receives: split [2] of 3: self.input = 10.0" in out
    me = ip.user_ns["self"]
    assert (me.input, me.index, me.rows, me.C_VALUES) == (
        10.0,
        2,
        [[1, 2], [3, 4]],
        [0.1, 1.0, 10.0],
    )
    # the step body, line by line in scratch cells
    ok(ip, "self.c = self.input\nself.score = self.c * len(self.rows)")
    assert ip.user_ns["self"].score == 20.0
    start = Flow("InputsFlow").latest_run["start"].task
    assert "score" not in start and "c" not in start  # nothing was stored
    with pytest.raises(AttributeError, match="has no artifact 'nope'"):
        _ = me.nope


def test_inputs_of_a_join_and_errors_that_say_what_to_do(ip):
    set_notebook(*CELLS, path="inputs.ipynb")
    with pytest.raises(errors.RunOrderError, match="No run of the flow yet"):
        ip.run_line_magic("mf_inputs", "train")
    for source in CELLS[:3]:
        ok(ip, source)
    ok(ip, "%mf_inputs choose")
    inputs = ip.user_ns["inputs"]
    assert [i.score for i in inputs] == [0.2, 2.0, 20.0]
    ok(ip, "best = max(i.score for i in inputs)")
    assert ip.user_ns["best"] == 20.0
    with pytest.raises(AttributeError, match="a join's self holds nothing"):
        _ = ip.user_ns["self"].score
    ip.user_ns["self"].merge_artifacts(inputs, include=["rows"])
    assert ip.user_ns["self"].rows == [[1, 2], [3, 4]]
    with pytest.raises(UsageError, match="no step 'trian'"):
        ip.run_line_magic("mf_inputs", "trian")
    with pytest.raises(UsageError, match="splits 0 to 2"):
        ip.run_line_magic("mf_inputs", "train 5")


SWITCH_CELLS = (
    "%%flow SwitchInputsFlow",
    "%%step start\nself.items = [1, 2, 3]\nself.next(self.classify, foreach='items')",
    "%%step classify\nself.n = self.input\nself.kind = 'odd' if self.n % 2 else 'even'\n"
    "self.next({'odd': self.odd, 'even': self.even}, condition='kind')",
    "%%step odd\nself.next(self.gather)",
    "%%step even\nself.next(self.gather)",
    "%%step gather\nself.ns = sorted(i.n for i in inputs)",
    "%%step end\nprint(self.ns)",
)


def test_a_case_of_a_switch_reads_only_the_tasks_that_chose_it(ip, capsys):
    set_notebook(*SWITCH_CELLS, path="switch_inputs.ipynb")
    for source in SWITCH_CELLS[:3]:
        ok(ip, source)
    capsys.readouterr()
    ok(ip, "%mf_inputs even")  # split [1] (n = 2) is the only one that went to even
    me = ip.user_ns["self"]
    # inside the foreach, self.input and self.index are the split's, as in Metaflow
    assert (me.n, me.input, me.index) == (2, 2, 1)
    out = capsys.readouterr().out
    assert "classify/" in out and "(split [1]; 1 went to 'even')" in out
    ok(ip, "%mf_inputs odd 2")
    assert ip.user_ns["self"].n == 3
    with pytest.raises(UsageError, match=r"going to 'odd' \(the splits whose switch went to "):
        ip.run_line_magic("mf_inputs", "odd 1")


def test_a_case_the_switch_did_not_choose_says_where_it_went(ip):
    cells = (
        "%%flow OneCaseFlow",
        "%%step start\nself.kind = 'even'\n"
        "self.next({'odd': self.odd, 'even': self.even}, condition='kind')",
        "%%step odd\nself.next(self.end)",
        "%%step even\nself.next(self.end)",
        "%%step end\npass",
    )
    set_notebook(*cells, path="one_case.ipynb")
    ok(ip, cells[0])
    ok(ip, cells[1])
    ok(ip, "%mf_inputs even")
    assert ip.user_ns["self"].kind == "even"
    went = r"the switch in 'start' did not go to 'odd' \(it went to 'even'\)"
    with pytest.raises(errors.RunOrderError, match=went):
        ip.run_line_magic("mf_inputs", "odd")
