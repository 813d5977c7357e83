"""``jupyter nbconvert --to metaflow NOTEBOOK.ipynb``: the exporter, registered by entry point."""

from __future__ import annotations

import os
from typing import Any

from nbconvert.exporters import Exporter
from traitlets import Bool

from .cells import CellInput
from .export import export_cells

__all__ = ["MetaflowExporter"]


class MetaflowExporter(Exporter):
    """Writes the notebook's flow as a Metaflow flow file (same text as
    ``jupyter metaflow export``); bad notebooks raise ``jupyter_metaflow.export.ExportError``."""

    export_from_notebook = "Metaflow flow"
    output_mimetype = "text/x-python"
    cell_ids = Bool(False, help="Mark each cell's code with a '# cell: ID' comment.").tag(config=True)

    def _file_extension_default(self) -> str:
        return ".py"

    def from_notebook_node(self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any) -> tuple[str, dict[str, Any]]:
        nb_copy, resources = super().from_notebook_node(nb, resources, **kw)
        metadata = resources.get("metadata", {})
        name = metadata.get("name")
        path = os.path.join(metadata.get("path") or "", name + ".ipynb") if name else None
        cells = [CellInput.from_nbformat(i, cell) for i, cell in enumerate(nb_copy.cells)]
        return export_cells(cells, path, cell_ids=self.cell_ids), resources
