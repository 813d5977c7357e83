"""A team deployment on loopback: moto's S3 server + the metadata service (metaflow-local-service),
selected by a Metaflow profile, as in python/tests/kernel/test_team.py.

Measures, with the same configuration and executor_bench.py's trivial six-step flow,

  (a) a trivial step executed in the kernel (IPython shell, ``%%step`` cells), per step;
  (b) ``python flow.py run`` of the exported flow, per task (wall time / tasks);
  (c) a 100 MB artifact persisted by an in-kernel step vs (d) ``boto3 put_object`` of the same
      pickled bytes to the same server;

and prints the ratios (targets: (b)/(a) >= 20, (c)/(d) <= 2).

    python bench/team_bench.py [--repeat 3] [--big-mb 100] [--no-service]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python" / "tests"))
sys.path.insert(0, str(HERE))

from executor_bench import STEPS, flow_file, kernel_shell, step_cells, time_step_cells  # noqa: E402


def child(repeat: int, big_mb: int) -> dict:
    """Runs with the team profile in its environment: the in-kernel measurements and boto3."""
    import boto3
    import numpy as np
    from metaflow import metaflow_config

    from jupyter_metaflow import session as notebook_session
    from jupyter_metaflow.cells import CellInput

    cells = step_cells()
    shell = kernel_shell(cells)
    step_times, _ = time_step_cells(shell, cells[1:], repeat)

    big_cells = [
        "%%flow TeamBigFlow\n# no parameters",
        "%%step start\nself.big = BIG\nself.next(self.end)",
        "%%step end\npass",
    ]
    notebook_session.set_notebook_cells(
        [CellInput(i, f"b{i}", "code", s) for i, s in enumerate(big_cells)], "team_bench.ipynb"
    )
    bucket, prefix = metaflow_config.DATASTORE_SYSROOT_S3[5:].split("/", 1)
    s3 = boto3.client("s3", endpoint_url=metaflow_config.S3_ENDPOINT_URL)
    big, put = [], []
    for seed in range(repeat):  # new data each time: the store skips blobs it already holds
        data = np.random.default_rng(seed).random(big_mb * 1024 * 1024 // 8)
        shell.user_ns["BIG"] = data
        t0 = time.perf_counter()
        assert shell.run_cell(big_cells[1]).success
        big.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        s3.put_object(
            Bucket=bucket, Key=f"{prefix}/plain/{seed}.pkl", Body=pickle.dumps(data, protocol=4)
        )
        put.append(time.perf_counter() - t0)
    return {"step": step_times, "big": big, "put": put}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--no-service", action="store_true", help="local metadata, S3 datastore")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("@@" + json.dumps(child(args.repeat, args.big_mb)))
        return

    import servers

    with tempfile.TemporaryDirectory() as tmp, servers.S3Server() as s3:
        tmp_path = Path(tmp)
        with servers.team_deployment(tmp_path, s3, with_service=not args.no_service) as team:
            work = tmp_path / "work"
            work.mkdir()
            measured = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    "--repeat",
                    str(args.repeat),
                    "--big-mb",
                    str(args.big_mb),
                ],
                cwd=work,
                env=team.env,
                capture_output=True,
                text=True,
            )
            if measured.returncode != 0:
                sys.exit(measured.stdout[-3000:] + measured.stderr[-3000:])
            result = json.loads(measured.stdout.split("@@", 1)[1])
            (work / "flow.py").write_text(flow_file())
            runs = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "flow.py", "--no-pylint", "run"],
                    cwd=work,
                    env=team.env,
                    capture_output=True,
                    text=True,
                )
                runs.append(time.perf_counter() - t0)
                if done.returncode != 0:
                    sys.exit(done.stderr[-3000:])
    per_task = statistics.median(runs) / len(STEPS)
    step = statistics.median(result["step"])
    big, put = statistics.median(result["big"]), statistics.median(result["put"])
    where = "S3 + local metadata" if args.no_service else "S3 + metadata service"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"team deployment on loopback ({where}), median of {args.repeat}, load average {load}:")
    print(f"  (a) in-kernel trivial step        {step * 1000:8.0f} ms")
    print(f"  (b) python flow.py run, per task  {per_task * 1000:8.0f} ms")
    print(f"      ratio (b)/(a)                 {per_task / step:8.1f}x   (target >= 20x)")
    print(f"  (c) {args.big_mb} MB artifact, in-kernel step {big * 1000:8.0f} ms")
    print(f"  (d) boto3 put_object of the pickle  {put * 1000:8.0f} ms")
    print(f"      ratio (c)/(d)                 {big / put:8.2f}x   (target <= 2x)")


if __name__ == "__main__":
    main()
