"""Headless notebook execution for the tests: nbclient in a real ipykernel, the way
papermill or ``jupyter nbconvert --execute`` run a notebook saved at ``path`` (the kernel
finds the notebook itself; nothing tells it the path)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient


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
