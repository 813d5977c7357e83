"""``%mf_show``: inline, type-aware views of artifacts of the notebook's runs and any past run.

Also answers the renderer's ``artifact_page`` requests on the frontend link, so a frame's
pager fetches rows from the kernel without re-running the cell.
"""

from __future__ import annotations

import re
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Integer

from . import artifacts
from .address import NotebookRun, ShowError, any_namespace, parse, resolve, resolve_run
from .bundle import DEFAULT_MAX_BYTES, build, diff
from .views import Limits, frame_page

__all__ = ["ShowMagics", "notebook_run", "on_artifact_page", "register"]

MAX_PAGE_ROWS = 500
"""Most rows one ``artifact_page`` reply carries."""

_STORED_FRAME = re.compile(r"^<class 'pandas(\.[\w.]+)?\.(DataFrame|Series)'>$")
"""A frame's type as Metaflow records it (``str(type(value))``; the module path differs
between pandas versions)."""

MAX_PAGED_BYTES = 1 << 30
"""Largest pickled frame a page request loads (the renderer asks for it without a cell run)."""


def notebook_run() -> NotebookRun:
    """The notebook's current run and last executed step, from the kernel's executor."""
    from ..session import get_session

    session = get_session()
    return NotebookRun(run_pathspec=session.restorable_run(), last_step=session.last_step)


@magics_class
class ShowMagics(Magics):
    """``%mf_show``; ``c.ShowMagics.max_kb`` sets the default output bound."""

    max_kb = Integer(
        DEFAULT_MAX_BYTES // 1024, help="Largest %mf_show output (JSON + HTML + text) in KB."
    ).tag(config=True)

    @magic_arguments()
    @argument(
        "--diff",
        nargs=2,
        metavar=("RUN_A", "RUN_B"),
        help="compare two runs (Flow/Run, or run ids of the notebook's flow); the "
        "address then narrows it to a step or step.artifact",
    )
    @argument(
        "--max-kb",
        type=int,
        default=None,
        help="largest output in KB (default: ShowMagics.max_kb, 100)",
    )
    @argument(
        "address",
        nargs="?",
        default="",
        help="self.NAME, STEP, STEP.NAME, STEP[i].NAME, nothing (the whole run), or a "
        "pathspec: Flow/Run[/STEP[/TASK]][/NAME]",
    )
    @line_magic
    def mf_show(self, line: str) -> None:
        """Show an artifact, a step, a run, or the difference between two runs."""
        try:
            args = parse_argstring(self.mf_show, line)
        except ValueError as exc:  # shlex: an unclosed quote
            raise UsageError(f"%mf_show: cannot read {line!r}: {exc}") from None
        max_kb = args.max_kb if args.max_kb is not None else self.max_kb
        if max_kb <= 0:
            raise UsageError("%mf_show: --max-kb must be positive")
        try:
            display(self.bundle(args.address, args.diff, max_kb * 1024), raw=True)
        except ShowError as exc:
            raise UsageError(f"%mf_show: {exc}") from None

    @staticmethod
    def bundle(address: str, runs: list[str] | None, max_bytes: int) -> dict[str, Any]:
        """The MIME bundle for one ``%mf_show`` line (already parsed)."""
        notebook = notebook_run()
        if runs:
            run_a, run_b = (resolve_run(r, notebook) for r in runs)
            step = artifact = None
            if address:
                parsed = parse(address)
                if parsed.flow or parsed.index is not None or parsed.last_step:
                    raise ShowError(f"--diff narrows by 'step' or 'step.artifact', not {address!r}")
                step, artifact = parsed.step, parsed.artifact
            with any_namespace():
                return diff(run_a, run_b, step, artifact, max_bytes)
        target = resolve(parse(address), notebook)
        with any_namespace():
            return build(target, max_bytes)


def on_artifact_page(payload: dict[str, Any], link: Any, opened: Any) -> None:
    """``artifact_page`` -> ``artifact_page_result``: rows of a frame artifact."""
    import metaflow

    reply: dict[str, Any] = {
        "request_id": payload["request_id"],
        "pathspec": payload["pathspec"],
        "artifact": payload["artifact"],
    }
    limit = max(0, min(int(payload["limit"]), MAX_PAGE_ROWS))
    try:
        with any_namespace():
            task = metaflow.Task(payload["pathspec"])
            artifact = task[payload["artifact"]]
            check_pageable(artifact)
            value = artifacts.load(artifact)
        page = frame_page(value, int(payload["offset"]), limit, Limits())
        reply.update(offset=page["offset"], total=page["total"], rows=page["rows"])
    except Exception as exc:  # reported to the renderer, which shows it as text
        reply["error"] = f"{type(exc).__name__}: {exc}"[:500]
    link.send("artifact_page_result", reply, to=opened)


def check_pageable(artifact: Any) -> None:
    """Refuse, from the type and size Metaflow recorded, to load an artifact a page request
    names unless it is a frame of a loadable size: the request comes from an output, which
    may name any artifact, and loading unpickles it."""
    from .._metaflow import stored_artifact_facts

    stored_type, stored_size = stored_artifact_facts(artifact)
    if not _STORED_FRAME.match(stored_type or ""):
        raise ShowError(
            f"{artifact.pathspec} is {stored_type or 'of an unrecorded type'}, not a "
            "pandas DataFrame or Series: only frames are paged"
        )
    if stored_size is not None and stored_size > MAX_PAGED_BYTES:
        raise ShowError(
            f"{artifact.pathspec} is {stored_size / 2**30:.1f} GB pickled, more than "
            f"a page request loads ({MAX_PAGED_BYTES >> 30} GB); show it with "
            "%mf_show in a cell"
        )


def register(shell: Any, link: Any) -> ShowMagics:
    """Register ``%mf_show`` on ``shell`` and the page handler on ``link``."""
    magics = ShowMagics(shell)
    shell.register_magics(magics)
    if link is not None:
        link.on("artifact_page", lambda payload, opened: on_artifact_page(payload, link, opened))
    return magics
