"""The flow class as Metaflow's CLI prepares it before a run.

The flow cell's decorators and mutators applied (:func:`decorated_flow_class`,
:func:`prepare_flow_class`), Parameters and Configs resolved, magic-line ``--param value``
options parsed by the same click options ``python flow.py run`` builds
(:func:`parameter_values`, :func:`config_options`), its graph (:func:`flow_graph`) and Metaflow's
own lint; a fresh subclass for each task (:func:`fresh_subclass`), on which the task turns
Parameters into properties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from metaflow import FlowSpec, decorators, parameters
from metaflow._vendor import click
from metaflow.datastore import FlowDataStore
from metaflow.decorators import StepDecorator
from metaflow.flowspec import FlowStateItems
from metaflow.graph import FlowGraph
from metaflow.lint import linter
from metaflow.plugins.datastores.local_storage import LocalStorage

UsageError = click.UsageError
"""What :func:`parameter_values` and :func:`config_options` raise on a bad option."""

_RUNTIME_HOOKS = ("runtime_init", "runtime_task_created", "runtime_step_cli", "runtime_finished")


def quiet_echo(*_args: Any, **_kwargs: Any) -> None:
    """Metaflow's ``echo`` for messages we do not show (datastore creation notes)."""


def flowspec_attribute_names() -> frozenset[str]:
    """Public names ``FlowSpec`` itself defines; a step may not assign them as artifacts."""
    return frozenset(n for n in dir(FlowSpec) if not n.startswith("_")) | {"name"}


def decorated_flow_class(
    flow_cls: type[FlowSpec], flow_decorators: Sequence[Any]
) -> type[FlowSpec]:
    """``flow_cls`` with the flow cell's decorators applied, bottom one first, as a class
    statement applies them; a bare ``@MyFlowMutator`` leaves the mutator object, whose
    ``_flow_cls`` is the class (Metaflow's CLI unwraps it the same way)."""
    from metaflow.user_decorators.user_flow_decorator import FlowMutator

    decorated: Any = flow_cls
    for deco in reversed(flow_decorators):
        decorated = deco(decorated)
    if isinstance(decorated, FlowMutator):
        decorated = decorated._flow_cls
    return decorated


def prepare_flow_class(
    flow_cls: type[FlowSpec], configs: dict[str, Any] | None = None
) -> type[FlowSpec]:
    """Resolve the class's Parameters (``Parameter.init``) and ``Config`` values once, as
    ``cli.start`` does; returns the class to use (a new one when flow mutators ran)."""
    with parameters.flow_context(flow_cls):  # config_expr(...) defaults resolve against it
        prepared = flow_cls._process_config_decorators(configs or {}) or flow_cls
        _mutate(prepared)
    return prepared


def _mutate(flow_cls: type[FlowSpec]) -> None:
    """The mutators' ``mutate`` phase, once, as ``_init_step_decorators`` runs it when a
    Metaflow process starts: the graph then holds the decorators they add (a StepMutator that
    adds ``@retry(times=2)`` or ``@kubernetes`` sends the step to Metaflow's runtime). The
    tasks' own ``_init_step_decorators`` skip step mutators that ran; flow mutators add with
    ``IGNORE`` duplicates by default."""
    from metaflow.user_decorators.mutable_flow import MutableFlow
    from metaflow.user_decorators.user_step_decorator import StepMutator

    flow_mutators = flow_cls._flow_state[FlowStateItems.FLOW_MUTATORS]
    if not flow_mutators and not any(step.config_decorators for step in flow_cls._steps):
        return
    for deco in flow_mutators:
        # as Metaflow's own _init_step_decorators calls it: the class, and a list for inserted_by
        mutable: Any = MutableFlow
        deco.mutate(
            mutable(
                flow_cls,
                pre_mutate=False,
                statically_defined=deco.statically_defined,
                inserted_by=[deco.decorator_name] + (deco.inserted_by or []),
            )
        )
    for step in flow_cls._steps:
        for deco in step.config_decorators:
            if isinstance(deco, StepMutator) and not deco._mutate_called:
                decorators._run_step_mutator(flow_cls, step, deco, "%s on %s (mutate)")
        if step.config_decorators:
            setattr(flow_cls, step.name, step)
    flow_cls._init_graph()


def flow_decorator_names(flow_cls: type[FlowSpec]) -> set[str]:
    """Names of the flow-level decorators on ``flow_cls`` (``project``, ``pypi_base``, ...)."""
    return set(flow_cls._flow_state[FlowStateItems.FLOW_DECORATORS])


def decorator_attribute(flow_cls: type[FlowSpec], deco: Any, name: str) -> Any:
    """A decorator's attribute as its task will see it: ``config_expr(...)`` and Config
    values resolved against the flow's Configs (the decorator itself resolves them only when
    it initialises, inside a task)."""
    from metaflow.user_configs.config_parameters import resolve_delayed_evaluator

    with parameters.flow_context(flow_cls):
        return resolve_delayed_evaluator(deco.attributes.get(name))


