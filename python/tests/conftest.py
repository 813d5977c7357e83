"""Shared fixtures (a real IPython kernel via jupyter_client, an in-process shell) and the
test layers.

Tests live in ``unit/`` (pure: no kernel, no Metaflow run, no subprocess but a quick
``python -c``; seconds for the whole layer) and ``kernel/`` (real kernels, real Metaflow runs,
the CLI and exported flows as processes). A test's directory gives its marker (``unit`` or
``kernel``, so ``pytest -m unit`` runs the fast layer) unless the test names its layer itself
(``@pytest.mark.kernel`` on a test of a mostly pure module). Helpers shared by both layers
(``inprocess.py``, ``sync_helpers.py``, ``show_fixtures.py``, ``headless.py``, ``run_compare.py``),
``flows/`` and the shared ``vectors/`` sit here, beside this file, which puts them on ``sys.path``.
"""

from __future__ import annotations

import os
import queue
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("unit", "kernel")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its layer: its own marker, else its directory's."""
    for item in items:
        if not any(item.get_closest_marker(layer) for layer in LAYERS):
            layer = item.path.parent.name
            if layer not in LAYERS:
                raise pytest.UsageError(f"{item.nodeid}: tests live in tests/unit or tests/kernel")
            item.add_marker(layer)


class KernelHarness:
    """A started kernel with helpers to execute code and exchange comm messages."""

    def __init__(self, km: Any, kc: Any) -> None:
        self.km = km
        self.kc = kc
        self.iopub: list[dict[str, Any]] = []

    def execute(self, code: str, timeout: float = 60, cell_id: str | None = None) -> dict[str, Any]:
        """Run ``code`` (as a notebook frontend's cell when ``cell_id`` is given: JupyterLab
        sends it in the request's metadata); return the execute_reply, collecting iopub
        messages on the way."""
        if cell_id is None:
            msg_id = self.kc.execute(code)
        else:
            content = {"code": code, "silent": False, "store_history": True}
            msg = self.kc.session.msg("execute_request", content, metadata={"cellId": cell_id})
            self.kc.shell_channel.send(msg)
            msg_id = msg["header"]["msg_id"]
        self._drain_until_idle(msg_id, timeout)
        reply = self.kc.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=timeout)
        return reply

    def open_comm(self, target: str, data: Any) -> str:
        """Open a comm from the "frontend" side, as JupyterLab does."""
        comm_id = uuid.uuid4().hex
        self._send_shell("comm_open", {"comm_id": comm_id, "target_name": target, "data": data})
        return comm_id

    def comm_send(self, comm_id: str, data: Any) -> None:
        self._send_shell("comm_msg", {"comm_id": comm_id, "data": data})

    def wait_for(self, predicate: Any, timeout: float = 30) -> dict[str, Any]:
        """The first iopub message (seen or new) satisfying ``predicate``."""
        for msg in self.iopub:
            if predicate(msg):
                return msg
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                raise AssertionError("no matching iopub message") from None
            self.iopub.append(msg)
            if predicate(msg):
                return msg

    def _send_shell(self, msg_type: str, content: dict[str, Any]) -> None:
        msg = self.kc.session.msg(msg_type, content)
        self.kc.shell_channel.send(msg)

    def _drain_until_idle(self, msg_id: str, timeout: float) -> None:
        while True:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            self.iopub.append(msg)
            if (
                msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
                and msg["parent_header"].get("msg_id") == msg_id
            ):
                return


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An in-process IPython shell with the extension loaded, in a fresh working directory
    with its own ``.metaflow`` datastore and a fresh executor session."""
    import IPython
    from IPython.testing.globalipapp import start_ipython

    from jupyter_metaflow import _metaflow, sync
    from jupyter_metaflow import session as notebook_session

    monkeypatch.setenv("METAFLOW_USER", "tester")
    monkeypatch.setenv("USER", "tester")  # read at call time (METAFLOW_USER only at import)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".metaflow").mkdir()
    _metaflow.forget_datastore_root()
    notebook_session._session = None
    sync._sync = None  # bound to the session it was made with: a new one for the new session
    start_ipython()
    shell = IPython.get_ipython()
    shell.run_line_magic("load_ext", "jupyter_metaflow")
    for name in ("x", "local_only", "df", "__file__"):  # names earlier tests may have left behind
        shell.user_ns.pop(name, None)
    yield shell
    notebook_session._session = None
    sync._sync = None
    _metaflow.forget_datastore_root()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary notebook folder with its own datastore; the Client in this process reads it."""
    from jupyter_metaflow import _metaflow

    (tmp_path / ".metaflow").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("USER", "tester")
    monkeypatch.setenv("METAFLOW_USER", "tester")
    _metaflow.forget_datastore_root()
    yield tmp_path
    _metaflow.forget_datastore_root()


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[KernelHarness]:
    """A fresh python3 kernel whose cwd is a temporary directory."""
    env = {**os.environ, "METAFLOW_USER": "tester"}
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        yield KernelHarness(km, kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
