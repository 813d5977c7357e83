"""``metaflow.Runner`` and Metaflow's deploy commands from a kernel (runtime-path steps,
``%mf_run``, ``%mf_resume``, ``%mf_deploy``): the subprocesses get the kernel's Python and
environment, and a failing command raises with Metaflow's own words.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from metaflow._vendor import click


@contextlib.contextmanager
def _kernel_subprocess_api(flow_file: str) -> Iterator[None]:
    """Around creating a ``Runner`` or ``Deployer``, without two side effects on a long-lived
    kernel: both cache the flow module by path (``click_api.loaded_modules``), so a regenerated
    file at the same path would keep the old Parameters (the entry is dropped first); their
    ``SubprocessManager`` takes over SIGINT (on the running asyncio loop or with
    ``signal.signal``), which ipykernel re-installs around every execution but a plain IPython
    shell does not (Ctrl-C would stop raising KeyboardInterrupt): both are restored."""
    import asyncio

    from metaflow.runner import click_api

    click_api.loaded_modules.pop(os.path.abspath(flow_file), None)
    saved = signal.getsignal(signal.SIGINT)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    try:
        yield
    finally:
        if loop is not None:
            loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, saved)


def _kernel_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The kernel's interpreter directory first on the PATH: Metaflow starts some processes
    (``@parallel`` workers) as plain ``python``; and unbuffered output, so the cell shows the
    runtime's stdout and stderr lines in the order they were written, as a terminal does."""

    env = dict(env or {})
    env["PYTHONUNBUFFERED"] = "1"
    path = env.get("PATH", os.environ.get("PATH", ""))
    env["PATH"] = os.pathsep.join(
        [os.path.dirname(sys.executable), *filter(None, path.split(os.pathsep))]
    )
    return env


def kernel_runner(flow_file: str, **kwargs: Any) -> Any:
    """``metaflow.Runner(flow_file, **kwargs)`` made in a kernel
    (:func:`_kernel_subprocess_api`)."""
    from metaflow import Runner

    env = _kernel_env(kwargs.pop("env", None))
    with _kernel_subprocess_api(flow_file):
        return Runner(flow_file, env=env, **kwargs)


def default_environment() -> str:
    """The execution environment Metaflow's configuration picks (``METAFLOW_DEFAULT_ENVIRONMENT``,
    ``local`` unless set), which a command uses when given no ``--environment``."""
    from metaflow.metaflow_config import DEFAULT_ENVIRONMENT

    return DEFAULT_ENVIRONMENT


class MetaflowCommandFailed(Exception):
    """A Metaflow command (deploy, compile) failed; the message is its own output."""


DEPLOY_CLI_MODULES = {
    "argo-workflows": "metaflow.plugins.argo.argo_workflows_cli",
    "step-functions": "metaflow.plugins.aws.step_functions.step_functions_cli",
    "airflow": "metaflow.plugins.airflow.airflow_cli",
}


def create_options(target: str, words: Sequence[str]) -> dict[str, Any]:
    """``create`` options of a deploy target (``--only-json``, ``--max-workers 4``...) parsed by
    Metaflow's own click command, as keyword arguments for its click API; only those given.
    Raises ``ValueError`` with click's words and the command's usage (or help)."""
    import importlib

    command = importlib.import_module(DEPLOY_CLI_MODULES[target]).create
    args = list(words)
    if target == "airflow":
        args.insert(0, "DAG_FILE")  # the FILE argument, given separately
    try:
        ctx = command.make_context(f"{target} create", args)
    except click.exceptions.Exit:  # --help
        raise ValueError(
            command.get_help(click.Context(command, info_name=f"%mf_deploy {target}"))
        ) from None
    except click.ClickException as exc:
        usage = command.get_usage(click.Context(command, info_name=f"%mf_deploy {target}"))
        raise ValueError(f"{exc.format_message()}\n{usage}") from None
    defaults = {p.name: p.get_default(ctx) for p in command.params}
    return {
        k: v
        for k, v in ctx.params.items()
        if k != "file" and v != defaults.get(k) and v not in ((), None)
    }


def deploy(
    flow_file: str, target: str, top: dict[str, Any], group: dict[str, Any], create: dict[str, Any]
) -> tuple[Any, str]:
    """``Deployer(flow_file, **top).<target>(**group).create(**create)`` as ``NBDeployer`` does,
    made in a kernel; returns Metaflow's deployed-flow object and the command's stdout (the
    compiled spec with ``only_json``). Raises :class:`MetaflowCommandFailed` with Metaflow's
    output when the command fails."""

    from metaflow import Deployer

    with _kernel_subprocess_api(flow_file):
        impl = getattr(
            Deployer(
                flow_file,
                show_output=False,
                env=_kernel_env({"JPY_PARENT_PID": ""}),
                cwd=os.path.dirname(flow_file),
                **top,
            ),
            target.replace("-", "_"),
        )(**group)
    try:
        deployed = impl.create(**create)
    except RuntimeError:
        raise MetaflowCommandFailed(_command_output(impl.spm, "stderr")) from None
    return deployed, _command_output(impl.spm, "stdout")


def airflow_create(
    flow_file: str,
    top: dict[str, Any],
    group: dict[str, Any],
    dag_file: str,
    create: dict[str, Any],
) -> None:
    """``python flow_file [top] airflow [group] create DAG_FILE [create]`` through Metaflow's
    click API (Airflow has no ``Deployer``). Raises :class:`MetaflowCommandFailed`."""
    import subprocess

    from metaflow.cli import start
    from metaflow.runner.click_api import MetaflowAPI

    with _kernel_subprocess_api(flow_file):
        api = MetaflowAPI.from_cli(flow_file, start)
    command = api(**top).airflow(**group).create(file=dag_file, **create)
    done = subprocess.run(
        [sys.executable, *command],
        cwd=os.path.dirname(flow_file),
        capture_output=True,
        text=True,
        env={**os.environ, **_kernel_env()},
    )
    if done.returncode != 0:
        raise MetaflowCommandFailed(_metaflow_words(done.stderr or done.stdout))


def _command_output(spm: Any, stream: str) -> str:
    """The newest command's ``stream`` in a ``SubprocessManager`` (its log file)."""
    commands = list(spm.commands.values())
    if not commands:
        return ""
    with open(commands[-1].log_files[stream], encoding="utf-8") as handle:
        text = handle.read()
    return _metaflow_words(text) if stream == "stderr" else text


def _metaflow_words(output: str) -> str:
    """Metaflow's output without its banner (version, validation) lines; of a Python traceback
    (an error Metaflow did not word itself), the exception line."""
    banner = (
        "Metaflow ",
        "Validating your flow",
        "    The graph looks good",
        "Running pylint",
        "    Pylint ",
    )
    lines = [line for line in output.splitlines() if not line.startswith(banner)]
    if "Traceback (most recent call last):" in lines:
        start = lines.index("Traceback (most recent call last):")
        last = next((line for line in reversed(lines) if line and not line.startswith(" ")), "")
        lines = [*lines[:start], last]
    return "\n".join(lines).strip()
