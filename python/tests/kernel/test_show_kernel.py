"""``%mf_show`` in a real ipykernel: the display_data it publishes and frame paging over the
comm."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jupyter_metaflow import protocol
from jupyter_metaflow.show.bundle import MIME_TYPE

FLOW = """
from metaflow import FlowSpec, step


class PageFlow(FlowSpec):
    @step
    def start(self):
        import pandas as pd
        self.df = pd.DataFrame({"n": range(5000), "<i>c</i>": [f"<b>{i}</b>" for i in range(5000)]})
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PageFlow()
"""


def test_show_and_page_a_frame(kernel, tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    env = {**os.environ, "METAFLOW_USER": "tester"}
    done = subprocess.run(
        [sys.executable, "flow.py", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    run_id = (tmp_path / ".metaflow" / "PageFlow" / "latest_run").read_text().strip()

    kernel.execute("%load_ext jupyter_metaflow")
    reply = kernel.execute(f"%mf_show PageFlow/{run_id}/start/df")
    assert reply["content"]["status"] == "ok"
    shown = kernel.wait_for(lambda m: m["msg_type"] == "display_data")
    data = shown["content"]["data"]
    assert set(data) == {MIME_TYPE, "text/html", "text/plain"}
    view = data[MIME_TYPE]["view"]
    assert view["shape"] == [5000, 2] and view["tail"]["index"][-1] == "4999"
    page = data[MIME_TYPE]["page"]

    hello = protocol.envelope("hello", {"side": "frontend", "package_version": "0.1.0"})
    comm_id = kernel.open_comm(protocol.COMM_TARGET, hello)
    request = {"request_id": "r1", **page, "offset": 2500, "limit": 3}
    kernel.comm_send(comm_id, protocol.envelope("artifact_page", request))
    answer = kernel.wait_for(
        lambda m: (
            m["msg_type"] == "comm_msg"
            and m["content"]["data"].get("type") == "artifact_page_result"
        )
    )
    result = protocol.validate(answer["content"]["data"])["payload"]
    assert result["request_id"] == "r1" and result["total"] == 5000
    assert result["rows"] == {
        "start": 2500,
        "index": ["2500", "2501", "2502"],
        "cells": [["2500", "<b>2500</b>"], ["2501", "<b>2501</b>"], ["2502", "<b>2502</b>"]],
    }

    missing = {
        "request_id": "r2",
        "pathspec": page["pathspec"],
        "artifact": "nope",
        "offset": 0,
        "limit": 5,
    }
    kernel.comm_send(comm_id, protocol.envelope("artifact_page", missing))
    answer = kernel.wait_for(
        lambda m: (
            m["msg_type"] == "comm_msg"
            and m["content"]["data"].get("payload", {}).get("request_id") == "r2"
        )
    )
    assert "nope" in answer["content"]["data"]["payload"]["error"]

    reply = kernel.execute("%mf_show PageFlow/1/start")
    assert reply["content"]["status"] == "error"
    assert "has no run '1'; latest runs: " + run_id in reply["content"]["evalue"]
