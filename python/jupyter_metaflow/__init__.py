"""Jupyter-native Metaflow: write a flow across notebook cells, run it step by step in
the kernel, see its DAG and artifacts, export it to ``flow.py``.

``%load_ext jupyter_metaflow`` loads the kernel side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # the kernel side is imported when the extension loads, not by the CLI
    from .comm import FrontendLink

__all__ = [
    "__version__",
    "get_link",
    "load_ipython_extension",
    "receive_notebook",
    "unload_ipython_extension",
]

_link: FrontendLink | None = None
_magics: Any = None
_sync: Any = None


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where ``jupyter-builder develop`` finds the prebuilt labextension."""
    return [{"src": "labextension", "dest": "jupyter-metaflow"}]


def get_link() -> FrontendLink | None:
    """The kernel's link to the frontends, once the extension is loaded."""
    return _link


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_metaflow``: open the frontend link, register ``%%flow``/``%%step``,
    ``%mf_show``, ``%mf_run``/``%mf_resume``/``%mf_split``, ``%mf_inputs`` (idempotent)."""
    global _link, _magics, _sync
    if _link is None:
        from .comm import FrontendLink

        _link = FrontendLink()
        _link.install()
    if _magics is None:
        from . import magics
        from .show import magics as show_magics

        _magics = magics.register(ipython)
        show_magics.register(ipython, _link)
        from .deploy import DeployMagics  # %mf_deploy
        from .inputs import InputsMagics  # %mf_inputs
        from .run_magics import RunMagics  # %mf_run, %mf_resume, %mf_split

        ipython.register_magics(RunMagics)
        ipython.register_magics(InputsMagics)
        ipython.register_magics(DeployMagics)
    from .session import get_session

    session = get_session()
    session.provide_file(ipython.user_ns)  # for module cells written for a flow file
    session.notebook.recall_injected(list(ipython.history_manager.input_hist_raw))
    if _sync is None:  # the live flow: comm handlers, tagged cells, %mf_dag, the panel's requests
        from . import browse, sync, widget

        _sync = sync.get_sync()
        _sync.install(ipython, _link)
        browse.register(_link)
        ipython.register_magics(widget.DagMagics)


def receive_notebook(ipython: Any, message: str) -> None:
    """A ``flow`` message the frontend sends in a silent execute request ahead of a step cell
    it executes before its comm is up (right after a kernel was chosen, or behind the
    notebook's own ``%load_ext`` in one batch): load the kernel side, then take the cells as
    from the comm, validated the same way, so the step sees the notebook it was run from."""
    import json

    from . import protocol

    load_ipython_extension(ipython)
    assert _link is not None
    _link.announce()  # the frontend that sent this listens, whatever the kernel's environment
    envelope = protocol.validate(json.loads(message))
    if envelope["type"] != "flow":
        raise protocol.ProtocolError(f"expected a 'flow' message, got {envelope['type']!r}")
    assert _sync is not None
    _sync.on_flow(envelope["payload"])


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext jupyter_metaflow``: close the frontend link."""
    global _link, _magics, _sync
    if _sync is not None:
        _sync.uninstall()
        _sync = None
    if _link is not None:
        _link.uninstall()
        _link = None
    if _magics is not None:
        from . import magics

        magics.unregister(ipython, _magics)
        _magics = None
