"""A team's Metaflow deployment: an S3 datastore (moto's server) and the metadata service
(metaflow-local-service), selected by a Metaflow profile in the user's home, as a team
configures Metaflow. Notebooks run headless in kernels started with that environment; runs
are read back through the Client in processes with the same environment (this process keeps
its own Metaflow configuration).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import headless
import nbformat
import pytest
import servers

from jupyter_metaflow.assembly import assemble
from jupyter_metaflow.cells import CellInput
from jupyter_metaflow.export import export_notebook

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def s3() -> Iterator[servers.S3Server]:
    with servers.S3Server() as server:
        yield server


@pytest.fixture
def team(tmp_path: Path, s3: servers.S3Server) -> Iterator[servers.Team]:
    """S3 datastore + metadata service, a profile selecting them."""
    with servers.team_deployment(tmp_path, s3) as deployment:
        yield deployment


@pytest.fixture
def team_local_metadata(tmp_path: Path, s3: servers.S3Server) -> Iterator[servers.Team]:
    """S3 datastore with local metadata (no service)."""
    with servers.team_deployment(tmp_path, s3, with_service=False) as deployment:
        yield deployment


def execute_notebook(
    team: servers.Team, name: str, workdir: Path, **env: str
) -> tuple[nbformat.NotebookNode, Path]:
    path = workdir / f"{name}.ipynb"
    shutil.copy(headless.EXAMPLES / path.name, path)
    nb = headless.execute(
        nbformat.read(path, as_version=4), path, timeout=600, **{**team.env, **env}
    )
    return nb, path


def cell_errors(nb: nbformat.NotebookNode) -> list[str]:
    return [
        "\n".join(o.get("traceback", [])) or o.get("evalue", "")
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]


COMPARE = """
import os, sys
sys.path[:0] = [{tests!r}, os.path.dirname({tests!r})]
from run_compare import assert_equal_artifacts
a, b = Run({a!r}), Run({b!r})
assert_equal_artifacts(a, b, set({steps!r}))
meta = [a['start'].task.metadata_dict, b['start'].task.metadata_dict]
result = dict(ds=[m.get('ds-type') for m in meta],
              root=a['start'].task.metadata_dict.get('ds-root'), tags=sorted(a.system_tags),
              successful=[a.successful, b.successful])
