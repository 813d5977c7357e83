"""The main job's script, ``scripts/lab.sh``, as a user starts it: JupyterLab serves the
examples, or the folder given with JupyterLab's own option."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from servers import ServerProcess, free_port

TOKEN = "lab-script-test"


def served_names(extra: list[str]) -> list[str]:
    """The names at the root of what ``lab.sh`` (with ``extra`` options) serves."""
    port = free_port()
    probe = f"/api/contents?token={TOKEN}"
    server = ServerProcess(
        ["bash", str(REPO_ROOT / "scripts" / "lab.sh"), f"--ServerApp.token={TOKEN}", *extra],
        port,
        probe,
    )
    server.env = {**os.environ, "MF_LAB_PORT": str(port)}
    with server, urllib.request.urlopen(server.url + probe, timeout=10) as answer:
        return sorted(item["name"] for item in json.load(answer)["content"])


@pytest.mark.parametrize("option", ["--ServerApp.root_dir={}", "--notebook-dir={}"])
def test_lab_script_serves_the_folder_given(tmp_path: Path, option: str):
    (tmp_path / "mine.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', encoding="utf-8"
    )
    assert served_names([option.format(tmp_path)]) == ["mine.ipynb"]


def test_lab_script_serves_the_examples_by_default():
    examples = sorted(p.name for p in (REPO_ROOT / "examples").glob("*.ipynb"))
    assert examples and set(examples) <= set(served_names([]))
