"""Run a benchmark with every process of its tree at scheduler priority (autogroup nice -15).

Where the kernel groups processes by session (``/proc/sys/kernel/sched_autogroup_enabled`` = 1)
``nice`` orders processes only within their session, and every kernel and worker process a
benchmark starts has its own: ``nice -n -15`` then gives the benchmark nothing against other
sessions. The nice value of each process's autogroup does. Needs root (or CAP_SYS_NICE)::

    python bench/priority.py python bench/foreach_bench.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

NICE = -15


def _children() -> dict[int, list[int]]:
    """Parent pid -> its children's pids, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):  # the process ended meanwhile
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def _tree(root: int) -> list[int]:
    children, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _raise_priority(pid: int) -> None:
    try:
        with open(f"/proc/{pid}/autogroup") as f:
            if f.read().strip().endswith(f"nice {NICE}"):
                return
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(str(NICE))
    except OSError:  # the process ended, or no autogroups on this machine
        pass


def main(command: list[str]) -> int:
    proc = subprocess.Popen(command, start_new_session=True)

    def watch() -> None:
        while proc.poll() is None:
            for pid in _tree(proc.pid):
                _raise_priority(pid)
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()
    return proc.wait()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
