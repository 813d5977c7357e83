"""Headless notebook execution for the tests: nbclient in a real ipykernel, the way
papermill or ``jupyter nbconvert --execute`` run a notebook saved at ``path``."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def kernel_env(notebook: Path, **extra: str) -> dict[str, str]:
    """The kernel's environment: a fixed Metaflow user, and the notebook file named as
    jupyter-server names it (``JPY_SESSION_NAME``)."""
    return {**os.environ, "METAFLOW_USER": "tester", "USER": "tester",
            "JPY_SESSION_NAME": str(notebook), **extra}


def execute(nb: nbformat.NotebookNode, path: Path, *, timeout: int = 180, allow_errors: bool = False,
            **env: str) -> nbformat.NotebookNode:
    """Execute ``nb`` (saved at ``path``) in a new kernel whose cwd is the notebook's folder."""
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": str(path.parent)}}).execute(env=kernel_env(path, **env))
    return nb