"""


@pytest.mark.parametrize("name", headless.CI_EXAMPLES)
def test_example_notebook_runs_in_the_team_deployment_like_its_export(name, team, tmp_path):
    """The notebook's in-kernel run lives in the S3 datastore and the metadata service, and
    holds what ``python exported.py run`` with the same profile gives."""
    workdir = tmp_path / "nb"
    workdir.mkdir()
    nb, path = execute_notebook(team, name, workdir)
    assert not cell_errors(nb)
    model = assemble([CellInput.from_nbformat(i, c) for i, c in enumerate(nb.cells)], path.name)
    latest = f"result = Flow({model.name!r}).latest_run.pathspec"
    notebook_run = servers.client_view(team.env, latest, workdir)

    exported = workdir / "exported.py"
    exported.write_text(export_notebook(path))
    params = model.flow_cell.param_args if model.flow_cell else []
    result = headless.run_flow_file(exported, "run", *params, env=team.env)
    assert result.returncode == 0, result.stdout + result.stderr
    exported_run = servers.client_view(team.env, latest, workdir)
    assert exported_run != notebook_run

    seen = servers.client_view(
        team.env,
        COMPARE.format(
            tests=str(TESTS), a=notebook_run, b=exported_run, steps=[s.name for s in model.steps]
        ),
        workdir,
    )
    assert seen["ds"] == ["s3", "s3"] and seen["root"] == team.sysroot
    assert "jupyter-metaflow:notebook" in seen["tags"] and seen["successful"] == [True, True]
    # nothing of the run went to the notebook folder's local datastore but latest_run
    assert not list((workdir / ".metaflow").glob(f"{model.name}/*/*"))


def notebook(path: Path, cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return nb


def outputs_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.extend(
            str(v) for k, v in out.get("data", {}).items() if k in ("text/plain", "text/html")
        )
        parts.append(out.get("evalue", ""))
    return "\n".join(parts)


def s3_keys(team: servers.Team, prefix: str) -> list[str]:
    client = team.s3.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=team.bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


STORAGE_CELLS = [
    "%load_ext jupyter_metaflow",
    "%%flow TeamFlow --datastore s3 --datastore-root s3://{bucket}/nb --metadata local --n 3\n"
    "n = Parameter('n', default=1)",
    "%%step start\nself.items = list(range(self.n))\nself.next(self.body, foreach='items')",
    "%%step body\nself.sq = self.input ** 2\nself.next(self.join)",
    "%%step join\nself.total = sum(i.sq for i in inputs)\nself.next(self.decide)",
    "%%step decide\nself.parity = 'even' if self.total % 2 == 0 else 'odd'\n"
    "self.next({{'even': self.even, 'odd': self.odd}}, condition='parity')",
    "%%step even\nself.result = 'E'\nself.next(self.end)",
    "%%step odd\nself.result = 'O'\nself.next(self.end)",
    "%%step end\nprint('result', self.result, self.total)",
    # executing the join cell again (as a notebook would): a new run cloning start and body
    "get_ipython().run_cell_magic('step', 'join', {join!r})",
    "%mf_show join.total",
    "%mf_show body",
    "%mf_split body 2",
    "%mf_resume end",
    "from metaflow import Flow\nruns = list(Flow('TeamFlow'))\n"
    "%mf_show --diff {{runs[1].id}} {{runs[0].id}}",
]


def test_s3_datastore_from_the_flow_line_with_local_metadata(team_local_metadata, tmp_path):
    """``%%flow ... --datastore s3 --datastore-root ... --metadata local`` (over the profile's
    S3 root): steps, foreach, switch, re-execution as a clone, %mf_show, %mf_split,
    ``%mf_resume`` under Metaflow's runtime and a re-attach after a kernel restart all work on
    the S3 datastore; nothing but metadata stays on local disk."""
    team = team_local_metadata
    workdir = tmp_path / "nb"
    workdir.mkdir()
    path = workdir / "team_flow.ipynb"
    join = STORAGE_CELLS[4].split("\n", 1)[1].replace("{{", "{").replace("}}", "}")
    cells = [
        c.replace("{bucket}", team.bucket)
        .replace("{join!r}", repr(join))
        .replace("{{", "{")
        .replace("}}", "}")
        for c in STORAGE_CELLS
    ]
    nb = headless.execute(notebook(path, cells), path, timeout=600, allow_errors=True, **team.env)
    for i, cell in enumerate(nb.cells):
        assert not [o for o in cell.outputs if o.output_type == "error"], (i, outputs_text(cell))
    text = [outputs_text(c) for c in nb.cells]
    assert "result O 5" in text[8]  # 0 + 1 + 4 = 5: odd
    assert "5" in text[10]
    assert "--datastore s3" in text[13] and "resume end" in text[13]

    view = servers.client_view(
        team.env,
        """
runs = list(Flow('TeamFlow'))
result = {r.id: dict(tags=sorted(r.system_tags), steps=sorted(s.id for s in r),
                     ds=sorted({':'.join(t.metadata_dict.get(k) for k in ('ds-type', 'ds-root'))
                                for s in r for t in s}),
                     end=(r['end'].task.data.result if 'end' in [s.id for s in r] else None))
          for r in runs}
