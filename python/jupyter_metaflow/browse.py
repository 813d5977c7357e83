"""What the DAG panel asks the kernel about runs, steps and tasks (its details pane and run
browser), answered from Metaflow's Client API without inserting cells in the notebook.

* ``runs`` -> ``runs_result``: the flow's runs, newest first, from metadata only (tags, times,
  the tasks' ``attempt_ok``): notebook runs, ``%mf_run`` runs, and runs of the
  exported file by ``python flow.py run``; ``%mf_split`` debug runs are left out;
* ``run_details`` -> ``run_details_result``: one run's parameters and step statuses (in
  ``step_status`` shape, so the panel draws the run's DAG states);
* ``step_details`` -> ``step_details_result``: a step's tasks in a run: foreach splits with
  their input values, switch choices, recursive iterations, times, state, and whether it has
  cards;
* ``task_logs`` -> ``task_logs_result``: a task's stdout and stderr (their ends);
* ``show`` -> ``show_result``: the ``%mf_show`` view of an address (or ``--diff`` of two runs),
  the same bundle the magic displays, for the frontend's artifact renderer;
* ``task_cards`` -> ``task_cards_result``: the HTML of a task's cards (the frontend shows them
  in a sandboxed iframe, as ``%mf_show`` does);
* ``use_run`` -> ``use_run_result``: make a run of the flow the notebook's current run (the next
  step attaches to it); every frontend then gets that run's ``run_state``.

Every handler answers, with ``error`` (untrusted text) when the request cannot be served.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from .runstatus import run_statuses, switch_targets

__all__ = ["next_step", "register", "run_origin", "run_summary"]

log = logging.getLogger(__name__)

MAX_RUNS = 50
"""Most runs one ``runs`` answer lists."""
MAX_LOG_CHARS = 64 * 1024
"""Most characters of each log one ``task_logs`` answer carries (the end of the log)."""
MAX_TASKS = 500
"""Most tasks one ``step_details`` answer lists."""
MAX_CARD_BYTES = 4 << 20
"""Largest card HTML sent to the frontend."""


def register(link: Any) -> None:
    """Answer the panel's requests on ``link``."""
    handlers: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
        "runs": ("runs_result", list_runs),
        "run_details": ("run_details_result", run_details),
        "step_details": ("step_details_result", step_details),
        "task_logs": ("task_logs_result", task_logs),
        "show": ("show_result", show),
        "task_cards": ("task_cards_result", task_cards),
        "use_run": ("use_run_result", use_run),
    }
    for request, (answer, handler) in handlers.items():
        link.on(request, _answering(link, answer, handler))


