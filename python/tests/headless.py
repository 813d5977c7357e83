"""Headless notebook execution for the tests: nbclient in a real ipykernel, the way
papermill or ``jupyter nbconvert --execute`` run a notebook saved at ``path`` (the kernel
finds the notebook itself; nothing tells it the path); an exported flow file run as a user
runs it; the example notebooks CI executes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CI_EXAMPLES = sorted(
    p.stem
    for p in EXAMPLES.glob("*.ipynb")
    if "%%step" in p.read_text()
    # documented but not run here (e.g. needs a Kubernetes deployment)
    and nbformat.read(p, as_version=4)
    .metadata.get("jupyter_metaflow", {})
    .get("execute_in_ci", True)
)
"""The example notebooks (by stem) that hold a flow and are executed in CI."""


def kernel_env(**extra: str) -> dict[str, str]:
    """The kernel's environment: a fixed Metaflow user, nothing else of ours."""
    env = {k: v for k, v in os.environ.items() if k != "JPY_SESSION_NAME"}
    return {**env, "METAFLOW_USER": "tester", "USER": "tester", **extra}


def execute(
    nb: nbformat.NotebookNode,
    path: Path,
    *,
    timeout: int = 180,
    allow_errors: bool = False,
    **env: str,
) -> nbformat.NotebookNode:
    """Execute ``nb`` (saved at ``path``) in a new kernel whose cwd is the notebook's folder,
    as ``jupyter nbconvert --execute`` does."""
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute(env=kernel_env(**env))
    return nb


def run_flow_file(flow_file: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``python FLOW.py --no-pylint ARGS`` in the flow file's folder, as a user runs it."""
    return subprocess.run(
        [sys.executable, flow_file.name, "--no-pylint", *args],
        cwd=flow_file.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