""",
        workdir,
    )
    # the first run, the re-execution of join (a clone of start and body), resume's run
    # (%mf_split's debug run is not counted: whether it is kept is not this test's concern)
    steps = sorted(
        sorted(v["steps"])
        for k, v in view.items()
        if "jupyter-metaflow:debug-split" not in v["tags"]
    )
    assert steps == [["body", "decide", "end", "join", "odd", "start"]] * 2 + [
        ["body", "join", "start"]
    ]
    for run in view.values():
        assert run["ds"] == [f"s3:s3://{team.bucket}/nb"]
    assert [r["end"] for r in view.values()].count("O") >= 2
    assert s3_keys(team, "nb/TeamFlow/")  # the data is in the bucket...
    local = [p for p in (workdir / ".metaflow" / "TeamFlow").rglob("*") if p.is_file()]
    assert local and all(
        "_meta" in p.parts or p.name == "latest_run" for p in local
    )  # ...metadata here

    # a new kernel (restart) re-attaches to the notebook's newest run: only `end` runs again
    again = nbformat.v4.new_notebook()
    again.cells = [nbformat.v4.new_code_cell(cells[0]), nbformat.v4.new_code_cell(cells[8])]
    again = headless.execute(again, path, timeout=300, **team.env)
    assert "result O 5" in outputs_text(again.cells[1])
    latest = servers.client_view(
        team.env,
        "r = Flow('TeamFlow').latest_run\n"
        "result = [r.id, sorted(s.id for s in r), r['end'].task.data.result]",
        workdir,
    )
    assert latest[0] not in view and latest[2] == "O" and "body" in latest[1]


SAME_OBJECTS = """
import gzip, json
import boto3
from metaflow import metaflow_config
from metaflow.datastore import FlowDataStore
from metaflow.plugins.datastores.s3_storage import S3Storage
from jupyter_metaflow import _metaflow as mf
from same_flow import SameFlow

def write(flow_ds):
    ds = flow_ds.get_task_datastore('7', 'start', '3', attempt=0, mode='w')
    ds.init_task()
    values = [('x', 1), ('same', 1), ('text', 't' * 100), ('many', list(range(5000)))]
    ds.save_artifacts(iter(values), len_hint=len(values))
    ds.save_metadata({{'task_begin': {{'retry_count': 0}}}})
    ds.save_logs('task', {{'stdout': b'out\\n'}})
    ds.done()

root = metaflow_config.DATASTORE_SYSROOT_S3
with mf.metaflow_state('s3', root + '/kernel', 'local') as storage:
    backend = mf.Backend(SameFlow, storage)
    with backend.deferred_writes():
        write(backend.flow_datastore)
write(FlowDataStore('SameFlow', storage_impl=S3Storage, ds_root=root + '/reference'))

s3 = boto3.client('s3', endpoint_url=metaflow_config.S3_ENDPOINT_URL)
bucket, prefix = root[5:].split('/', 1)

def objects(tree):
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f'{{prefix}}/{{tree}}/')['Contents']
    out = {{}}
    for item in listed:
        got = s3.get_object(Bucket=bucket, Key=item['Key'])
        body, meta = got['Body'].read(), got['Metadata']
        name = item['Key'].split(f'/{{tree}}/', 1)[1]
        if json.loads(meta.get('metaflow-user-attributes', '{{}}')).get('cas_raw') is False:
            body = gzip.decompress(body)  # the gzip header holds the time
        if name.endswith('attempt.json'):
            body = sorted(json.loads(body))  # the time the attempt started
        out[name] = [repr(body), meta, got.get('ContentType')]
    return out

reader = FlowDataStore('SameFlow', storage_impl=S3Storage, ds_root=root + '/kernel')
task = reader.get_task_datastore('7', 'start', '3')
result = dict(kernel=objects('kernel'), reference=objects('reference'),
              read={{name: repr(task[name]) for name, _ in task.items()}},
              log=task.load_logs(['task'], 'stdout')[0][1].decode())
