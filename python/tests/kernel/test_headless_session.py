"""The session without a frontend, in-process (IPython's test shell, like ``test_executor.py``):
papermill's injected values as the flow's Parameters, and steps that wait for the flow.
The runners themselves are exercised in ``test_headless_runners.py``."""

from __future__ import annotations

from inprocess import ok, set_notebook

from jupyter_metaflow import errors
from jupyter_metaflow import session as notebook_session

FLOW = (
    "%%flow GreetFlow --greeting Hi\ngreeting = Parameter('greeting', default='Hello')\n"
    "repeat = Parameter('repeat', default=1)"
)
INJECTED = '# Parameters\ngreeting = "Bonjour"\nrepeat = 2\n'
START = "%%step start\nself.text = ' '.join([self.greeting] * self.repeat)\nself.next(self.end)"
END = "%%step end\nprint(self.text)"


def latest(flow: str):
    from metaflow import Flow, namespace

    namespace(None)
    return Flow(flow).latest_run


def test_papermills_injected_cell_sets_the_flows_parameters(ip, capsys):
    for cell in (FLOW, INJECTED, START, END):
        ok(ip, cell)
    out = capsys.readouterr().out
    assert "Step 'start' waits until the flow is complete" in out and "Bonjour Bonjour" in out
    run = latest("GreetFlow")
    assert run["start"].task.data.text == "Bonjour Bonjour" and run["end"].task.data.repeat == 2


def test_an_injected_name_the_flow_does_not_declare_is_an_error_naming_it(ip):
    ok(ip, FLOW)
    ok(ip, '# Parameters\ngreting = "Bonjour"\n')
    ok(ip, START)  # waits
    error = ip.run_cell(END).error_in_exec
    assert isinstance(error, errors.FlowDefinitionError)
    assert "papermill parameter 'greting' is not a Parameter of the flow GreetFlow" in str(error)
    assert "its Parameters: greeting, repeat" in str(error)


def test_a_users_own_parameters_cell_is_not_papermills(ip):
    """With the notebook known, only the cell tagged injected-parameters is papermill's."""
    from jupyter_metaflow.cells import CellInput

    cells = [FLOW, INJECTED, START, END]
    notebook_session.set_notebook_cells(
        [CellInput(i, f"c{i}", "code", s) for i, s in enumerate(cells)], "greet.ipynb"
    )
    for cell in cells:
        ok(ip, cell)
    assert latest("GreetFlow")["start"].task.data.text == "Hi"
    tagged = [
        CellInput(i, f"c{i}", "code", s, ("injected-parameters",) if s == INJECTED else ())
        for i, s in enumerate(cells)
    ]
    notebook_session.set_notebook_cells(tagged, "greet.ipynb")
    ok(ip, START)
    assert latest("GreetFlow")["start"].task.data.text == "Bonjour Bonjour"


def test_set_notebook_keeps_the_frontend_mode(ip, capsys):
    """With a frontend's cells, a step never waits: errors show at once, as in JupyterLab."""
    cells = set_notebook(START, path="greet.ipynb")
    error = ip.run_cell(cells[0]).error_in_exec
    assert isinstance(error, errors.FlowDefinitionError) and "no 'end' step" in str(error)
    assert "waits" not in capsys.readouterr().out
