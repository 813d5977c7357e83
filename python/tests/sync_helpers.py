"""Helpers for the sync and widget tests: a "frontend" talking to a real kernel."""

from __future__ import annotations

from typing import Any

from jupyter_metaflow import protocol


class Frontend:
    """What JupyterLab does with a kernel: execute cells with their ``cellId`` and talk over
    the jupyter_metaflow comm (messages are validated against the schema on the way in)."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        kernel.execute("%load_ext jupyter_metaflow")
        hello = protocol.envelope("hello", {"side": "frontend", "package_version": "0.1.0"})
        self.comm_id = kernel.open_comm(protocol.COMM_TARGET, hello)
        self.snapshot = self.wait("run_state")
        """The ``run_state`` the kernel sent when this frontend connected."""

    def run_cell(
        self, code: str, cell_id: str | None = None, timeout: float = 120
    ) -> dict[str, Any]:
        """Execute ``code`` as JupyterLab does (``cellId`` in the request metadata); the reply."""
        kc = self.kernel.kc
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        msg = kc.session.msg(
            "execute_request", content, metadata={"cellId": cell_id} if cell_id else {}
        )
        kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        self.kernel._drain_until_idle(msg_id, timeout)
        reply = kc.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=timeout)
        reply["msg_id"] = msg_id
        return reply

    def barrier(self) -> None:
        """Wait until the kernel handled everything sent before (shell messages run in order)."""
        self.run_cell("pass")

    def send(self, msg_type: str, payload: dict[str, Any]) -> None:
        self.kernel.comm_send(self.comm_id, protocol.envelope(msg_type, payload))

    def messages(self, msg_type: str, parent: str | None = None) -> list[dict[str, Any]]:
        """Payloads of ``msg_type`` received on our comm so far (in order, validated)."""
        out = []
        for msg in self.kernel.iopub:
            if msg["msg_type"] != "comm_msg" or msg["content"]["comm_id"] != self.comm_id:
                continue
            if parent is not None and msg["parent_header"].get("msg_id") != parent:
                continue
            data = protocol.validate(msg["content"]["data"])
            if data["type"] == msg_type:
                out.append(data["payload"])
        return out

    def wait(self, msg_type: str, where: Any = None, timeout: float = 60) -> dict[str, Any]:
        """The first ``msg_type`` payload on our comm (satisfying ``where``), waiting for it."""

        def predicate(msg: dict[str, Any]) -> bool:
            if msg["msg_type"] != "comm_msg" or msg["content"]["comm_id"] != self.comm_id:
                return False
            data = msg["content"]["data"]
            return data.get("type") == msg_type and (where is None or where(data["payload"]))

        msg = self.kernel.wait_for(predicate, timeout)
        return protocol.validate(msg["content"]["data"])["payload"]

    def statuses(self, step: str | None = None, parent: str | None = None) -> list[dict[str, Any]]:
        return [
            s for s in self.messages("step_status", parent) if step is None or s["step"] == step
        ]

    def output_text(self, msg_id: str) -> str:
        """Stream, displayed (``text/plain``) and error text a cell execution produced."""
        parts = []
        for msg in self.kernel.iopub:
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                parts.append(msg["content"]["text"])
            elif msg["msg_type"] in ("display_data", "execute_result"):
                parts.append(msg["content"]["data"].get("text/plain", "") + "\n")
            elif msg["msg_type"] == "error":
                parts.append("\n".join(msg["content"]["traceback"]))
        return "".join(parts)


def cell(
    index: int,
    source: str,
    tags: tuple[str, ...] = (),
    cell_id: str | None = None,
    cell_type: str = "code",
) -> dict[str, Any]:
    """A cell as the ``flow`` message carries it (id ``c<index>`` unless given)."""
    return {
        "index": index,
        "id": cell_id or f"c{index}",
        "cell_type": cell_type,
        "source": source,
        "tags": list(tags),
    }
