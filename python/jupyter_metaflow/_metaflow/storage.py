"""Where runs live and Metaflow's process-global state around each operation.

:func:`resolve_storage` chooses the datastore and metadata provider as Metaflow's CLI does;
:func:`unreachable_storage` and :func:`storage_problem` word what is wrong with an S3 endpoint
or a metadata service, with the setting to fix; :func:`metaflow_state` points Metaflow's
globals at a flow's storage for one operation and restores them, so the kernel stays usable
for ordinary code.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from metaflow import parameters
from metaflow.datastore import FlowDataStore
from metaflow.metaflow_current import Current, current
from metaflow.plugins import DATASTORES, METADATA_PROVIDERS
from metaflow.plugins.datastores.local_storage import LocalStorage
from metaflow.system import _system_logger, _system_monitor
from metaflow.system_context import system_context

from .flowclass import quiet_echo


class StorageError(Exception):
    """The datastore or metadata provider cannot be chosen (Metaflow's own words)."""


@dataclass(frozen=True)
class Storage:
    """Where a flow's runs live: datastore type and root, metadata provider type."""

    datastore: str
    root: str
    metadata: str

    @property
    def datastore_impl(self) -> Any:
        return next(d for d in DATASTORES if self.datastore == d.TYPE)

    @property
    def metadata_provider(self) -> Any:
        return next(m for m in METADATA_PROVIDERS if self.metadata == m.TYPE)

    def describe(self) -> str:
        """How a teammate finds the runs: ``s3://bucket/prefix, service metadata``."""
        where = {"local": "local metadata", "service": "the metadata service"}.get(
            self.metadata, f"{self.metadata} metadata"
        )
        return f"{self.root} ({self.datastore} datastore), {where}"


def resolve_storage(
    datastore: str | None = None, datastore_root: str | None = None, metadata: str | None = None
) -> Storage:
    """The datastore and metadata provider ``python flow.py [--datastore D] [--datastore-root R]
    [--metadata M] run`` would use: the options, else the Metaflow configuration in force
    (profile, ``METAFLOW_*`` environment), found as ``cli.start`` finds them."""
    from metaflow import metaflow_config

    datastore = datastore or metaflow_config.DEFAULT_DATASTORE
    metadata = metadata or metaflow_config.DEFAULT_METADATA
    for option, value, known in (
        ("--datastore", datastore, [d.TYPE for d in DATASTORES]),
        ("--metadata", metadata, [m.TYPE for m in METADATA_PROVIDERS]),
    ):
        if value not in known:
            raise StorageError(
                f"Invalid value for '{option}': {value!r} is not one of "
                + ", ".join(repr(k) for k in known)
                + "."
            )
    impl = next(d for d in DATASTORES if datastore == d.TYPE)
    root = datastore_root or impl.get_datastore_root_from_config(quiet_echo)
    if root is None:
        raise StorageError(
            "Could not find the location of the datastore -- did you correctly set the "
            f"METAFLOW_DATASTORE_SYSROOT_{datastore.upper()} environment variable?"
        )
    return Storage(datastore, root, metadata)


def _use_client_metadata(provider: Any) -> None:
    """Point the Client at ``provider`` (kernel-wide, like ``metaflow.metadata(...)``) when the
    flow's runs live elsewhere than the configured default: the notebook's Client calls, ours
    included, then find them."""
    from metaflow.client import core

    if core.current_metadata is False:
        core.default_metadata()
    if core.current_metadata is not provider:
        core.current_metadata = provider


def unreachable_storage(storage: Storage, timeout: float = 5.0) -> str | None:
    """Why the S3 endpoint or metadata service of ``storage`` cannot be reached now (a
    connection attempt of at most ``timeout`` seconds each), else None. Metaflow itself
    retries for minutes before it gives up on an endpoint that does not answer."""
    import socket
    from urllib.parse import urlparse

    from metaflow import metaflow_config

    checks = []
    if storage.datastore == "s3" and metaflow_config.S3_ENDPOINT_URL:
        checks.append(
            (metaflow_config.S3_ENDPOINT_URL, "the S3 endpoint", "METAFLOW_S3_ENDPOINT_URL")
        )
    if storage.metadata == "service" and metaflow_config.SERVICE_URL:
        checks.append(
            (metaflow_config.SERVICE_URL, "the Metaflow metadata service", "METAFLOW_SERVICE_URL")
        )
    for url, what, setting in checks:
        parsed = urlparse(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((parsed.hostname or "", port), timeout=timeout).close()
        except OSError as exc:
            return (
                f"{what} at {url} is unreachable ({exc.strerror or exc}). Check {setting} in your "
                "Metaflow profile and that it runs, then execute the step again; earlier runs "
                "are unchanged."
            )
    return None


def storage_problem(exc: BaseException) -> str | None:
    """What is wrong with the datastore or metadata service when ``exc`` (or its cause) is a
    failure to reach or use them, worded with the setting to fix; None for other errors."""
    from metaflow import metaflow_config

    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain)
    short = (
        str(chain[0]).strip().splitlines()[0][:300]
        if str(chain[0]).strip()
        else type(chain[0]).__name__
    )
    s3_url = metaflow_config.S3_ENDPOINT_URL or "AWS's S3"
    if "ServiceException" in names or ("ConnectionError" in names and "/flows/" in text):
        return (
            f"the Metaflow metadata service at {metaflow_config.SERVICE_URL} did not answer "
            f"({short}). Check that the service runs and METAFLOW_SERVICE_URL in your Metaflow "
            "profile, then execute the step again; earlier runs are unchanged."
        )
    if (
        "InvalidAccessKeyId" in text
        or "SignatureDoesNotMatch" in text
        or "MetaflowS3AccessDenied" in names
    ):
        return (
            f"S3 ({s3_url}) refused the AWS credentials ({short}). Check them "
            "(~/.aws/credentials, AWS_PROFILE, AWS_ACCESS_KEY_ID), then execute the step again."
        )
    if "NoSuchBucket" in text or "MetaflowS3NotFound" in names:
        return (
            f"the S3 datastore's bucket or objects are missing ({short}). Create the bucket or "
            "point METAFLOW_DATASTORE_SYSROOT_S3 (or the %%flow line's --datastore-root) at "
            "an existing one, then execute the step again."
        )
    if names & {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"} or (
        "MetaflowS3Exception" in names and "connect" in text.lower()
    ):
        return (
            f"the S3 endpoint {s3_url} is unreachable ({short}). Check METAFLOW_S3_ENDPOINT_URL "
            "in your Metaflow profile and the network, then execute the step again."
        )
    return None


@contextlib.contextmanager
def metaflow_state(
    datastore: str | None = None, datastore_root: str | None = None, metadata: str | None = None
) -> Iterator[Storage]:
    """Point Metaflow's globals at the flow's storage for one operation, then restore them.

    Yields the :class:`Storage` (:func:`resolve_storage` of the options). The local datastore
    root (local metadata and ``latest_run`` live there) is found the way ``python flow.py run``
    finds it (``METAFLOW_DATASTORE_SYSROOT_LOCAL``, else the nearest ``.metaflow``, else the
    cwd). Restores the storage classes' ``datastore_root``,
    ``FlowDataStore.default_storage_impl``, the ``current`` singleton (instance fields and the
    class-level properties tasks add), the parameter context, the system logger/monitor,
    ``system_context`` (a task leaves its inputs and datastore there) and ``sys.argv[0]``.
    """
    storage = resolve_storage(datastore, datastore_root, metadata)
    impl = storage.datastore_impl
    saved_roots = {d: d.datastore_root for d in {LocalStorage, impl}}
    saved_impl: Any = FlowDataStore.default_storage_impl
    saved_current_cls = dict(Current.__dict__)
    saved_current = dict(current.__dict__)
    saved_context = parameters.context_proto
    saved_logger = (_system_logger._logger, _system_logger._flow_name)
    saved_monitor = (_system_monitor._monitor, _system_monitor._flow_name)
    saved_argv0 = sys.argv[0] if sys.argv else None
    saved_system = {
        k: (v.copy() if isinstance(v, dict) else v) for k, v in system_context.__dict__.items()
    }
    try:
        LocalStorage.datastore_root = LocalStorage.get_datastore_root_from_config(
            quiet_echo, create_on_absent=True
        )
        impl.datastore_root = storage.root
        FlowDataStore.default_storage_impl = impl
        _use_client_metadata(storage.metadata_provider)
        yield storage
    finally:
        for cls, root in saved_roots.items():
            cls.datastore_root = root
        FlowDataStore.default_storage_impl = saved_impl
        for name in [n for n in Current.__dict__ if n not in saved_current_cls]:
            delattr(Current, name)
        for name, value in saved_current_cls.items():
            if Current.__dict__.get(name) is not value and name not in ("__dict__", "__weakref__"):
                setattr(Current, name, value)
        current.__dict__.clear()
        current.__dict__.update(saved_current)
        parameters.context_proto = saved_context
        _system_logger._logger, _system_logger._flow_name = saved_logger
        _system_monitor._monitor, _system_monitor._flow_name = saved_monitor
        if saved_argv0 is not None:
            sys.argv[0] = saved_argv0
        system_context.__dict__.clear()
        system_context.__dict__.update(saved_system)


def forget_datastore_root() -> None:
    """Let the next Client call find the datastore from the cwd again (the Client caches it)."""
    LocalStorage.datastore_root = None
