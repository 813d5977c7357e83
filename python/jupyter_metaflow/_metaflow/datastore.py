"""The kernel's datastores: Metaflow's, cheaper for a process that runs many tasks.

Large blobs saved uncompressed (:class:`KernelContentAddressedStore`), small ones kept in
memory (:class:`MemoryBlobCache`), one S3 client and thread pool for every call
(``_KernelS3Storage``), and finished tasks not read again (:class:`KernelFlowDataStore`). The
objects, keys and metadata written are the ones Metaflow writes.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from metaflow.datastore import FlowDataStore
from metaflow.datastore.content_addressed_store import BlobCache, ContentAddressedStore
from metaflow.datastore.task_datastore import TaskDataStore
from metaflow.plugins.datastores.s3_storage import S3Storage

from .deferral import Deferring, wait_all

RAW_BLOB_BYTES = 16 * 1024 * 1024
"""Artifacts whose pickle is at least this large are stored uncompressed (see below)."""


class KernelContentAddressedStore(ContentAddressedStore):
    """Metaflow's content-addressed store, but large blobs are written uncompressed.

    Metaflow gzips every artifact blob (level 3): seconds per 100 MB, which would dominate an
    interactive step. Blobs of at least :data:`RAW_BLOB_BYTES` are saved with ``raw=True``
    instead, a format every Metaflow reader handles (the blob's ``cas_raw`` metadata flag);
    smaller blobs are compressed as usual. Costs disk space for compressible large artifacts.

    On a :class:`_KernelS3Storage`, a blob's existence check and upload are one job on the
    storage's thread pool instead of a request each in turn, and a blob is not checked again
    once this kernel stored or read it (the store only ever adds content under its hash).
    """

    def __init__(self, prefix: str, storage_impl: Any) -> None:
        super().__init__(prefix, storage_impl)
        self._known: set[str] = set()

    def save_blobs(self, blob_iter, raw=False, len_hint=0, is_transfer=False):
        if raw or is_transfer:
            return super().save_blobs(
                blob_iter, raw=raw, len_hint=len_hint, is_transfer=is_transfer
            )
        if not isinstance(self._storage_impl, _KernelS3Storage):
            results = []
            for blob in blob_iter:
                results.extend(
                    super().save_blobs(iter([blob]), raw=len(blob) >= RAW_BLOB_BYTES, len_hint=1)
                )
            return results
        return [self._save_blob(blob) for blob in blob_iter]

    def _save_blob(self, blob: bytes) -> Any:
        """One blob as ``save_blobs`` stores it (same key, packing and metadata), uploaded
        unless it is there already."""
        from hashlib import sha1

        raw = len(blob) >= RAW_BLOB_BYTES
        sha = sha1(blob).hexdigest()
        path = self._storage_impl.path_join(self._prefix, sha[:2], sha)
        if self._blob_cache is not None:
            self._blob_cache.store_key(sha, blob)
        if sha not in self._known:
            body = io.BytesIO(blob) if raw else self._pack_v1(blob)
            self._storage_impl.save_if_absent(
                path, body, {"cas_raw": raw, "cas_version": 1}, lambda: self._known.add(sha)
            )
        return self.save_blobs_result(uri=None, key=sha)

    def load_blobs(self, keys, force_raw=False, is_transfer=False):
        for loaded in super().load_blobs(keys, force_raw=force_raw, is_transfer=is_transfer):
            self._known.add(loaded[0])
            yield loaded


class MemoryBlobCache(BlobCache):
    """Small artifact blobs this kernel saved or loaded, unpacked, up to :attr:`budget`
    bytes (least recently used first out): the next step reads its inputs without a request.
    Blobs are content-addressed, so a cached one never goes stale."""

    max_blob = 1024 * 1024
    budget = 64 * 1024 * 1024

    def __init__(self) -> None:
        from collections import OrderedDict

        self._blobs: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def load_key(self, key: str) -> bytes | None:
        with self._lock:
            blob = self._blobs.get(key)
            if blob is not None:
                self._blobs.move_to_end(key)
            return blob

    def store_key(self, key: str, blob: bytes) -> None:
        if len(blob) > self.max_blob:
            return
        with self._lock:
            if key in self._blobs:
                return
            self._blobs[key] = blob
            self._size += len(blob)
            while self._size > self.budget:
                _, dropped = self._blobs.popitem(last=False)
                self._size -= len(dropped)


class _KernelS3Storage(Deferring, S3Storage):
    """Metaflow's S3 datastore storage writing the same objects, keys and metadata, cheaper
    for a long-lived kernel.

    Metaflow's ``S3Storage`` opens an ``S3`` object (a temporary directory, removed after) per
    call and goes one request after another, or through ``s3op`` subprocesses above ten
    objects. Here every call shares one boto3 client and a thread pool: existence checks,
    reads and writes of a call run concurrently. Inside :meth:`deferred` writes return at
    once and go on in the pool, except a task's ``DONE`` marker, written only after every
    earlier write succeeded -- a reader sees a task finished only when all of it is there,
    as with Metaflow's writes in sequence; a read of a path waits for its pending write.
    A task's first write (its attempt marker) is waited for too: wrong credentials or a
    missing bucket stop the task before its code runs, as in Metaflow. Another failed write
    is raised by the next ``DONE`` marker or the end of :meth:`deferred`.
    """

    THREADS = 16
    _pool: ClassVar[Any] = None
    _pool_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, root: str | None = None) -> None:
        super().__init__(root)
        self._s3_object: Any = None
        self._pending: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- plumbing
    @classmethod
    def _executor(cls) -> Any:
        with cls._pool_lock:
            if cls._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                cls._pool = ThreadPoolExecutor(cls.THREADS, thread_name_prefix="mf-s3")
            return cls._pool

    def _s3(self) -> Any:
        """One Metaflow ``S3`` object for the storage's life: its ``_one_boto_op`` maps S3's
        errors to Metaflow's exceptions and retries as every Metaflow S3 call does."""
        if self._s3_object is None:
            import weakref

            from metaflow.metaflow_config import ARTIFACT_LOCALROOT
            from metaflow.plugins.datatools.s3.s3 import S3

            self._s3_object = S3(
                s3root=self.datastore_root,
                tmproot=ARTIFACT_LOCALROOT,
                external_client=self.s3_client,
            )
            weakref.finalize(self, self._s3_object.close)
        return self._s3_object

    def _where(self, path: str) -> tuple[str, str, str]:
        from urllib.parse import urlparse

        url = self.full_uri(path)
        parsed = urlparse(url, allow_fragments=False)
        return url, parsed.netloc, parsed.path.lstrip("/")

    def _map(self, fn: Any, items: Sequence[Any]) -> list[Any]:
        if len(items) < 2:
            return [fn(item) for item in items]
        return list(self._executor().map(fn, items))

    def _op(self, op: Any, url: str) -> Any:
        """``op(client, None)``'s result, through ``S3._one_boto_op``. When S3 refuses the
        credentials, the client is made again by the next request, and so are the Client's
        (its file cache keeps an S3 client per flow): fixed credentials (a new key in
        ``~/.aws/credentials``) then work without restarting the kernel."""
        from metaflow.client import core
        from metaflow.plugins.datatools.s3.s3 import MetaflowS3AccessDenied

        try:
            return self._s3()._one_boto_op(op, url, create_tmp_file=False)[1]
        except MetaflowS3AccessDenied:
            self.s3_client._s3_client = None  # made on first use, not now: before the fix
            core.filecache = None
            raise

    def _head(self, path: str) -> dict[str, Any] | None:
        from metaflow.plugins.datatools.s3.s3 import MetaflowS3NotFound

        url, bucket, key = self._where(path)
        try:
            return self._op(lambda client, _: client.head_object(Bucket=bucket, Key=key), url)
        except MetaflowS3NotFound:
            return None

    def _put(self, path: str, body: Any, metadata: dict[str, Any] | None) -> None:
        """``S3.put(path, body, metadata=metadata)``'s object, in one request up to 5 GB."""
        url, bucket, key = self._where(path)
        extra: dict[str, Any] = {}
        if metadata:
            import json

            extra["Metadata"] = {"metaflow-user-attributes": json.dumps(metadata)}
        encryption = self._s3()._encryption
        if encryption:
            extra["ServerSideEncryption"] = encryption
        if isinstance(body, str):
            body = body.encode("utf-8")
        if isinstance(body, bytes):
            size = len(body)
        else:
            with body.getbuffer() as view:
                size = view.nbytes

        def upload(client: Any, _: Any) -> None:
            if isinstance(body, bytes):
                client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
            elif size < 5 * 1024**3:
                body.seek(0)
                client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
            else:
                body.seek(0)
                client.upload_fileobj(body, bucket, key, ExtraArgs=extra or None)

        self._op(upload, url)

    def _submit(self, path: str, job: Any, on_success: Any = None) -> None:
        def run() -> None:
            job()
            if on_success is not None:
                on_success()

        with self._lock:
            self._pending[path] = self._executor().submit(run)

    def _wait(self, paths: Sequence[str] | None = None) -> None:
        """Wait for the pending writes of ``paths`` (all when None); raise the first failure."""
        with self._lock:
            if paths is None:
                waiting = list(self._pending.items())
            else:
                waiting = [(p, self._pending[p]) for p in paths if p in self._pending]
        try:
            wait_all(future for _, future in waiting)
        finally:
            with self._lock:
                for path, future in waiting:
                    if self._pending.get(path) is future:
                        del self._pending[path]

    def settle(self) -> None:
        self._wait()

    # -- DataStoreStorage
    def is_file(self, paths):
        self._wait(paths)
        return [info is not None for info in self._map(self._head, list(paths))]

    def info_file(self, path):
        self._wait([path])
        info = self._head(path)
        if info is None:
            return False, None
        return True, _user_attributes(info.get("Metadata"))

    def size_file(self, path):
        self._wait([path])
        info = self._head(path)
        return None if info is None else info["ContentLength"]

    def list_content(self, paths):
        self._wait()
        return super().list_content(paths)

    def save_bytes(self, path_and_bytes_iter, overwrite=False, len_hint=0):
        from metaflow.datastore.task_datastore import TaskDataStore

        markers = []
        written = []
        for path, obj in path_and_bytes_iter:
            body, metadata = obj if isinstance(obj, tuple) else (obj, None)
            if not isinstance(body, (str, bytes, io.BytesIO)):
                body = body.read()  # a file the caller closes after this call
            if path.endswith(TaskDataStore.METADATA_DONE_SUFFIX):
                markers.append((path, body, metadata))
                continue
            self.save_if_absent(path, body, metadata, overwrite=overwrite)
            written.append(path)
            if path.endswith(TaskDataStore.METADATA_ATTEMPT_SUFFIX):
                self._wait([path])  # a task's first write: a storage problem stops it here
        if markers:
            self._wait()
        elif not self.deferring:
            self._wait(written)
        for path, body, metadata in markers:
            self.save_if_absent(path, body, metadata, overwrite=overwrite)
            self._wait([path])

    def save_if_absent(
        self,
        path: str,
        body: Any,
        metadata: dict[str, Any] | None,
        on_success: Any = None,
        overwrite: bool = False,
    ) -> None:
        """Write ``path`` (unless it exists and not ``overwrite``) in the pool; a second write
        of a path whose first is pending is dropped unless ``overwrite``."""
        with self._lock:
            if not overwrite and path in self._pending:
                return
        self._wait([path])

        def job() -> None:
            if overwrite or self._head(path) is None:
                self._put(path, body, metadata)

        self._submit(path, job, on_success)
        if not self.deferring:
            self._wait([path])

    def load_bytes(self, paths):
        import shutil
        import tempfile

        from metaflow.datastore.datastore_storage import CloseAfterUse
        from metaflow.plugins.datatools.s3.s3 import MetaflowS3NotFound

        paths = list(paths)
        if not paths:
            return CloseAfterUse(iter([]))
        self._wait(paths)
        tmpdir = tempfile.mkdtemp(prefix="metaflow.s3.", dir=self._s3()._tmpdir)

        def fetch(item: tuple[int, str]) -> tuple[str, str | None, Any]:
            index, path = item
            url, bucket, key = self._where(path)
            target = os.path.join(tmpdir, str(index))

            def download(client: Any, _: Any) -> Any:
                response = client.get_object(Bucket=bucket, Key=key)
                with open(target, "wb") as out:
                    for chunk in iter(lambda: response["Body"].read(8 * 1024 * 1024), b""):
                        out.write(chunk)
                return response.get("Metadata")

            try:
                meta = self._op(download, url)
            except MetaflowS3NotFound:
                return path, None, None
            return path, target, _user_attributes(meta)

        results = self._map(fetch, list(enumerate(paths)))

        class _Cleanup:
            @staticmethod
            def close() -> None:
                shutil.rmtree(tmpdir, ignore_errors=True)

        return CloseAfterUse(iter(results), closer=_Cleanup)


def _user_attributes(metadata: dict[str, str] | None) -> dict[str, Any] | None:
    """The metadata Metaflow's ``S3Object.metadata`` reads back from an object's headers."""
    import json

    if metadata and "metaflow-user-attributes" in metadata:
        return json.loads(metadata["metaflow-user-attributes"])
    return None


def kernel_storage_impl(impl: type) -> type:
    """The storage class a kernel's flow datastore uses for ``impl`` (S3: the cheaper one)."""
    return _KernelS3Storage if impl is S3Storage else impl


class _KernelTaskDataStore(TaskDataStore):
    """A task datastore that reports its task to the flow datastore once it is done."""

    def done(self) -> None:
        super().done()
        self._parent.remember_done(self)


class KernelFlowDataStore(FlowDataStore):
    """Metaflow's flow datastore remembering the tasks it saw finished on a remote store.

    Reading a task (an input of the next step, the task just run) costs Metaflow four
    requests (attempt markers, ``DONE``, ``data.json``). A finished attempt never changes, so
    a task this kernel wrote or read finished is not read again: its datastore is built from
    what it recorded, as Metaflow does when it is handed the data metadata.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._done: dict[tuple[str, str, str], tuple[int, dict[str, Any]]] = {}

    def get_task_datastores(
        self,
        run_id=None,
        steps=None,
        pathspecs=None,
        allow_not_done=False,
        attempt=None,
        include_prior=False,
        mode="r",
        join_type=None,
        orig_flow_datastore=None,
        spin_artifacts=None,
    ):
        """Metaflow's, but tasks given by pathspec that are all known finished are built from
        what was recorded (Metaflow reads three files for each of six attempts per task)."""
        keys = [tuple(p.split("/")) for p in pathspecs or []]
        if (
            keys
            and mode == "r"
            and not (allow_not_done or include_prior)
            and attempt is None
            and orig_flow_datastore is None
            and all(len(k) == 3 and k in self._done for k in keys)
        ):
            return [self.get_task_datastore(*key) for key in keys]
        return super().get_task_datastores(
            run_id,
            steps=steps,
            pathspecs=pathspecs,
            allow_not_done=allow_not_done,
            attempt=attempt,
            include_prior=include_prior,
            mode=mode,
            join_type=join_type,
            orig_flow_datastore=orig_flow_datastore,
            spin_artifacts=spin_artifacts,
        )

    def remember_done(self, ds: TaskDataStore) -> None:
        self._done[(ds.run_id, ds.step_name, ds.task_id)] = (ds.attempt, ds.ds_metadata)

    def get_task_datastore(
        self,
        run_id,
        step_name,
        task_id,
        attempt=None,
        data_metadata=None,
        mode="r",
        allow_not_done=False,
        join_type=None,
        orig_flow_datastore=None,
        spin_artifacts=None,
        persist=True,
    ):
        """Metaflow's, but a task written here reports when it is done and a task known
        finished is built from what was recorded; a spin task's (``orig_flow_datastore``) is
        left to Metaflow entirely."""
        own = orig_flow_datastore is None
        if own and mode == "w":
            return _KernelTaskDataStore(
                self, run_id, step_name, task_id, attempt=attempt, mode=mode, persist=persist
            )
        known = self._done.get((run_id, step_name, task_id))
        if (
            own
            and mode == "r"
            and known is not None
            and data_metadata is None
            and attempt in (None, known[0])
        ):
            attempt, data_metadata = known
        remember = own and mode == "r" and attempt is None and not allow_not_done
        ds = super().get_task_datastore(
            run_id,
            step_name,
            task_id,
            attempt=attempt,
            data_metadata=data_metadata,
            mode=mode,
            allow_not_done=allow_not_done,
            join_type=join_type,
            orig_flow_datastore=orig_flow_datastore,
            spin_artifacts=spin_artifacts,
            persist=persist,
        )
        if remember and ds.attempt is not None:
            self.remember_done(ds)
        return ds
