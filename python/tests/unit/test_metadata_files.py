"""The kernel's local metadata provider writes Metaflow's metadata files itself (one write
instead of a buffered temporary file): the same files, bytes and permissions as Metaflow's."""

from __future__ import annotations

import os
import stat

from metaflow.plugins.metadata_providers.local import LocalMetadataProvider

from jupyter_metaflow._metaflow.metadata import kernel_metadata

DATA = {
    "flow_id": "SweepFlow",
    "run_number": "1765100000000000",
    "field_name": "attempt",
    "value": "0",
    "tags": ["attempt_id:0", "ünïcode", None],
    "ts_epoch": 1765100000000,
    "nested": {"a": [1, 2.5, True]},
}


def write_both(tmp_path, name, data, overwrite=False):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for folder in (ours, theirs):
        folder.mkdir(exist_ok=True)
    kernel_cls = kernel_metadata(LocalMetadataProvider)
    kernel_cls._dump_json_to_file(str(ours / name), data, allow_overwrite=overwrite)
    LocalMetadataProvider._dump_json_to_file(str(theirs / name), data, allow_overwrite=overwrite)
    return ours, theirs


def test_metadata_files_are_those_metaflow_writes(tmp_path):
    ours, theirs = write_both(tmp_path, "sysmeta_attempt_1.json", DATA)
    assert sorted(os.listdir(ours)) == sorted(os.listdir(theirs)) == ["sysmeta_attempt_1.json"]
    mine, metaflows = ours / "sysmeta_attempt_1.json", theirs / "sysmeta_attempt_1.json"
    assert mine.read_bytes() == metaflows.read_bytes()
    assert stat.S_IMODE(mine.stat().st_mode) == stat.S_IMODE(metaflows.stat().st_mode)


def test_an_existing_metadata_file_is_kept_unless_overwriting(tmp_path):
    write_both(tmp_path, "_self.json", DATA)
    ours, theirs = write_both(tmp_path, "_self.json", {"other": 1})
    assert (ours / "_self.json").read_bytes() == (theirs / "_self.json").read_bytes()
    assert b"SweepFlow" in (ours / "_self.json").read_bytes()
    ours, theirs = write_both(tmp_path, "_self.json", {"other": 1}, overwrite=True)
    written = (ours / "_self.json").read_bytes()
    assert written == (theirs / "_self.json").read_bytes() == b'{"other": 1}'
    assert sorted(os.listdir(ours)) == ["_self.json"]  # no temporary file left behind