"""


def test_kernel_s3_storage_writes_what_metaflows_writes(team_local_metadata, tmp_path):
    """The kernel's S3 storage (one client, a thread pool, writes deferred to the task's
    ``DONE``) stores exactly the objects Metaflow's ``S3Storage`` stores for the same task --
    keys, bodies, user metadata, content type -- and Metaflow reads them back."""
    (tmp_path / "same_flow.py").write_text(
        "from metaflow import FlowSpec, step\n\n\nclass SameFlow(FlowSpec):\n"
        "    @step\n    def start(self):\n        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n"
    )
    view = servers.client_view(team_local_metadata.env, SAME_OBJECTS.format(), tmp_path)
    assert view["kernel"] == view["reference"]
    assert sorted(view["kernel"]) == sorted(
        [
            *(f"SameFlow/7/start/3/0.{n}" for n in ("DONE.lock", "attempt.json", "data.json")),
            *(f"SameFlow/7/start/3/0.{n}" for n in ("task_begin", "task_stdout.log")),
        ]
        + [k for k in view["kernel"] if k.startswith("SameFlow/data/")]
    )
    assert len([k for k in view["kernel"] if k.startswith("SameFlow/data/")]) == 3
    assert view["read"] == {
        "x": "1",
        "same": "1",
        "text": repr("t" * 100),
        "many": repr(list(range(5000))),
    }
    assert view["log"].endswith("out\n")


SWEEP_CELLS = [
    "%load_ext jupyter_metaflow\nimport os\nprint('kernel', os.getpid())",
    "%%flow TeamSweep --datastore s3 --datastore-root s3://{bucket}/sweep --metadata local"
    " --max-workers 2\n# no parameters",
    "%%step start\nself.items = list(range(8))\nself.next(self.body, foreach='items')",
    "%%step body\nimport os, time\ntime.sleep(1.5)\nself.sq = self.input ** 2\n"
    "self.pid = os.getpid()\nprint('square', self.sq)\nself.next(self.join)",
    "%%step join\nself.total = sum(i.sq for i in inputs)\nself.next(self.end)",
    "%%step end\nprint('total', self.total)",
]


def test_foreach_splits_in_workers_on_the_flow_lines_datastore(team_local_metadata, tmp_path):
    """``%%flow --datastore s3 --datastore-root ... --metadata local`` with splits handed to
    worker processes: the workers use the %%flow line's storage (not their own configuration,
    whose root differs), and the run on that root is complete through the Client."""
    team = team_local_metadata
    workdir = tmp_path / "nb"
    workdir.mkdir()
    cells = [c.format(bucket=team.bucket) for c in SWEEP_CELLS]
    with Notebook(workdir / "sweep.ipynb", cells, team.env) as nb:
        kernel_pid = int(nb.run(0).split()[-1])
        for i in range(1, 6):
            assert "Error" not in nb.run(i), i
        # the step again: its splits' time is known now, a worker is up: they go to workers
        body = nb.run(3)
        assert "square 49" in body and "Error" not in body, body
        assert "Error" not in nb.run(4)
        assert "total 140" in nb.run(5)
    seen = servers.client_view(
        team.env,
        """
r = Flow('TeamSweep').latest_run
result = dict(ok=r.successful, total=r['end'].task.data.total,
              pids=sorted({t.data.pid for t in r['body']}),
              ds=sorted({t.metadata_dict.get('ds-root') for t in r['body']}))
