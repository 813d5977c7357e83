"""Every call into Metaflow's private internals, in one package (metaflow>=2.19,<2.20).

The notebook session (``session.py``) runs steps in the kernel process the way Metaflow's
own ``step`` command does: ``MetaflowTask.run_step`` against the datastore and metadata
provider ``python flow.py run`` would use. The private pieces that needs, one module each:

* :mod:`.flowclass` -- the flow class as Metaflow's CLI prepares it, its graph and lint;
  ``--param value`` options parsed by the same click options ``python flow.py run`` builds;
* :mod:`.storage` -- where runs live (:class:`Storage`, :func:`resolve_storage`) and
  :func:`metaflow_state`, which saves and restores Metaflow's process-global state around each
  operation so the kernel stays usable for ordinary code;
* :mod:`.metadata`, :mod:`.datastore` -- Metaflow's metadata provider and datastores made to
  serve the many tasks of one long-lived process (:mod:`.deferral`: their writes in the
  background);
* :mod:`.backend` -- environment, metadata provider and flow datastore of one flow
  (:class:`Backend`); :func:`new_run`, :func:`persist_parameters`, :func:`clone_task`: what
  ``NativeRuntime`` and ``resume`` do, minus the subprocesses;
* :mod:`.tasks` -- :func:`run_task`, one task in the kernel; :mod:`.taskstate` and
  :mod:`.artifacts` -- finished tasks and their artifacts read back;
* :mod:`.commands` -- ``metaflow.Runner`` and the deploy commands from a kernel;
* :mod:`.client` -- Client API objects read in any namespace (:func:`in_any_namespace`).

No other module of the package touches Metaflow's private internals (its modules other than
``metaflow``, ``metaflow.exception`` and ``metaflow.cards``, its underscored names and
arguments, ``FlowSpec``'s graph, the datastores): they import what they need from here, and a
layout test fails on any that does not. Nothing here knows about cells or notebooks.
"""

from __future__ import annotations

from metaflow.lint import LintWarn

from .artifacts import (
    NotPlainData,
    is_user_artifact,
    plain_artifact_value,
    stored_artifact_facts,
    task_artifacts,
    unpicklable_artifact,
)
from .backend import (
    DEBUG_SYS_TAG,
    NOTEBOOK_SYS_TAG,
    Backend,
    clone_task,
    new_run,
    parameters_task_id,
    persist_parameters,
    run_task_ids,
)
from .client import in_any_namespace
from .commands import (
    MetaflowCommandFailed,
    airflow_create,
    create_options,
    default_environment,
    deploy,
    kernel_runner,
)
from .flowclass import (
    UsageError,
    acts_in_runtime,
    config_options,
    config_parameter_names,
    decorated_flow_class,
    decorator_attribute,
    flow_decorator_names,
    flow_graph,
    flowspec_attribute_names,
    lint,
    parameter_names,
    parameter_values,
    prepare_flow_class,
)
from .storage import (
    Storage,
    StorageError,
    forget_datastore_root,
    metaflow_state,
    resolve_storage,
    storage_problem,
    unreachable_storage,
)
from .tasks import TaskOutcome, run_task
from .taskstate import TaskState, read_task_state, task_outcome

__all__ = [
    "DEBUG_SYS_TAG",
    "NOTEBOOK_SYS_TAG",
    "Backend",
    "LintWarn",
    "MetaflowCommandFailed",
    "NotPlainData",
    "Storage",
    "StorageError",
    "TaskOutcome",
    "TaskState",
    "UsageError",
    "acts_in_runtime",
    "airflow_create",
    "clone_task",
    "config_options",
    "config_parameter_names",
    "create_options",
    "decorated_flow_class",
    "decorator_attribute",
    "default_environment",
    "deploy",
    "flow_decorator_names",
    "flow_graph",
    "flowspec_attribute_names",
    "forget_datastore_root",
    "in_any_namespace",
    "is_user_artifact",
    "kernel_runner",
    "lint",
    "metaflow_state",
    "new_run",
    "parameter_names",
    "parameter_values",
    "parameters_task_id",
    "persist_parameters",
    "plain_artifact_value",
    "prepare_flow_class",
    "read_task_state",
    "resolve_storage",
    "run_task",
    "run_task_ids",
    "storage_problem",
    "stored_artifact_facts",
    "task_artifacts",
    "task_outcome",
    "unpicklable_artifact",
    "unreachable_storage",
]
