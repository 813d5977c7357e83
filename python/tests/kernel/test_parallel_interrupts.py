"""Foreach splits in worker processes of a real kernel: interrupting from the kernel manager
(as JupyterLab's Interrupt does), a worker killed by the OS, and one killed for memory."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from conftest import KernelHarness
from headless import kernel_env
from jupyter_client.manager import start_new_kernel

BODY_OK = "%%step body\ntime.sleep(1)\nself.v = self.input\nself.next(self.join)"


def cells(body: str) -> list[str]:
    return [
        "%load_ext jupyter_metaflow",
        "import os\nimport time",
        "%%flow SleepyFlow --max-workers 2",
        "%%step start\nself.items = [0, 1, 2, 3]\nself.next(self.body, foreach='items')",
        body,
        "%%step join\nself.values = [i.v for i in inputs]\nself.next(self.end)",
        "%%step end\npass",
    ]


def save(path: Path, sources: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)


@pytest.fixture
def notebook_kernel(tmp_path: Path):
    """A kernel started for ``sleepy.ipynb`` as jupyter-server starts one (cwd, session name)."""
    (tmp_path / ".metaflow").mkdir()
    path = tmp_path / "sleepy.ipynb"
    save(path, cells(BODY_OK))
    km, kc = start_new_kernel(
        kernel_name="python3", cwd=str(tmp_path), env=kernel_env(JPY_SESSION_NAME=str(path))
    )
    try:
        yield KernelHarness(km, kc), path
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def workers_of(km) -> list[int]:
    """Worker processes the kernel started."""
    found = subprocess.run(
        ["pgrep", "-P", str(km.provisioner.process.pid), "-f", "jupyter_metaflow.workers"],
        capture_output=True,
        text=True,
    ).stdout.split()
    return [int(pid) for pid in found]


def reply_to(kernel: KernelHarness, msg_id: str, timeout: float = 300) -> dict:
    reply = kernel.kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kernel.kc.get_shell_msg(timeout=timeout)
    return reply


def warm_up(kernel: KernelHarness) -> None:
    """Run the flow, then the body again: the second execution knows its splits take ~1 s and
    has measured workers, so its splits (and later ones) go to workers."""
    for source in cells(BODY_OK):
        assert kernel.execute(source, timeout=180)["content"]["status"] == "ok", source
    deadline = time.monotonic() + 600  # starting workers on a busy machine takes a while
    while True:
        reply = kernel.execute(BODY_OK, timeout=180)
        assert reply["content"]["status"] == "ok"
        check = kernel.execute(
            "from jupyter_metaflow import parallel\n"
            "assert parallel.measurements().overhead, 'no worker task yet'"
        )
        if check["content"]["status"] == "ok":
            return
        kernel.execute(  # what the rule saw, for the failure message
            "from jupyter_metaflow import workers\np = workers.get_pool()\n"
            "print([(w.pid, w.ready, w.busy, w.dead) for w in p.workers], p.startup_seconds,"
            " p.ping_seconds, p.build_seconds, parallel.measurements().task_seconds)"
        )
        shown = [m["content"].get("text", "") for m in kernel.iopub if m["msg_type"] == "stream"]
        assert time.monotonic() < deadline, f"the splits never went to workers: {shown[-1:]}"


def test_interrupt_stops_every_worker_and_fails_the_step(notebook_kernel):
    kernel, path = notebook_kernel
    warm_up(kernel)
    never = (
        "%%step body\nif self.input == 2:\n    open('stuck', 'w').write(str(os.getpid()))\n"
        "    while True:\n"
        "        time.sleep(0.1)\ntime.sleep(1)\nself.v = self.input\nself.next(self.join)"
    )
    save(path, cells(never))
    msg_id = kernel.kc.execute(never)
    deadline = time.monotonic() + 300
    stuck = path.parent / "stuck"
    while not stuck.exists() or not stuck.read_text():  # split 3 is in its endless loop
        assert time.monotonic() < deadline, "split 3 never started"
        time.sleep(0.2)
    assert int(stuck.read_text()) in workers_of(kernel.km)  # in a worker, not the kernel
    kernel.km.interrupt_kernel()
    reply = reply_to(kernel, msg_id)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "StepInterrupted"
    assert "was interrupted" in reply["content"]["evalue"]
    state = kernel.execute(
        "from jupyter_metaflow import workers\n"
        "assert not any(w.busy for w in workers.get_pool().workers)"
    )
    assert state["content"]["status"] == "ok"  # the kernel is alive, no worker still busy
    save(path, cells(BODY_OK))
    for source in (BODY_OK, cells(BODY_OK)[5], cells(BODY_OK)[6]):
        assert kernel.execute(source, timeout=180)["content"]["status"] == "ok"
    check = kernel.execute(
        "from metaflow import Flow\nassert Flow('SleepyFlow').latest_run['join'].task"
        ".data.values == [0, 1, 2, 3]"
    )
    assert check["content"]["status"] == "ok"


def test_interrupting_the_first_split_stops_the_worker_running_the_next(notebook_kernel):
    """A fresh kernel's first foreach: split 1 runs in the kernel (timed), split 2 in the
    worker started meanwhile; Interrupt stops both, and the kernel and the worker are free."""
    kernel, path = notebook_kernel
    both = (
        "%%step body\nif self.input == 1:\n    open('second', 'w').write(str(os.getpid()))\n"
        "if self.input in (0, 1):\n    while True:\n        time.sleep(0.1)\n"
        "self.v = self.input\nself.next(self.join)"
    )
    for source in cells(both)[:4]:
        assert kernel.execute(source, timeout=180)["content"]["status"] == "ok", source
    save(path, cells(both))
    msg_id = kernel.kc.execute(both)
    deadline = time.monotonic() + 300
    second = path.parent / "second"
    while not second.exists() or not second.read_text():
        assert time.monotonic() < deadline, "split 2 never began in a worker"
        time.sleep(0.2)
    assert int(second.read_text()) in workers_of(kernel.km)
    kernel.km.interrupt_kernel()
    reply = reply_to(kernel, msg_id, timeout=60)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "StepInterrupted"
    state = kernel.execute(
        "from jupyter_metaflow import workers\n"
        "assert not any(w.busy for w in workers.get_pool().workers)\n"
        "from metaflow import Flow\n"
        "tasks = {t.index: t.successful for t in Flow('SleepyFlow').latest_run['body']}\n"
        "assert tasks == {0: False, 1: False}, tasks"
    )
    assert state["content"]["status"] == "ok", state["content"]
    save(path, cells(BODY_OK))
    for source in (BODY_OK, cells(BODY_OK)[5], cells(BODY_OK)[6]):
        assert kernel.execute(source, timeout=180)["content"]["status"] == "ok"


def test_worker_killed_by_the_os_fails_the_step_clearly(notebook_kernel):
    kernel, path = notebook_kernel
    warm_up(kernel)
    slow = (
        "%%step body\nopen(f'running-{os.getpid()}', 'w').close()\ntime.sleep(3)\n"
        "self.v = self.input\nself.next(self.join)"
    )
    save(path, cells(slow))
    msg_id = kernel.kc.execute(slow)
    deadline = time.monotonic() + 300
    while True:  # a split is running in a worker (it says so with a file named by its pid)
        started = {int(p.name.split("-")[1]) for p in path.parent.glob("running-*")}
        in_workers = sorted(started & set(workers_of(kernel.km)))
        if in_workers:
            break
        assert time.monotonic() < deadline, "no split started in a worker"
        time.sleep(0.2)
    os.kill(in_workers[0], signal.SIGKILL)
    reply = reply_to(kernel, msg_id)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "StepFailed"
    assert "was killed by SIGKILL" in reply["content"]["evalue"]
    assert f"(pid {in_workers[0]})" in reply["content"]["evalue"]
    assert kernel.execute("1 + 1")["content"]["status"] == "ok"
    save(path, cells(BODY_OK))
    assert kernel.execute(BODY_OK, timeout=180)["content"]["status"] == "ok"  # a new worker


def _own_memory_cgroup() -> tuple[Path, str] | None:
    """This process's memory cgroup folder and the file that limits a child group's memory
    (cgroup v1's memory controller, or v2 with memory enabled for children), or None."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            if (folder / "cgroup.procs").exists():
                return folder, "memory.limit_in_bytes"
        if controllers == "":
            for mount in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
                folder = mount / path.lstrip("/")
                control = folder / "cgroup.subtree_control"
                if control.exists() and "memory" in control.read_text().split():
                    return folder, "memory.max"
    return None


@pytest.fixture
def memory_limited_group():
    """A new memory cgroup limited to 300 MB (skipped where none can be made: no root, no
    memory controller); its processes go back to this process's group afterwards."""
    own = _own_memory_cgroup()
    if own is None:
        pytest.skip("no memory cgroup to make a limited group in")
    parent, limit_file = own
    group = parent / f"jupyter-metaflow-oom-{os.getpid()}"
    try:
        group.mkdir()
        (group / limit_file).write_text(str(300 << 20))
    except OSError as exc:
        pytest.skip(f"cannot make a memory-limited cgroup here: {exc}")
    try:
        yield group
    finally:
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                (parent / "cgroup.procs").write_text(pid)
        group.rmdir()


def _oom_kills(group: Path) -> int:
    for name in ("memory.oom_control", "memory.events"):
        if (group / name).exists():
            for line in (group / name).read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    return 0


def test_worker_killed_for_memory_fails_the_step_and_the_kernel_lives(
    notebook_kernel, memory_limited_group
):
    """A real out-of-memory kill: the kernel and its workers in a cgroup with 300 MB for new
    memory, a split allocating 1 GiB. The system kills the worker (it volunteers before the
    kernel), the step fails naming the split, the kernel and the earlier run are untouched."""
    kernel, path = notebook_kernel
    warm_up(kernel)
    earlier = kernel.execute(
        "from metaflow import Flow\nearlier = next(r for r in Flow('SleepyFlow') if r.successful)\n"
        "assert earlier['join'].task.data.values == [0, 1, 2, 3]"
    )
    assert earlier["content"]["status"] == "ok"
    for pid in [kernel.km.provisioner.process.pid, *workers_of(kernel.km)]:
        (memory_limited_group / "cgroup.procs").write_text(str(pid))
    hog = (
        "%%step body\nif self.input == 2:\n    hog = bytearray(1 << 30)\ntime.sleep(1)\n"
        "self.v = self.input\nself.next(self.join)"
    )
    save(path, cells(hog))
    reply = kernel.execute(hog, timeout=300)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "StepFailed"
    message = reply["content"]["evalue"]
    assert "split 3 of 4" in message
    assert "was killed by SIGKILL (the system's out-of-memory killer sends it)" in message
    assert _oom_kills(memory_limited_group) >= 1  # the system's out-of-memory killer did it
    alive = kernel.execute("assert earlier['join'].task.data.values == [0, 1, 2, 3]")
    assert alive["content"]["status"] == "ok"  # the kernel and the earlier run are untouched