""",
        workdir,
    )
    assert seen["ok"] and seen["total"] == 140
    assert seen["ds"] == [f"s3://{team.bucket}/sweep"]
    assert set(seen["pids"]) - {kernel_pid}, "no split ran in a worker"


DEPLOY_CELLS = [
    "%load_ext jupyter_metaflow",
    "%%flow DeployFlow\nalpha = Parameter('alpha', default=0.5)",
    "%%step start\n@card\nself.x = self.alpha\nself.next(self.end)",
    "%%step end\nprint('x is', self.x)",
    "argo = %mf_deploy argo-workflows --only-json --max-workers 7\nargo",
    "sfn = %mf_deploy step-functions --only-json\nsfn",
    "dag = %mf_deploy airflow dag.py\ndag",
    "print(argo['spec']['parallelism'], sorted(sfn['States']), dag.path.exists(),\n"
    "      dag['graph_structure'])",
]


def test_deploy_targets_compile_from_a_notebook(s3, tmp_path):
    """In a team deployment (S3, the metadata service, AWS Batch for Step Functions), the
    notebook's steps run (a card included) and the flow compiles for the three targets; the
    cell shows a summary, the value is the compiled spec."""
    role = s3.create_batch_queue(f"q{time.monotonic_ns() % 10**9}")
    queue = role.rsplit("/", 1)[1]
    with servers.team_deployment(
        tmp_path,
        s3,
        aws_endpoint=s3.url,
        METAFLOW_BATCH_JOB_QUEUE=queue,
        METAFLOW_ECS_S3_ACCESS_IAM_ROLE=role,
        METAFLOW_ECS_FARGATE_EXECUTION_ROLE=role,
        METAFLOW_SFN_IAM_ROLE=role,
        METAFLOW_SFN_DYNAMO_DB_TABLE="mf-sfn",
    ) as team:
        workdir = tmp_path / "nb"
        workdir.mkdir()
        path = workdir / "deploy_flow.ipynb"
        nb = headless.execute(notebook(path, DEPLOY_CELLS), path, timeout=600, **team.env)
    text = [outputs_text(c) for c in nb.cells]
    assert "x is 0.5" in text[3] and "jp-mf-Card" in text[2]
    assert "Argo WorkflowTemplate deployflow" in text[4] and "parameters: alpha" in text[4]
    assert (
        "Step Functions state machine starting at start" in text[5] and "batch:submitJob" in text[5]
    )
    assert "Airflow DAG for DeployFlow" in text[6] and "tasks: start, end" in text[6]
    assert "7 ['end', 'start'] True ['start', 'end']" in text[7]
    assert "CONFIG = " in (workdir / "dag.py").read_text()


def test_deploy_errors_are_metaflows_words(ip, tmp_path):
    """Bad options and a target's missing configuration (Argo needs a remote datastore; this
    shell has the local one) are errors in the cell in click's and Metaflow's words."""
    from jupyter_metaflow import session as notebook_session
    from jupyter_metaflow.cells import CellInput

    notebook_session.set_notebook_cells(
        [CellInput(i, f"c{i}", "code", s) for i, s in enumerate(DEPLOY_CELLS[:4])],
        str(tmp_path / "deploy_flow.ipynb"),
    )

    def error(line: str) -> str:
        result = ip.run_cell(line)
        assert not result.success, line
        return str(result.error_in_exec)

    assert "name a target (argo-workflows, step-functions, airflow)" in error(
        "%mf_deploy kubernetes"
    )
    assert "no such option: --bogus" in error("%mf_deploy argo-workflows --bogus")
    assert "give the DAG file to write" in error("%mf_deploy airflow")
    message = error("%mf_deploy argo-workflows --only-json")
    assert "Metaflow could not deploy DeployFlow to argo-workflows" in message
    assert "--datastore=s3" in message and "Traceback" not in message


BAD_CELLS = [
    "%load_ext jupyter_metaflow",
    "%%flow BadFlow{options}",
    "%%step start\nself.x = 41\nself.next(self.end)",
    "%%step end\nself.y = self.x + 1\nprint('y is', self.y)",
]


class Notebook:
    """A notebook saved at ``path`` whose cells a test executes one at a time in one kernel
    (as a user does), acting on the servers in between."""

    def __init__(self, path: Path, cells: list[str], env: dict[str, str]) -> None:
        from nbclient import NotebookClient

        self.nb = notebook(path, cells)
        self.client = NotebookClient(
            self.nb,
            timeout=300,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(path.parent)}},
        )
        self.env = headless.kernel_env(**env)  # headless: the kernel finds the notebook itself

    def __enter__(self) -> Notebook:
        self._kernel = self.client.setup_kernel(env=self.env)
        self._kernel.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._kernel.__exit__(*exc)

    def run(self, index: int) -> str:
        cell = self.nb.cells[index]
        cell.outputs = []
        self.client.execute_cell(cell, index)
        return outputs_text(cell)


def test_service_gone_between_two_steps_then_back(team, tmp_path):
    """The metadata service stops after the start step: the next step fails in one line naming
    METAFLOW_SERVICE_URL; once the service is back, executing the step again continues the
    same run, and the run is complete through the Client."""
    workdir = tmp_path / "nb"
    workdir.mkdir()
    cells = [c.format(options="") for c in BAD_CELLS]
    with Notebook(workdir / "bad.ipynb", cells, team.env) as nb:
        for i in range(3):
            assert "Error" not in nb.run(i)
        team.service.stop()
        failed = nb.run(3)
        assert (
            "metadata service at http://127.0.0.1:" in failed and "METAFLOW_SERVICE_URL" in failed
        )
        assert "Traceback" not in failed
        team.service.start()  # the same port and data
        assert "y is 42" in nb.run(3)
    seen = servers.client_view(
        team.env,
        "r = Flow('BadFlow').latest_run\n"
        "result = [r.successful, r['end'].task.data.y, len(list(Flow('BadFlow')))]",
        workdir,
    )
    assert seen == [True, 42, 1]


def test_wrong_credentials_then_fixed(tmp_path):
    """S3 checks credentials (moto's IAM authentication). After a complete run, the user's
    access key is replaced (a new one made, the old one deleted, as an admin rotates keys):
    the next step fails in one line naming the AWS credentials to fix, before its code runs;
    with the new key in ``~/.aws/credentials`` the same cell, in the same kernel, runs again
    (in a new run cloning the finished steps, as after any failed step), and the Client in the
    kernel reads the first run again; every run reads back through the Client."""
    with (
        servers.S3Server(authenticated=True) as s3,
        servers.team_deployment(tmp_path, s3, with_service=False) as team,
    ):
        workdir = tmp_path / "nb"
        workdir.mkdir()
        cells = [c.format(options="") for c in BAD_CELLS]
        cells[3] = "%%step end\nprint('end runs')\nself.y = self.x + 1\nprint('y is', self.y)"
        cells.append(
            "from metaflow import Flow\nfirst = list(Flow('BadFlow'))[-1]\n"
            "print('first y', first['end'].task.data.y)"
        )
        with Notebook(workdir / "creds.ipynb", cells, team.env) as nb:
            for i in range(5):
                assert "Error" not in nb.run(i)
            assert "Error" not in nb.run(2)  # start again: a second run
            old_key = s3.access_key
            new_key = s3.new_access_key()
            s3.access_key, s3.secret_key = new_key
            s3.iam().delete_access_key(UserName="scientist", AccessKeyId=old_key)
            failed = nb.run(3)
            assert "refused the AWS credentials" in failed and "~/.aws/credentials" in failed
            assert "end runs" not in failed and "Traceback" not in failed
            assert len(failed.strip().splitlines()) == 1, failed
            servers.write_credentials(team.home, *new_key)
            assert "y is 42" in nb.run(3)
            # the Client in the kernel reads the first run, an artifact it never loaded too
            nb.nb.cells[4].source += "\nprint('first x', first['start'].task.data.x)"
            seen_again = nb.run(4).replace("\n", "")  # a print may arrive in two outputs
            assert "first y 42" in seen_again and "first x 41" in seen_again, seen_again
            # the key goes away while a step runs (its own code deletes it): the writes made
            # after its code fail, the task is not marked done, the cell says so in one line
            old_key, new_key = s3.access_key, s3.new_access_key()
            s3.access_key, s3.secret_key = new_key
            nb.nb.cells[3].source = (
                "%%step end\nimport boto3\n"
                f"boto3.client('iam', endpoint_url={s3.url!r}).delete_access_key("
                f"UserName='scientist', AccessKeyId={old_key!r})\n"
                "self.y = self.x + 2\nprint('y is', self.y)"
            )
            failed = nb.run(3)
            assert "y is 43" in failed and "refused the AWS credentials" in failed, failed
            lines = [line for line in failed.splitlines() if line.strip()]
            assert "Traceback" not in failed and len(lines) == 2, failed
            servers.write_credentials(team.home, *new_key)
            nb.nb.cells[3].source = cells[3]
            assert "y is 42" in nb.run(3)
        seen = servers.client_view(
            team.env,
            "runs = list(Flow('BadFlow'))\n"
            "result = [[r.successful, r.data.y if r.successful else None] for r in runs]",
            workdir,
        )
        # newest first: the continued runs, each after a run whose step failed, the first run
        assert seen == [[True, 42], [False, None], [True, 42], [False, None], [True, 42]]


def test_missing_bucket_then_created_and_unreachable_endpoint(team_local_metadata, tmp_path):
    """A datastore root in a bucket that does not exist: the step fails naming the setting;
    after the bucket is created, executing it again works. An S3 endpoint that does not answer
    fails at once (Metaflow alone retries for minutes), naming METAFLOW_S3_ENDPOINT_URL."""
    team = team_local_metadata
    workdir = tmp_path / "nb"
    workdir.mkdir()
    bucket = team.bucket + "-later"
    cells = [c.format(options=f" --datastore-root s3://{bucket}/mf") for c in BAD_CELLS]
    with Notebook(workdir / "bad.ipynb", cells, team.env) as nb:
        nb.run(0), nb.run(1)
        failed = nb.run(2)
        assert "bucket or objects are missing" in failed and "--datastore-root" in failed
        team.s3.create_bucket(bucket)
        assert "Error" not in nb.run(2)
        assert "y is 42" in nb.run(3)

    dead = {**team.env, "METAFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{servers.free_port()}"}
    with Notebook(workdir / "bad.ipynb", cells, dead) as nb:
        nb.run(0), nb.run(1)
        started = time.monotonic()
        failed = nb.run(3)
        assert "S3 endpoint at http://127.0.0.1:" in failed and "METAFLOW_S3_ENDPOINT_URL" in failed
        assert time.monotonic() - started < 60
    seen = servers.client_view(
        team.env,
        "r = Flow('BadFlow').latest_run\nresult = [r.successful, r['end'].task.data.y]",
        workdir,
    )
    assert seen == [True, 42]  # the earlier run is readable


def test_storage_options_are_split_from_the_flow_line_and_checked(ip, tmp_path):
    """``--datastore``/``--datastore-root``/``--metadata`` leave the parameters alone; a value
    Metaflow does not know is an error naming the %%flow cell, in click's words."""
    from jupyter_metaflow import session as notebook_session
    from jupyter_metaflow.cells import CellInput, split_storage_args

    assert split_storage_args(
        ["--datastore", "s3", "--n", "3", "--metadata=local", "--datastore-root"]
    ) == ({"datastore": "s3", "metadata": "local"}, ["--n", "3", "--datastore-root"])
    cells = [
        "%%flow OptFlow --datastore nosuch --n 2\nn = Parameter('n', default=1)",
        "%%step start\nself.next(self.end)",
        "%%step end\npass",
    ]
    notebook_session.set_notebook_cells(
        [CellInput(i, f"c{i}", "code", s) for i, s in enumerate(cells)], str(tmp_path / "opt.ipynb")
    )
    ip.run_cell(cells[0])
    result = ip.run_cell(cells[1])
    assert not result.success
    message = str(result.error_in_exec)
    assert "cell 1 (%%flow)" in message and "'s3'" in message
    assert "'--datastore': 'nosuch' is not one of " in message
    assert "Fix the %%flow line's" in message
