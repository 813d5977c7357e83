"""``%mf_deploy``: deploy the notebook's flow to a production orchestrator.

    %mf_deploy argo-workflows [--name NAME] [--only-json] [create options...]
    %mf_deploy step-functions [--name NAME] [--only-json] [create options...]
    %mf_deploy airflow FILE [--name NAME] [create options...]

The flow deployed is the runtime path's generated ``<notebook>.nbflow.py`` (the notebook's
cells, its ``%%flow`` line's Configs and storage options); Argo Workflows and Step Functions go
through Metaflow's ``Deployer`` as ``NBDeployer`` does for a one-cell flow and return Metaflow's
deployed-flow object (``.trigger(**params)`` starts a run), or with ``--only-json`` the compiled
spec (:class:`CompiledSpec`, a dict). Airflow has no ``Deployer``: ``python flow.py airflow
create FILE`` runs through Metaflow's click API and the DAG's ``CONFIG`` is returned the same
way (``.path``: the DAG file). A compiled spec shows as a short summary in the cell; Metaflow's
own errors appear as Metaflow words them.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from . import _metaflow as mf
from . import native_runtime
from .run_magics import notebook_flow_file

__all__ = ["CompiledSpec", "DeployFailed", "DeployMagics"]

TARGETS = ("argo-workflows", "step-functions", "airflow")
USAGE = (
    "%mf_deploy argo-workflows|step-functions [--name NAME] [--only-json] [create options]\n"
    "%mf_deploy airflow FILE [--name NAME] [create options]"
)


class DeployFailed(Exception):
    """Metaflow refused or failed the deployment; the message is Metaflow's."""

    def _render_traceback_(self) -> list[str]:  # IPython: the message, no frames of ours
        return [f"DeployFailed: {self}"]


class CompiledSpec(dict):
    """What Metaflow compiled for ``target`` (Argo WorkflowTemplate, Step Functions state
    machine, Airflow DAG ``CONFIG``); displays as its :func:`summary`."""

    def __init__(self, target: str, spec: dict[str, Any], path: Path | None = None) -> None:
        super().__init__(spec)
        self.target = target
        self.path = path

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(summary(self.target, self) + (f"\n  file: {self.path}" if self.path else ""))


@magics_class
class DeployMagics(Magics):
    @line_magic
    def mf_deploy(self, line: str) -> Any:
        """Deploy the notebook's flow with Metaflow: argo-workflows, step-functions, airflow."""
        from IPython.core.magic_arguments import arg_split

        words = arg_split(line, posix=True)
        if not words or words[0] not in TARGETS:
            raise UsageError(f"%mf_deploy: name a target ({', '.join(TARGETS)}).\nUsage: {USAGE}")
        target, words = words[0], words[1:]
        name = _take_option(words, "--name")
        assert self.shell is not None  # a registered magic has its shell
        built, flow_file = notebook_flow_file(self.shell.user_ns)
        flow_file = Path(flow_file)
        top = native_runtime.top_level_options(built)[0]
        if target == "airflow":
            if not words or words[0].startswith("-"):
                raise UsageError(f"%mf_deploy airflow: give the DAG file to write.\nUsage: {USAGE}")
            dag_file = Path(words.pop(0)).resolve()
            return _airflow(flow_file, top, name, dag_file, _create_options(target, words))
        create = _create_options(target, words)
        return _deploy(built, flow_file, target, top, name, create, bool(create.get("only_json")))


def _create_options(target: str, words: list[str]) -> dict[str, Any]:
    try:
        return mf.create_options(target, words)
    except ValueError as exc:
        raise UsageError(f"%mf_deploy {target}: {exc}") from None


def _take_option(words: list[str], option: str) -> str | None:
    """Remove ``option VALUE`` / ``option=VALUE`` from ``words``; return the value."""
    for i, word in enumerate(words):
        if word == option and i + 1 < len(words):
            value = words[i + 1]
            del words[i : i + 2]
            return value
        if word.startswith(option + "="):
            del words[i]
            return word.split("=", 1)[1]
    return None


def _deploy(
    built: Any,
    flow_file: Path,
    target: str,
    top: dict[str, Any],
    name: str | None,
    create: dict[str, Any],
    only_json: bool,
) -> Any:
    group = {"name": name} if name else {}
    print(
        f"Deploying {built.cls.__name__} ({flow_file.name}) to {target}"
        + (" (compiling only, --only-json)" if only_json else "")
        + "...",
        flush=True,
    )
    try:
        deployed, output = mf.deploy(str(flow_file), target, top, group, create)
    except mf.MetaflowCommandFailed as exc:
        raise DeployFailed(
            f"Metaflow could not deploy {built.cls.__name__} to {target}:\n{exc}"
        ) from None
    if not only_json:
        print(
            f"Deployed: {deployed.name} ({target}). trigger(**parameters) on the returned object "
            "starts a run.",
            flush=True,
        )
        return deployed
    return CompiledSpec(target, json.loads(output[output.index("{") :]) if "{" in output else {})


def _airflow(
    flow_file: Path, top: dict[str, Any], name: str | None, dag_file: Path, create: dict[str, Any]
) -> CompiledSpec:
    print(f"Compiling {flow_file.name} to the Airflow DAG {dag_file}...", flush=True)
    try:
        mf.airflow_create(
            str(flow_file), top, {"name": name} if name else {}, str(dag_file), create
        )
    except mf.MetaflowCommandFailed as exc:
        raise DeployFailed(f"Metaflow could not compile the flow for Airflow:\n{exc}") from None
    return CompiledSpec("airflow", airflow_config(dag_file), dag_file)


def airflow_config(dag_file: Path) -> dict[str, Any]:
    """The ``CONFIG = {...}`` literal Metaflow writes at the top of an Airflow DAG file, read
    without executing the file."""
    tree = ast.parse(dag_file.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "CONFIG" for t in node.targets
        ):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                return {}
    return {}


def summary(target: str, spec: dict[str, Any]) -> str:
    """A few lines saying what was compiled: name, steps and how they run."""
    if target == "argo-workflows":
        meta = spec.get("metadata", {})
        templates = spec.get("spec", {}).get("templates", [])
        steps = [t["name"] for t in templates if "container" in t]
        params = [
            p["name"] for p in spec.get("spec", {}).get("arguments", {}).get("parameters", [])
        ]
        lines = [
            f"Argo WorkflowTemplate {meta.get('name')} (namespace {meta.get('namespace')})",
            f"  container steps: {', '.join(steps)}",
            f"  parameters: {', '.join(params) or 'none'}",
        ]
    elif target == "step-functions":
        states = spec.get("States", {})
        lines = [
            f"Step Functions state machine starting at {spec.get('StartAt')}",
            f"  states: {', '.join(states)}",
            "  each state: "
            + ", ".join(sorted({s.get("Resource", s.get("Type", "?")) for s in states.values()})),
        ]
    else:
        states = spec.get("states", {})
        operators = sorted({s.get("operator_type", "?") for s in states.values()})
        lines = [
            f"Airflow DAG for {spec.get('metadata', {}).get('flow_name')}",
            f"  tasks: {', '.join(_flat(spec.get('graph_structure', [])))}",
            f"  operators: {', '.join(operators)}",
        ]
    return "\n".join(lines)


def _flat(structure: Any) -> list[str]:
    if isinstance(structure, str):
        return [structure]
    return [name for item in structure for name in _flat(item)]
