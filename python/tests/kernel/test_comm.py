"""The handshake over the comm, in a real ipykernel, from both directions."""

import os

import metaflow

import jupyter_metaflow
from jupyter_metaflow import protocol


def _is_comm(msg_type, comm_id=None, target=None):
    def predicate(msg):
        content = msg["content"]
        return (
            msg["msg_type"] == msg_type
            and (comm_id is None or content.get("comm_id") == comm_id)
            and (target is None or content.get("target_name") == target)
        )

    return predicate


def test_load_ext_opens_a_comm_with_the_kernel_hello(kernel):
    """A notebook frontend's cell (JupyterLab sends its ``cellId``) loads the extension: the
    kernel announces itself, so an open frontend connects without asking."""
    reply = kernel.execute("%load_ext jupyter_metaflow", cell_id="cell-1")
    assert reply["content"]["status"] == "ok"
    opened = kernel.wait_for(_is_comm("comm_open", target=protocol.COMM_TARGET))
    data = opened["content"]["data"]
    assert data["protocol"] == protocol.PROTOCOL_VERSION
    assert data["type"] == "hello"
    assert data["payload"] == {
        "side": "kernel",
        "package_version": jupyter_metaflow.__version__,
        "metaflow_version": metaflow.__version__,
    }


def test_load_ext_opens_no_comm_without_a_frontend(kernel, tmp_path):
    """nbclient (nbconvert, papermill, ``jupyter execute``) handles no comm and logs "No
    handler found for comm target" for every comm a kernel opens; a kernel started by
    jupyter_server (``JPY_SESSION_NAME``) announces itself without a cell id."""
    from conftest import KernelHarness
    from jupyter_client.manager import start_new_kernel

    assert kernel.execute("%load_ext jupyter_metaflow")["content"]["status"] == "ok"
    kernel.execute("pass")
    assert not [m for m in kernel.iopub if m["msg_type"] == "comm_open"]

    env = {**os.environ, "JPY_SESSION_NAME": str(tmp_path / "nb.ipynb"), "METAFLOW_USER": "tester"}
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path), env=env)
    try:
        served = KernelHarness(km, kc)
        served.execute("%load_ext jupyter_metaflow")
        served.wait_for(_is_comm("comm_open", target=protocol.COMM_TARGET))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_frontend_opened_comm_gets_hello_back(kernel):
    kernel.execute("%load_ext jupyter_metaflow")
    hello = protocol.envelope("hello", {"side": "frontend", "package_version": "0.1.0"})
    comm_id = kernel.open_comm(protocol.COMM_TARGET, hello)
    answer = kernel.wait_for(_is_comm("comm_msg", comm_id=comm_id))
    assert answer["content"]["data"]["type"] == "hello"
    assert answer["content"]["data"]["payload"]["side"] == "kernel"
    reply = kernel.execute(
        "import jupyter_metaflow; print(list(jupyter_metaflow.get_link().frontends.values()))"
    )
    assert reply["content"]["status"] == "ok"
    printed = kernel.wait_for(lambda m: m["msg_type"] == "stream")
    assert "'side': 'frontend'" in printed["content"]["text"]


def test_comm_before_load_ext_is_closed(kernel):
    hello = protocol.envelope("hello", {"side": "frontend", "package_version": "0.1.0"})
    comm_id = kernel.open_comm(protocol.COMM_TARGET, hello)
    closed = kernel.wait_for(_is_comm("comm_close", comm_id=comm_id))
    assert closed["content"]["comm_id"] == comm_id


def test_malformed_message_gets_an_error_reply(kernel):
    kernel.execute("%load_ext jupyter_metaflow")
    hello = protocol.envelope("hello", {"side": "frontend", "package_version": "0.1.0"})
    comm_id = kernel.open_comm(protocol.COMM_TARGET, hello)
    kernel.wait_for(_is_comm("comm_msg", comm_id=comm_id))
    kernel.comm_send(comm_id, {"protocol": "1.0", "type": "hello", "payload": {"side": 3}})
    error = kernel.wait_for(
        lambda m: (
            _is_comm("comm_msg", comm_id=comm_id)(m) and m["content"]["data"]["type"] == "error"
        )
    )
    assert "malformed 'hello' payload" in error["content"]["data"]["payload"]["message"]


def test_load_ext_twice_keeps_one_link(kernel):
    kernel.execute("%load_ext jupyter_metaflow")
    kernel.execute("%reload_ext jupyter_metaflow")
    reply = kernel.execute(
        "import jupyter_metaflow; assert jupyter_metaflow.get_link() is not None"
    )
    assert reply["content"]["status"] == "ok"


def test_kernel_opened_comm_is_not_answered_twice_and_gets_the_run_state(kernel):
    kernel.execute("%load_ext jupyter_metaflow", cell_id="cell-1")
    opened = kernel.wait_for(_is_comm("comm_open", target=protocol.COMM_TARGET))
    comm_id = opened["content"]["comm_id"]
    kernel.comm_send(
        comm_id, protocol.envelope("hello", {"side": "frontend", "package_version": "0.1.0"})
    )
    reply = kernel.execute(
        "import jupyter_metaflow; print(len(jupyter_metaflow.get_link().frontends))"
    )
    assert reply["content"]["status"] == "ok"
    printed = kernel.wait_for(lambda m: m["msg_type"] == "stream")
    assert printed["content"]["text"].strip() == "1"
    # no second hello, but the snapshot a connecting frontend gets (the kernel side of JupyterLab
    # after a restart, where %load_ext opens the comm, showed no restored step statuses)
    sent = [
        m["content"]["data"]["type"]
        for m in kernel.iopub
        if _is_comm("comm_msg", comm_id=comm_id)(m)
    ]
    assert sent == ["run_state"]


def test_a_failing_handler_answers_the_request_it_failed_on(kernel):
    """The frontend waits for the answer with its request_id: an error without it left the
    frontend waiting 60 s and saying the kernel did not answer."""
    kernel.execute("%load_ext jupyter_metaflow")
    hello = protocol.envelope("hello", {"side": "frontend", "package_version": "0.1.0"})
    comm_id = kernel.open_comm(protocol.COMM_TARGET, hello)
    kernel.wait_for(_is_comm("comm_msg", comm_id=comm_id))
    kernel.execute(
        "import jupyter_metaflow\n"
        "jupyter_metaflow.get_link().on('runs', lambda payload, comm: {}['missing'])"
    )
    kernel.comm_send(comm_id, protocol.envelope("runs", {"flow": "F", "request_id": "r-1"}))
    kernel.comm_send(
        comm_id,
        {
            "protocol": protocol.PROTOCOL_VERSION,
            "type": "export",
            "payload": {"path": 3, "request_id": "x-2"},
        },
    )
    errors = {}
    for _ in range(2):
        msg = kernel.wait_for(
            lambda m: (
                _is_comm("comm_msg", comm_id=comm_id)(m)
                and m["content"]["data"]["type"] == "error"
                and m["content"]["data"]["payload"].get("request_id") not in errors
            )
        )
        payload = protocol.validate(msg["content"]["data"])["payload"]
        errors[payload["request_id"]] = payload
    assert (
        errors["r-1"]["message"] == "KeyError: 'missing'" and errors["r-1"]["in_reply_to"] == "runs"
    )
    assert "malformed 'export' payload" in errors["x-2"]["message"]