def _answering(link: Any, answer: str, handler: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    def on_request(payload: dict[str, Any], opened: Any = None) -> None:
        from ._metaflow import forget_datastore_root
        from .show.address import ShowError

        reply: dict[str, Any] = {"request_id": payload["request_id"]}
        try:
            reply.update(handler(payload))
        except ShowError as exc:
            reply["error"] = str(exc)
        except Exception as exc:  # answered as text: the panel shows it where the data would be
            log.debug("jupyter-metaflow: %s failed", answer, exc_info=True)
            reply["error"] = f"{type(exc).__name__}: {exc}"[:1000]
        finally:
            forget_datastore_root()
        link.send(answer, reply, to=opened)

    return on_request


# -- runs ----------------------------------------------------------------------------------
def _session() -> Any:
    from .session import get_session

    return get_session()


def _flow_name(payload: dict[str, Any]) -> str:
    if payload.get("flow"):
        return str(payload["flow"])
    from .sync import get_sync

    return get_sync().current_model()["name"]


def list_runs(payload: dict[str, Any]) -> dict[str, Any]:
    """``runs``: the flow's runs, newest first (at most ``limit``, default :data:`MAX_RUNS`)."""
    from metaflow import Flow
    from metaflow.exception import MetaflowNotFound

    from .show.address import any_namespace

    name = _flow_name(payload)
    limit = max(1, min(int(payload.get("limit") or MAX_RUNS), MAX_RUNS))
    session = _session()
    current = session.restorable_run()
    generated = _generated_script(session)
    runs: list[dict[str, Any]] = []
    with any_namespace():
        try:
            flow = Flow(name)
        except MetaflowNotFound:
            return {"flow": name, "current": current, "runs": []}
        for run in flow:
            origin = run_origin(run, generated)
            if origin == "debug":
                continue
            runs.append(run_summary(run, origin))
            if len(runs) >= limit:
                break
    return {"flow": name, "current": current, "runs": runs}


def _generated_script(session: Any) -> str | None:
    from .native_runtime import GENERATED_SUFFIX

    path = session.notebook_path()
    return os.path.splitext(os.path.basename(path))[0] + GENERATED_SUFFIX if path else None


def run_origin(run: Any, generated_script: str | None) -> str:
    """Who made a run: ``notebook`` (steps run in a kernel), ``debug`` (``%mf_split``),
    ``runtime`` (``%mf_run`` or a runtime-path step, from the notebook's generated file) or
    ``script`` (Metaflow's runtime on a flow file, e.g. the exported one)."""
    from metaflow import Step
    from metaflow.exception import MetaflowNotFound

    from ._metaflow import DEBUG_SYS_TAG, NOTEBOOK_SYS_TAG, in_any_namespace

    tags = run.system_tags
    if DEBUG_SYS_TAG in tags:
        return "debug"
    if NOTEBOOK_SYS_TAG in tags:
        return "notebook"
    try:
        params = in_any_namespace(Step, f"{run.pathspec}/_parameters").task
        script = params.metadata_dict.get("script-name") if params is not None else None
    except MetaflowNotFound:
        script = None
    return "runtime" if generated_script and script == generated_script else "script"


def run_summary(run: Any, origin: str) -> dict[str, Any]:
    """A run as the run browser lists it, from metadata only: successful when its ``end``
    task succeeded, failed when any of its tasks raised (as its DAG shows), else unfinished."""
    end = _end_task(run)
    status, finished = "unfinished", None
    if end is not None and end.metadata_dict.get("attempt_ok") == "True":
        status, finished = "successful", end.finished_at
    else:
        failed = _failed_task(run)
        if failed is not None:
            status, finished = "failed", failed.finished_at
    created = run.created_at
    summary: dict[str, Any] = {
        "pathspec": run.pathspec,
        "id": run.id,
        "origin": origin,
        "status": status,
        "created_at": _time(created),
        "finished_at": _time(finished),
        "tags": sorted(run.user_tags),
    }
    if created is not None and finished is not None:
        summary["duration_ms"] = round((finished - created).total_seconds() * 1000, 1)
    return summary


def _end_task(run: Any) -> Any:
    from metaflow.exception import MetaflowNotFound

    try:
        return run["end"].task
    except (KeyError, MetaflowNotFound):
        return None


def _failed_task(run: Any) -> Any:
    """The first task of ``run`` found to have raised, or None (read only for runs whose
    ``end`` did not succeed: a successful run is read from its ``end`` task alone)."""
    from ._metaflow import task_outcome

    for step in run:
        for task in step:
            if task.metadata_dict.get("attempt_ok") == "False" and task_outcome(task).ok is False:
                return task
    return None


def _time(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def _run(pathspec: str | None) -> Any:
    """The Client ``Run`` at ``pathspec``, else the notebook's current run."""
    from metaflow import Run

    from ._metaflow import in_any_namespace
    from .show.address import ShowError

    pathspec = pathspec or _session().restorable_run()
    if not pathspec:
        raise ShowError("the notebook has no run yet: run the start step first")
    if pathspec.count("/") != 1:
        raise ShowError(f"{pathspec!r} is not a run pathspec (Flow/run_id)")
    return in_any_namespace(Run, pathspec)


def run_details(payload: dict[str, Any]) -> dict[str, Any]:
    """``run_details``: a run's parameters and its steps' statuses."""
    from .show.address import any_namespace
    from .show.views import brief

    with any_namespace():
        run = _run(payload.get("run"))
        parameters: dict[str, str] = {}
        try:
            task = run["_parameters"].task
            for name in sorted(_parameter_names(task)):
                parameters[name] = brief(_plain_value(task[name]), 200)
        except KeyError:
            pass
        summary = run_summary(run, run_origin(run, _generated_script(_session())))
        return {
            "run": run.pathspec,
            "summary": summary,
            "parameters": parameters,
            "steps": run_statuses(run, switch_steps()),
        }


def _parameter_names(task: Any) -> list[str]:
    """The run's Parameters (Configs too), from the ``_graph_info`` Metaflow stores in the
    ``_parameters`` task, which also holds the flow's class constants; every artifact of that
    task when ``_graph_info`` is not plain data."""
    from ._metaflow import is_user_artifact

    info = _plain_value(task["_graph_info"]) if "_graph_info" in task else None
    if isinstance(info, dict) and isinstance(info.get("parameters"), list):
        return [str(p["name"]) for p in info["parameters"] if isinstance(p, dict) and "name" in p]
    return [a.id for a in task if is_user_artifact(a.id)]


def switch_steps() -> dict[str, list[str]]:
    """:func:`switch_targets` of the notebook's flow."""
    from .sync import get_sync

    try:
        return switch_targets(get_sync().current_model())
    except Exception:  # an unreadable notebook: no switch known
        return {}


def _duration_ms(task: Any) -> float | None:
    created, finished = task.created_at, task.finished_at
    if created is None or finished is None:
        return None
    return round((finished - created).total_seconds() * 1000, 1)


# -- steps and tasks -------------------------------------------------------------------------
def step_details(payload: dict[str, Any]) -> dict[str, Any]:
    """``step_details``: the tasks of a step in a run (the notebook's current run by default)."""
    from .show.address import ShowError, any_namespace, position, task_labels

    with any_namespace():
        run = _run(payload.get("run"))
        name = str(payload["step"])
        try:
            step = run[name]
        except KeyError:
            raise ShowError(f"step {name!r} has not run in {run.pathspec}") from None
        tasks = sorted(step, key=lambda t: (position(t), int(t.id) if t.id.isdigit() else 0))
        shown = tasks[:MAX_TASKS]
        rows = []
        for task, label in zip(shown, task_labels(shown)):
            ok = task.metadata_dict.get("attempt_ok")
            row: dict[str, Any] = {
                "pathspec": task.pathspec,
                "id": task.id,
                "label": label,
                "state": {"True": "done", "False": "failed"}.get(ok or "", "running"),
                "started_at": _time(task.created_at),
                "finished_at": _time(task.finished_at),
            }
            duration = _duration_ms(task)
            if duration is not None:
                row["duration_ms"] = duration
            where = position(task)
            if where:
                row["index"] = list(where)
                value = _split_input(task)
                if value is not None:
                    row["input"] = value
            went = next_step(task) if ok == "True" else None
            if went is not None:
                row["next"] = went
            if ok == "False":
                exc = task.exception
                if exc is not None:
                    row["error"] = (
                        exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
                    )[:2000]
            rows.append(row)
        return {
            "run": run.pathspec,
            "step": name,
            "tasks": rows,
            "tasks_omitted": max(0, len(tasks) - len(shown)),
            "cards": _has_cards(shown),
        }


def _split_input(task: Any) -> str | None:
    """The value of the innermost foreach's item this task got (``self.input``), as Metaflow
    recorded it in the foreach stack."""
    try:
        frames = _plain_value(task["_foreach_stack"])
    except KeyError:
        return None
    value = getattr(frames[-1], "value", None) if isinstance(frames, list) and frames else None
    return None if value is None else str(value)[:200]


def next_step(task: Any) -> str | None:
    """The one step a finished task went to (a linear step's, a switch's case), from its
    ``_transition`` read as plain data; None for a split, a foreach, an end or no record."""
    transition = _plain_value(task["_transition"]) if "_transition" in task else None
    if (
        isinstance(transition, tuple)
        and transition
        and isinstance(transition[0], list)
        and len(transition[0]) == 1
        and transition[1] is None
    ):
        return str(transition[0][0])
    return None


def _plain_value(artifact: Any) -> Any:
    """An artifact's value when it is plain data, else a note naming its type: the panel
    reads runs (also runs of others in a shared datastore) without unpickling objects."""
    from ._metaflow import NotPlainData, plain_artifact_value

    try:
        return plain_artifact_value(artifact)
    except NotPlainData as exc:
        return NotShown(str(exc))


class NotShown:
    """What the panel shows for an artifact that is not plain data."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"<{self.kind}: not shown, not plain data>"


def _has_cards(tasks: list[Any]) -> bool:
    try:
        from metaflow.cards import get_cards
    except ImportError:
        return False
    for task in tasks[:20]:
        try:
            if len(get_cards(task)):
                return True
        except Exception:  # no card store, an unreadable card: no card to show
            continue
    return False


def task_logs(payload: dict[str, Any]) -> dict[str, Any]:
    """``task_logs``: the ends of a task's stdout and stderr."""
    from metaflow import Task

    from .show.address import any_namespace

    pathspec = str(payload["pathspec"])
    with any_namespace():
        task = Task(pathspec)
        out: dict[str, Any] = {"pathspec": pathspec}
        for stream in ("stdout", "stderr"):
            text = getattr(task, stream) or ""
            out[stream] = text[-MAX_LOG_CHARS:]
            if len(text) > MAX_LOG_CHARS:
                out[f"{stream}_omitted"] = len(text) - MAX_LOG_CHARS
        return out


def show(payload: dict[str, Any]) -> dict[str, Any]:
    """``show``: the ``%mf_show`` view of ``address`` (or of ``diff``: two runs)."""
    from .show.bundle import MIME_TYPE
    from .show.magics import ShowMagics

    diff = payload.get("diff")
    max_bytes = max(16, min(int(payload.get("max_kb") or 200), 2048)) * 1024
    bundle = ShowMagics.bundle(
        str(payload.get("address") or ""), list(diff) if diff else None, max_bytes
    )
    return {"data": bundle[MIME_TYPE]}


def task_cards(payload: dict[str, Any]) -> dict[str, Any]:
    """``task_cards``: the HTML of the cards of a task (untrusted: the frontend sandboxes it)."""
    from metaflow import Task
    from metaflow.cards import get_cards

    from .show.address import any_namespace

    pathspec = str(payload["pathspec"])
    cards = []
    with any_namespace():
        for card in get_cards(Task(pathspec)):
            html = card.get() or ""
            if len(html.encode("utf-8")) > MAX_CARD_BYTES:
                html = ""
            cards.append({"type": card.type, "html": html})
    return {"pathspec": pathspec, "cards": cards}


def use_run(payload: dict[str, Any]) -> dict[str, Any]:
    """``use_run``: make ``run`` (a run of the notebook's flow) the notebook's current run."""
    from .show.address import ShowError, any_namespace
    from .sync import get_sync

    sync = get_sync()
    flow = sync.current_model()["name"]
    wanted = str(payload["run"])
    if wanted.split("/")[0] != flow:
        raise ShowError(f"{wanted} is not a run of this notebook's {flow}")
    with any_namespace():
        run = _run(wanted)
        try:
            run["_parameters"]
        except KeyError:
            raise ShowError(
                f"{run.pathspec} has no parameters task: it cannot be continued"
            ) from None
        pathspec = run.pathspec
    _session().use_run(pathspec)
    sync.reload_run()
    return {"run": pathspec}
