"""JupyterLab server for the Galata UI tests (never use in production: no auth)."""

import os

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821  (c is the config object Jupyter passes in)

c.ServerApp.port = int(os.environ.get("MF_UI_PORT", "8888"))  # noqa: F821
c.ServerApp.allow_root = True  # CI runs as root  # noqa: F821
# Kernels started by the tests get a stable Metaflow user (runs are tagged user:<name>).
os.environ.setdefault("METAFLOW_USER", "galata")
