"""The kernel end of the ``jupyter_metaflow`` comm: handshake and message dispatch.

One :class:`FrontendLink` per kernel. It registers the comm target (so a frontend can
open a comm) and opens a comm itself when the extension loads and a frontend may be
listening (so an already-open frontend learns that the kernel side is there; see
:func:`frontend_may_listen`). Later features register handlers for their message types
with :meth:`FrontendLink.on` and push messages with :meth:`FrontendLink.send`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import comm as comm_module

from . import protocol
from ._version import __version__

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], None]
"""``handler(payload, comm)`` for one message type."""

ConnectListener = Callable[[Any], None]
"""``listener(comm)``, called once per comm when a frontend completes the handshake."""


def hello_payload() -> dict[str, Any]:
    """The kernel's side of the handshake."""
    import metaflow

    return {
        "side": "kernel",
        "package_version": __version__,
        "metaflow_version": metaflow.__version__,
    }


def execute_request() -> dict[str, Any] | None:
    """The execute_request the kernel is handling, or None (no kernel, other request)."""
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None or not hasattr(kernel, "get_parent"):
        return None
    parent = kernel.get_parent("shell") or {}
    if (parent.get("header") or {}).get("msg_type") != "execute_request":
        return None
    return parent


def frontend_may_listen() -> bool:
    """Whether a frontend may take a comm this kernel opens: the kernel of a notebook that
    jupyter_server started (JupyterLab, Notebook 7: ``JPY_SESSION_NAME``), or one running a
    notebook frontend's cell (its ``cellId``). Headless runners (nbclient: nbconvert,
    papermill, ``jupyter execute``) take none and log a warning for each; a frontend that
    attaches later opens its own comm."""
    if os.environ.get("JPY_SESSION_NAME"):
        return True
    parent = execute_request()
    return bool(parent and (parent.get("metadata") or {}).get("cellId"))


class FrontendLink:
    """All comms between this kernel and the frontends that talk to it."""

    def __init__(self) -> None:
        self._comms: dict[str, Any] = {}
        self._opened_here: set[str] = set()
        self._handlers: dict[str, Handler] = {"hello": self._on_hello}
        self._connect_listeners: list[ConnectListener] = []
        self.frontends: dict[str, dict[str, Any]] = {}
        """comm id -> the frontend's ``hello`` payload, for comms that completed the handshake."""

    # -- wiring -------------------------------------------------------------------------
    def install(self) -> None:
        """Register the comm target and announce ourselves to a frontend that may listen."""
        manager = comm_module.get_comm_manager()
        manager.register_target(protocol.COMM_TARGET, self._on_open)
        if frontend_may_listen():
            self.announce()

    def announce(self) -> None:
        """Open a comm with our ``hello`` (unless a frontend's comm is already open)."""
        if self._comms:
            return
        opened = comm_module.create_comm(
            target_name=protocol.COMM_TARGET,
            data=protocol.envelope("hello", hello_payload()),
        )
        self._opened_here.add(opened.comm_id)
        self._track(opened)

    def uninstall(self) -> None:
        """Close every comm and drop the target."""
        manager = comm_module.get_comm_manager()
        manager.unregister_target(protocol.COMM_TARGET, self._on_open)
        for opened in list(self._comms.values()):
            opened.close()
        self._comms.clear()
        self._opened_here.clear()
        self.frontends.clear()

    def on(self, msg_type: str, handler: Handler) -> None:
        """Route incoming messages of ``msg_type`` to ``handler(payload, comm)``."""
        self._handlers[msg_type] = handler

    def on_connect(self, listener: ConnectListener) -> None:
        """Call ``listener(comm)`` whenever a frontend completes the handshake on a comm
        (to send it a snapshot of the current state)."""
        self._connect_listeners.append(listener)

    def send(self, msg_type: str, payload: dict[str, Any], to: Any = None) -> None:
        """Send one message to ``to`` (a comm) or to every connected frontend."""
        message = protocol.envelope(msg_type, payload)
        targets = [to] if to is not None else list(self._comms.values())
        for target in targets:
            target.send(message)

    # -- comm callbacks -------------------------------------------------------------------
    def _track(self, opened: Any) -> None:
        self._comms[opened.comm_id] = opened
        opened.on_msg(self._on_msg)
        opened.on_close(self._on_close)

    def _on_open(self, opened: Any, open_msg: dict[str, Any]) -> None:
        self._track(opened)
        self._dispatch(open_msg["content"].get("data"), opened)

    def _on_msg(self, msg: dict[str, Any]) -> None:
        opened = self._comms.get(msg["content"]["comm_id"])
        if opened is not None:
            self._dispatch(msg["content"].get("data"), opened)

    def _on_close(self, msg: dict[str, Any]) -> None:
        comm_id = msg["content"]["comm_id"]
        self._comms.pop(comm_id, None)
        self._opened_here.discard(comm_id)
        self.frontends.pop(comm_id, None)

    def _dispatch(self, data: Any, opened: Any) -> None:
        try:
            message = protocol.validate(data)
        except protocol.ProtocolError as exc:
            opened.send(
                {
                    "protocol": protocol.PROTOCOL_VERSION,
                    "type": "error",
                    "payload": {"message": str(exc), **_reply_ids(data)},
                }
            )
            return
        handler = self._handlers.get(message["type"])
        if handler is None:
            log.debug("jupyter-metaflow: ignoring unknown message type %r", message["type"])
            return
        try:
            handler(message["payload"], opened)
        except Exception as exc:  # a handler bug must not kill the comm
            log.exception("jupyter-metaflow: handler for %r failed", message["type"])
            self.send(
                "error",
                {"message": f"{type(exc).__name__}: {exc}", **_reply_ids(message)},
                to=opened,
            )

    def _on_hello(self, payload: dict[str, Any], opened: Any) -> None:
        # The opener's hello is answered once; our own comm opened with our hello already.
        first_contact = opened.comm_id not in self.frontends
        self.frontends[opened.comm_id] = payload
        if not first_contact:
            return
        if opened.comm_id not in self._opened_here:
            self.send("hello", hello_payload(), to=opened)
        for listener in list(self._connect_listeners):  # whoever opened the comm
            listener(opened)


def _reply_ids(data: Any) -> dict[str, str]:
    """``in_reply_to`` (the request's type) and ``request_id`` of a request, as far as they
    can be read, so the error answers the request the frontend waits for."""
    ids: dict[str, str] = {}
    if not isinstance(data, dict):
        return ids
    if isinstance(data.get("type"), str):
        ids["in_reply_to"] = data["type"]
    payload = data.get("payload")
    if isinstance(payload, dict) and isinstance(payload.get("request_id"), str):
        ids["request_id"] = payload["request_id"]
    return ids
