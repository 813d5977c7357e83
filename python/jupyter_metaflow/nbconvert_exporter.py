"""``jupyter nbconvert --to metaflow NOTEBOOK.ipynb``: the exporter, registered by entry point."""

from __future__ import annotations

import os
from typing import Any

from nbconvert.exporters import Exporter
from traitlets import Bool

from .cells import CellInput
from .export import ExportError, export_cells

__all__ = ["MetaflowExporter"]


class MetaflowExporter(Exporter):
    """Writes the notebook's flow as a Metaflow flow file (same text as
    ``jupyter metaflow export``); bad notebooks raise ``jupyter_metaflow.export.ExportError``.

    nbconvert's file writer replaces whatever is at the output path; a flow file there that
    differs from the export (a hand-written ``flow.py``) is kept unless ``force`` is set.
    """

    export_from_notebook = "Metaflow flow"
    output_mimetype = "text/x-python"
    cell_ids = Bool(False, help="Mark each cell's code with a '# cell: ID' comment.").tag(
        config=True
    )
    force = Bool(False, help="Replace an existing file that differs from the export.").tag(
        config=True
    )

    def _file_extension_default(self) -> str:
        return ".py"

    # nbconvert's base class says it returns a notebook; text exporters return text, as here
    def from_notebook_node(
        self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[Any, dict[str, Any]]:
        nb_copy, resources = super().from_notebook_node(nb, resources, **kw)
        metadata = resources.get("metadata", {})
        name = metadata.get("name")
        path = os.path.join(metadata.get("path") or "", name + ".ipynb") if name else None
        cells = [CellInput.from_nbformat(i, cell) for i, cell in enumerate(nb_copy.cells)]
        text = export_cells(cells, path, cell_ids=self.cell_ids)
        target = self._output_path(resources)
        if target and not self.force and os.path.isfile(target):
            with open(target, encoding="utf-8", errors="replace") as existing:
                if existing.read() != text:
                    raise ExportError(
                        f"{target} already exists and differs from the export; nbconvert would "
                        "replace it. Pass --MetaflowExporter.force=True to replace it, or use "
                        "'jupyter metaflow export NOTEBOOK -o OTHER.py'."
                    )
        return text, resources

    def _output_path(self, resources: dict[str, Any]) -> str | None:
        """Where nbconvert's file writer will put the result (None: it writes no file)."""
        app = self.config.get("NbConvertApp", {})
        if "writer_class" in app and "files" not in str(app.writer_class).lower():
            return None  # --stdout, or a custom writer
        directory = (
            self.config.get("FilesWriter", {}).get("build_directory")
            or resources.get("metadata", {}).get("path")
            or ""
        )
        key = resources.get("unique_key")
        return os.path.join(directory, key + self.file_extension) if key else None