def flow_graph(flow_cls: type[FlowSpec]) -> FlowGraph:
    """The class's ``FlowGraph``: its nodes by step name (``type``, ``in_funcs``, ``out_funcs``,
    ``decorators``, ...) and ``start_step``, as Metaflow parsed them from the step methods."""
    return flow_cls._graph


def lint(flow_cls: type[FlowSpec]) -> None:
    """Metaflow's own validity checks on the class's graph; raises :class:`LintWarn`."""
    linter.run_checks(flow_graph(flow_cls))


def acts_in_runtime(deco: Any) -> bool:
    """Does the step decorator act in Metaflow's runtime: ``@parallel``-like, or overriding one
    of ``StepDecorator``'s ``runtime_*`` hooks (only ``NativeRuntime`` calls them)?"""
    return bool(getattr(deco, "IS_PARALLEL", False)) or any(
        getattr(type(deco), hook) is not getattr(StepDecorator, hook) for hook in _RUNTIME_HOOKS
    )


def parameter_names(flow_cls: type[FlowSpec]) -> dict[str, str]:
    """The flow's Parameters (``Config`` declarations left out): class attribute -> the
    Parameter's name, which its ``--name`` option takes."""
    params = flow_cls._get_parameters()
    return {attr: param.name for attr, param in params if not param.IS_CONFIG_PARAMETER}


def fresh_subclass(flow_cls: type[FlowSpec]) -> type[FlowSpec]:
    """A throwaway subclass: tasks turn Parameters into class properties on it, not on ours.

    Without flow or step mutators nothing can change the graph, so the subclass reuses its
    parent's ``FlowGraph`` instead of parsing every step's source again.
    """
    attrs: dict[str, Any] = {"__module__": flow_cls.__module__}
    mutators = flow_cls._flow_state[FlowStateItems.FLOW_MUTATORS]
    if not mutators and not any(step.config_decorators for step in flow_cls._steps):
        attrs["_init_graph"] = classmethod(_reuse_parent_graph)
    return type(flow_cls.__name__, (flow_cls,), attrs)


def _reuse_parent_graph(cls: type[FlowSpec]) -> None:
    parent: Any = cls.__mro__[1]
    cls._graph = parent._graph
    cls._steps = parent._steps


def parameter_values(flow_cls: type[FlowSpec], args: Sequence[str], prog: str) -> dict[str, Any]:
    """Convert ``--name value`` options exactly as ``python flow.py run`` would.

    Builds the click options Metaflow's ``run`` command gets from
    ``parameters.add_custom_parameters(deploy_mode=True)``; missing options take their
    defaults, deploy-time (callable) defaults included. Raises ``click.UsageError`` with the
    usage text on bad input.
    """
    return _flow_options(flow_cls, args, prog)[0]


def config_options(flow_cls: type[FlowSpec], args: Sequence[str], prog: str) -> dict[str, Any]:
    """The flow's ``Config`` values from ``--config NAME FILE`` / ``--config-value NAME JSON``
    options and the declared defaults, processed as the CLI processes them (what
    ``_process_config_decorators`` and ``_set_constants`` take)."""
    return _flow_options(flow_cls, args, prog)[1]


def _flow_options(
    flow_cls: type[FlowSpec], args: Sequence[str], prog: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    from metaflow.user_configs.config_options import config_options_with_config_input

    command = click.Command(prog, params=[], add_help_option=False)
    with parameters.flow_context(flow_cls):
        parameters.add_custom_parameters(deploy_mode=True)(command)
        config_options_with_config_input(command)
    # IncludeFile uploads to, and Config's callback reads, the datastore the run uses
    # (metaflow_state's; the local one outside an operation)
    impl = FlowDataStore.default_storage_impl or LocalStorage
    obj = _ClickObj(flow_cls(use_cli=False), datastore_impl=impl)
    saved_context = parameters.context_proto  # what deploy-time defaults read
    parameters.set_parameter_context(obj.flow.name, quiet_echo, impl, {})
    try:
        with parameters.flow_context(flow_cls):
            ctx = click.Context(command, info_name=prog, obj=obj)
            ctx.params.update(quiet=True, datastore=impl.TYPE)
            with ctx.scope(cleanup=False):
                command.parse_args(ctx, list(args))
        delayed = getattr(obj, "delayed_config_exception", None)
        if delayed is not None:
            raise delayed
    except click.ClickException as exc:
        usage = command.get_help(click.Context(command, info_name=prog))
        raise click.UsageError(f"{exc.format_message()}\n{usage}") from None
    finally:
        parameters.context_proto = saved_context
    values = dict(ctx.params)
    configs = values.pop("config", None) or values.pop("config_value", None) or {}
    for key in ("config", "config_value", "quiet", "datastore"):
        values.pop(key, None)
    return values, configs


@dataclass
class _ClickObj:
    """The parts of the CLI's ``ctx.obj`` that parameter conversion reads."""

    flow: Any
    echo: ClassVar[Any] = staticmethod(quiet_echo)
    datastore_impl: Any = LocalStorage


def config_parameter_names(flow_cls: type[FlowSpec]) -> list[str]:
    """Names of the flow's ``Config`` declarations."""
    return [p.name for _, p in flow_cls._get_parameters() if p.IS_CONFIG_PARAMETER]
