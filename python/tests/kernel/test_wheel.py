"""A wheel built from the repository ships the prebuilt labextension."""

import subprocess
import sys
import zipfile

from conftest import REPO_ROOT

PREFIX = "jupyter_metaflow-{version}.data/data/share/jupyter/labextensions/jupyter-metaflow/"


def test_wheel_contains_the_labextension(tmp_path):
    import jupyter_metaflow

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-build-isolation",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(REPO_ROOT / "python"),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("jupyter_metaflow-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    prefix = PREFIX.format(version=jupyter_metaflow.__version__)
    assert prefix + "package.json" in names
    assert prefix + "install.json" in names
    assert prefix + "static/style.js" in names
    assert any(n.startswith(prefix + "static/remoteEntry.") for n in names)
    assert prefix + "schemas/jupyter-metaflow/links.json" in names
    assert "jupyter_metaflow/protocol/schema.json" in names
