"""The npm package, the Python package and both ends of the protocol agree on versions."""

import json
import re

import tomllib
from conftest import REPO_ROOT

import jupyter_metaflow
from jupyter_metaflow import protocol


def _ts_constant(path: str, name: str) -> str:
    text = (REPO_ROOT / path).read_text(encoding="utf-8")
    match = re.search(rf"export const {name} = '([^']+)'", text)
    assert match, f"{name} not found in {path}"
    return match.group(1)


def test_package_versions_agree():
    npm = json.loads((REPO_ROOT / "package.json").read_text())["version"]
    pyproject = tomllib.loads((REPO_ROOT / "python" / "pyproject.toml").read_text())
    assert jupyter_metaflow.__version__ == npm
    assert pyproject["project"]["version"] == npm
    assert _ts_constant("src/version.ts", "PACKAGE_VERSION") == npm


def test_protocol_versions_agree():
    assert re.fullmatch(r"\d+\.\d+", protocol.PROTOCOL_VERSION)
    assert _ts_constant("src/protocol.ts", "PROTOCOL_VERSION") == protocol.PROTOCOL_VERSION
    assert _ts_constant("src/protocol.ts", "COMM_TARGET") == protocol.COMM_TARGET


def test_labextension_metadata_names_the_package():
    package = json.loads((REPO_ROOT / "package.json").read_text())
    assert package["name"] == "jupyter-metaflow"
    assert package["jupyterlab"]["outputDir"] == "python/jupyter_metaflow/labextension"
    assert jupyter_metaflow._jupyter_labextension_paths() == [
        {"src": "labextension", "dest": "jupyter-metaflow"}
    ]
