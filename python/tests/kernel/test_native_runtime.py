"""Steps whose decorators need Metaflow's runtime run through it (``resume STEP`` on the
generated flow file via ``metaflow.Runner``), and their run becomes the notebook's run."""

from __future__ import annotations

import pytest
from inprocess import ok, set_notebook

from jupyter_metaflow import flowbuild, native_runtime
from jupyter_metaflow import session as notebook_session


def notebook(*sources: str, path: str = "rt_nb.ipynb") -> list[str]:
    return set_notebook(*sources, path=path)


@pytest.mark.unit
def test_which_decorators_need_the_runtime():
    from metaflow import (
        FlowSpec,
        batch,
        card,
        catch,
        environment,
        kubernetes,
        parallel,
        pypi,
        resources,
        retry,
        step,
        timeout,
    )

    class RoutingFlow(FlowSpec):
        @card
        @catch(var="problem")
        @retry(times=0)
        @resources(cpu=2)
        @step
        def start(self):
            self.next(self.a)

        @retry
        @step
        def a(self):
            self.next(self.b)

        @timeout(seconds=5)
        @environment(vars={"X": "1"})
        @step
        def b(self):
            self.next(self.c)

        @kubernetes
        @step
        def c(self):
            self.next(self.d)

        @batch
        @pypi(packages={"six": "1.16.0"})
        @step
        def d(self):
            self.next(self.e, num_parallel=2)

        @parallel
        @step
        def e(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    reasons = {
        name: native_runtime.runtime_reasons(RoutingFlow, name) for name in RoutingFlow._graph.nodes
    }
    assert reasons["start"] == [] and reasons["join"] == [] and reasons["end"] == []
    assert reasons["a"] == ["@retry(times=3) relaunches a failed task"]
    assert set(reasons["b"]) == {
        "@timeout is enforced on the task process",
        "@environment sets the task process's environment",
    }
    assert reasons["c"] == ["@kubernetes launches the task on Kubernetes"]
    assert set(reasons["d"]) == {
        "@batch launches the task on AWS Batch",
        "@pypi builds the step's PyPI environment",
    }
    assert reasons["e"] == ["@parallel starts a control task and its workers"]


def test_retry_step_runs_in_the_runtime_and_joins_the_notebook_run(ip, tmp_path, capsys):
    from metaflow import Flow

    cells = notebook(
        "%%step start\nself.x = 1",
        "%%step flaky\n@retry(times=2)\nprint('attempt', current.retry_count)\n"
        "if current.retry_count < 1:\n    raise RuntimeError('flaky on purpose')\n"
        "self.attempts = current.retry_count + 1\nself.x += 1",
        "%%step end\nprint('x', self.x, 'attempts', self.attempts)",
    )
    ok(ip, cells[0])
    notebook_run = Flow("RtNbFlow").latest_run.id
    ok(ip, cells[1])
    out = capsys.readouterr().out
    assert (
        "Step 'flaky' runs under Metaflow's runtime, not in the kernel: "
        "@retry(times=2) relaunches a failed task."
    ) in out
    assert f"`python rt_nb.nbflow.py resume flaky --origin-run-id {notebook_run}`" in out
    assert "RuntimeError: flaky on purpose" in out and "Task is starting (retry)." in out
    assert "The runtime also ran end; executing those cells runs them again in the kernel" in out
    run = Flow("RtNbFlow").latest_run
    assert run.id != notebook_run and run.successful
    assert notebook_session.get_session().current_run == f"RtNbFlow/{run.id}"
    assert run["start"].task.metadata_dict.get("origin-run-id") == notebook_run
    assert run["flaky"].task.data.attempts == 2 and run["flaky"].task.current_attempt == 1
    assert (tmp_path / "rt_nb.nbflow.py").read_text().startswith("# Exported from rt_nb.ipynb")
    # a later in-kernel step reads what the runtime produced
    ok(ip, cells[2])
    assert "x 2 attempts 2" in capsys.readouterr().out
    assert Flow("RtNbFlow").latest_run["end"].task.data.x == 2


def test_a_step_mutator_adding_retries_sends_the_step_to_the_runtime(ip, capsys):
    from metaflow import Flow

    cells = notebook(
        "from metaflow import StepMutator\n"
        "class flaky_ok(StepMutator):\n"
        "    def mutate(self, mutable_step):\n"
        "        mutable_step.add_decorator('retry', deco_kwargs={'times': 2})\n",
        "%%step start\n@flaky_ok\nif current.retry_count < 1:\n    raise RuntimeError('flaky on "
        "purpose')\n"
        "self.attempts = current.retry_count + 1",
        "%%step end\npass",
    )
    ok(ip, cells[0])
    capsys.readouterr()
    ok(ip, cells[1])  # ran once in the kernel and failed: the mutator's @retry was not seen
    assert (
        "Step 'start' runs under Metaflow's runtime, not in the kernel: "
        "@retry(times=2) relaunches a failed task."
    ) in capsys.readouterr().out
    assert Flow("RtNbFlow").latest_run["start"].task.data.attempts == 2


def test_parallel_step_runs_in_the_runtime(ip, capsys, monkeypatch):
    from metaflow import Flow

    # Metaflow starts @parallel workers as `python` from PATH; a kernel whose PATH lacks its
    # own interpreter (JupyterLab started without activating the venv) must still work.
    monkeypatch.setenv("PATH", "/usr/bin:/bin")

    cells = notebook(
        "%%step start\nself.base = 10\nself.next(self.train, num_parallel=2)",
        "%%step train\n@parallel\nself.rank = current.parallel.node_index + self.base",
        "%%step gather\nself.ranks = sorted(i.rank for i in inputs)\nself.next(self.end)",
        "%%step end\npass",
    )
    ok(ip, cells[0])  # the num_parallel split itself runs in the kernel
    assert "Metaflow's runtime" not in capsys.readouterr().out
    ok(ip, cells[1])
    assert "@parallel starts a control task and its workers" in capsys.readouterr().out
    run = Flow("RtNbFlow").latest_run
    assert run.successful and run["gather"].task.data.ranks == [10, 11]


def test_pypi_step_runs_in_metaflows_pypi_environment(ip, capsys):
    """The runtime gets --environment=pypi (without it Metaflow refuses @pypi). Where
    micromamba cannot be fetched (this machine reaches PyPI only), Metaflow's bootstrap error
    shows in the cell and the notebook's run stays current."""
    from metaflow import Flow

    cells = notebook(
        "%%step start\nself.x = 1",
        "%%step deps\n@pypi(packages={'six': '1.16.0'})\nimport six\nself.v = six.__version__",
        "%%step end\npass",
    )
    ok(ip, cells[0])
    before = Flow("RtNbFlow").latest_run.id
    result = ip.run_cell(cells[1])
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "@pypi builds the step's PyPI environment" in out
    assert (
        f"Running `python rt_nb.nbflow.py --environment=pypi resume deps --origin-run-id {before}`"
        in out
    )
    assert (
        "Bootstrapping virtual environment" in out
    )  # was: @pypi decorator requires --environment=...
    if result.success:  # a machine with micromamba (or its download) at hand
        assert Flow("RtNbFlow").latest_run["deps"].task.data.v == "1.16.0"
    else:
        assert isinstance(result.error_in_exec, native_runtime.RuntimeRunFailed)
        assert "icromamba" in out
        assert notebook_session.get_session().current_run == f"RtNbFlow/{before}"
    ip.run_cell("%mf_run")
    assert (
        "Running `python rt_nb.nbflow.py --environment=pypi run` with Metaflow's runtime."
        in capsys.readouterr().out
    )


def test_flow_line_configs_reach_metaflows_runtime(ip, capsys, tmp_path):
    from metaflow import Flow

    (tmp_path / "settings.json").write_text('{"lr": 0.5}')
    cells = notebook(
        "%%flow CfgRtFlow --config cfg settings.json --config-value extra '{\"k\": 2}' --n 3\n"
        "cfg = Config('cfg', default_value={'lr': 0.1})\nextra = Config('extra', "
        "default_value={'k': 1})\n"
        "n = Parameter('n', default=1, type=int)",
        "%%step start\n@retry(times=1)\nself.seen = (self.cfg.lr, self.extra.k, self.n)",
        "%%step end\npass",
    )
    ok(ip, cells[0])
    capsys.readouterr()
    ok(ip, cells[1])  # ran with the default Configs under the runtime
    out = capsys.readouterr().out
    assert (
        "Running `python rt_nb.nbflow.py --config cfg settings.json --config-value extra "
        "'{\"k\": 2}' run --n 3`"
    ) in out
    assert Flow("CfgRtFlow").latest_run["start"].task.data.seen == (0.5, 2, 3)
    ok(ip, "%mf_run")
    assert (
        "--config-value extra '{\"k\": 2}' run` with Metaflow's runtime" in capsys.readouterr().out
    )
    assert Flow("CfgRtFlow").latest_run["start"].task.data.seen == (0.5, 2, 3)


def test_pypi_base_sends_every_step_to_the_runtime(ip):
    notebook("%%flow BaseFlow\n@pypi_base(python='3.11')", "%%step start\npass", "%%step end\npass")
    built = flowbuild.build_flow(notebook_session.get_session().notebook_model(), ip.user_ns)
    for step in ("start", "end"):
        assert native_runtime.runtime_reasons(built.cls, step) == [
            "@pypi_base builds every step's PyPI environment"
        ]
    assert native_runtime.environment_option(built.cls) == {"environment": "pypi"}


def test_generated_file_never_replaces_a_foreign_file(ip, tmp_path):
    cells = notebook(
        "%%step start\nself.x = 1",
        "%%step slow\n@timeout(seconds=30)\nself.x += 1",
        "%%step end\npass",
    )
    mine = tmp_path / "rt_nb.nbflow.py"
    mine.write_text("# my own file\n")
    ok(ip, cells[0])
    result = ip.run_cell(cells[1])
    assert not result.success and "was not generated by jupyter-metaflow" in str(
        result.error_in_exec
    )
    assert mine.read_text() == "# my own file\n"
