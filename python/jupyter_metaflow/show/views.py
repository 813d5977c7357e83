"""Type-aware, bounded, JSON-safe views of one Python value.

:func:`view` returns a dict with a ``kind`` the frontend renderer (``src/mime``) and the
HTML/text fallbacks (``fallbacks.py``) know how to draw. Every string in a view is
untrusted text; nothing here produces HTML except an object's *own* HTML (``html`` keys of
``estimator`` and ``rich`` views), which the renderer only shows in a sandboxed iframe.
Views never walk a whole large value: frames give head/tail slices, arrays a preview and
statistics (sampled above :data:`STATS_SAMPLE`), containers their first items.
"""

from __future__ import annotations

import base64
import io
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

STATS_SAMPLE = 10_000_000
"""Arrays with more elements get statistics from an evenly strided sample."""


@dataclass(frozen=True)
class Limits:
    """How much of a value a view may carry; :func:`Limits.halved` shrinks every bound."""

    rows: int = 10
    """Rows in each of a frame's head and tail (also the page size)."""
    columns: int = 40
    cell_chars: int = 80
    items: int = 40
    """Entries per container level of a tree."""
    depth: int = 4
    nodes: int = 400
    """Nodes in a whole tree."""
    text_chars: int = 4000
    repr_chars: int = 400
    image_px: int = 480
    """Longest side of a rendered image."""
    own_html_chars: int = 60_000
    """Largest object-provided HTML (estimators, ``_repr_html_``) kept."""

    def halved(self) -> Limits:
        return Limits(
            rows=max(1, self.rows // 2),
            columns=max(2, self.columns // 2),
            cell_chars=max(12, self.cell_chars // 2),
            items=max(2, self.items // 2),
            depth=max(1, self.depth - 1),
            nodes=max(8, self.nodes // 2),
            text_chars=max(80, self.text_chars // 2),
            repr_chars=max(60, self.repr_chars // 2),
            image_px=max(32, self.image_px // 2),
            own_html_chars=self.own_html_chars // 2,
        )


def type_name(value: Any) -> str:
    """``module.Qualname`` of ``value``'s type (bare for builtins)."""
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "\u2026"


def safe_repr(value: Any, limit: int) -> str:
    """``repr(value)`` that never raises, cut to ``limit`` characters (a long string is cut
    before its ``repr`` is made: a 1 GB text must not be copied to show 80 characters)."""
    if isinstance(value, (str, bytes, bytearray)) and len(value) > limit:
        return truncate(repr(value[: limit + 1]), limit)
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break the view
        text = f"<{type_name(value)} object; repr() failed: {type(exc).__name__}: {exc}>"
    return truncate(text, limit)


def brief(value: Any, limit: int = 80) -> str:
    """A one-line description: shape and dtype for frames/arrays, else a short repr."""
    pd, np = sys.modules.get("pandas"), sys.modules.get("numpy")
    if pd is not None and isinstance(value, pd.DataFrame):
        return f"DataFrame {value.shape[0]:,}\u00d7{value.shape[1]:,}"
    if pd is not None and isinstance(value, pd.Series):
        return f"Series {len(value):,} {value.dtype}"
    if np is not None and isinstance(value, np.ndarray):
        return f"ndarray {value.dtype} {tuple(value.shape)}"
    if isinstance(value, (dict, list, tuple, set, frozenset)) and len(value) > 8:
        return f"{type(value).__name__} of {len(value):,}"
    if isinstance(value, (str, bytes)) and len(value) > limit:
        return f"{type(value).__name__} of {len(value):,}: " + safe_repr(value, limit)
    return safe_repr(value, limit)


def view(value: Any, limits: Limits = Limits()) -> dict[str, Any]:
    """The best view of ``value`` for its type; a safe ``repr`` saying why when the typed view
    fails (an estimator whose ``get_params`` raises, a ``__getattr__`` raising ``KeyError``,
    a figure of size 0)."""
    try:
        return _typed_view(value, limits)
    except Exception as exc:
        return {
            "kind": "repr",
            "text": safe_repr(value, limits.repr_chars)
            + f"\n(no {type_name(value)} view: {safe_repr(exc, limits.repr_chars)})",
        }


def _typed_view(value: Any, limits: Limits) -> dict[str, Any]:
    pd, np = sys.modules.get("pandas"), sys.modules.get("numpy")
    if pd is not None and isinstance(value, (pd.DataFrame, pd.Series)):
        return frame_view(value, limits)
    if np is not None and isinstance(value, np.ndarray):
        return array_view(value, limits)
    if _is_figure(value) or _is_pil_image(value):
        return image_view(value, limits)
    if _is_estimator(value):
        return estimator_view(value, limits)
    if isinstance(value, (str, bytes, bytearray)):
        return text_view(value, limits)
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        return {"kind": "tree", "root": _tree(value, limits, limits.depth, [limits.nodes])}
    if value is None or isinstance(value, (bool, int, float, complex)):
        return {"kind": "scalar", "text": safe_repr(value, limits.repr_chars)}
    if hasattr(value, "_repr_mimebundle_") or hasattr(value, "_repr_html_"):
        rich = rich_view(value, limits)
        if rich is not None:
            return rich
    return {"kind": "repr", "text": safe_repr(value, limits.repr_chars)}


# -- pandas ----------------------------------------------------------------------------------
def frame_view(value: Any, limits: Limits) -> dict[str, Any]:
    """Shape, dtypes, head and tail of a DataFrame or Series (never the whole frame)."""
    frame = _as_frame(value)
    rows, columns = frame.shape
    shown = min(columns, limits.columns)
    head_end = min(rows, limits.rows)
    tail_start = max(head_end, rows - limits.rows)
    return {
        "kind": "dataframe",
        "series": not _is_dataframe(value),
        "shape": [int(rows), int(columns)],
        "columns": [_text(c, limits.cell_chars) for c in frame.columns[:shown]],
        "dtypes": [str(t) for t in frame.dtypes.iloc[:shown]],
        "columns_omitted": int(columns - shown),
        "index_name": _text(frame.index.name, limits.cell_chars)
        if frame.index.name is not None
        else None,
        "memory_bytes": int(frame.memory_usage(deep=False, index=True).sum()),
        "page_size": limits.rows,
        "head": frame_rows(frame, 0, head_end, limits),
        "tail": frame_rows(frame, tail_start, rows, limits),
    }


def frame_page(value: Any, offset: int, limit: int, limits: Limits) -> dict[str, Any]:
    """Rows ``[offset, offset+limit)`` of a frame, for the renderer's pager."""
    frame = _as_frame(value)
    rows = frame.shape[0]
    offset = max(0, min(offset, rows))
    end = min(rows, offset + max(0, limit))
    return {"offset": offset, "total": int(rows), "rows": frame_rows(frame, offset, end, limits)}


def frame_rows(frame: Any, start: int, end: int, limits: Limits) -> dict[str, Any]:
    """``{start, index, cells}`` for rows ``[start, end)``: cells as text, by row."""
    part = frame.iloc[start:end, : limits.columns]
    columns = [part.iloc[:, i].tolist() for i in range(part.shape[1])]
    cells = [[_text(col[r], limits.cell_chars) for col in columns] for r in range(len(part))]
    return {
        "start": int(start),
        "index": [_text(i, limits.cell_chars) for i in part.index],
        "cells": cells,
    }


def _as_frame(value: Any) -> Any:
    return value if _is_dataframe(value) else value.to_frame()


def _is_dataframe(value: Any) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, pd.DataFrame)


def _text(value: Any, limit: int) -> str:
    if isinstance(value, str):
        return truncate(value, limit)
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else truncate(f"{value:.6g}", limit)
    return safe_repr(value, limit) if not _plain_str(value) else truncate(str(value), limit)


def _plain_str(value: Any) -> bool:
    """Types whose ``str`` is the natural cell text (numbers, timestamps, bools)."""
    return isinstance(value, (int, bool)) or type(value).__module__.startswith(
        ("pandas", "numpy", "datetime", "decimal")
    )


# -- numpy -----------------------------------------------------------------------------------
def array_view(array: Any, limits: Limits) -> dict[str, Any]:
    """Shape, dtype, statistics, a printed preview and, by the array's shape, a PNG (a picture)
    or a grid (a table of numbers shaded by value, for data matrices)."""
    import numpy as np

    out: dict[str, Any] = {
        "kind": "ndarray",
        "shape": [int(n) for n in array.shape],
        "dtype": str(array.dtype),
        "size": int(array.size),
        "nbytes": int(array.nbytes),
        "stats": array_stats(array),
    }
    try:
        with np.printoptions(
            threshold=max(10, limits.items), edgeitems=3, linewidth=100, precision=6
        ):
            # array2string prints a masked array's hidden values (as inf); its str shows --
            preview = (
                str(array) if np.ma.isMaskedArray(array) else np.array2string(array, separator=", ")
            )
    except Exception as exc:  # an object array holding a value whose repr() raises
        preview = f"(no preview: printing the array failed: {type(exc).__name__}: {exc})"
    out["preview"] = truncate(preview, limits.text_chars)
    if _is_plain_numeric(array) and _looks_like_image(array.shape):
        png = _array_png(array, limits.image_px)
        if png is not None:
            out["image"] = png
    elif _is_plain_numeric(array) and array.ndim == 2 and array.size:
        out["grid"] = _array_grid(array, out["stats"], limits)
    return out


def array_stats(array: Any) -> dict[str, Any] | None:
    """min/max/mean/std over finite values and the NaN count of a numeric array."""
    import numpy as np

    if array.size == 0 or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        return None
    flat = array.reshape(-1)
    sampled = flat.size > STATS_SAMPLE
    if sampled:
        flat = flat[:: math.ceil(flat.size / STATS_SAMPLE)]
    if np.iscomplexobj(flat):
        flat = np.abs(flat)
    data = flat.astype(np.float64, copy=False)
    finite = np.isfinite(data)
    nan = int(np.isnan(data).sum())
    good = data[finite] if not finite.all() else data
    result: dict[str, Any] = {"nan": nan, "sampled": sampled}
    if good.size:
        result.update(
            min=float(good.min()),
            max=float(good.max()),
            mean=float(good.mean()),
            std=float(good.std()),
        )
    return result


IMAGE_MIN_SIDE = 16
"""A 2-D array is a picture only when both sides have at least this many pixels..."""
IMAGE_MAX_ASPECT = 4
"""...and the longer side is at most this many times the shorter (a data matrix such as
1347 samples x 64 features is not a picture)."""


def _looks_like_image(shape: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` is a picture: (H, W) or (H, W, 1|3|4) with both sides at
    least :data:`IMAGE_MIN_SIDE` and an aspect ratio of at most :data:`IMAGE_MAX_ASPECT`."""
    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3, 4))):
        return False
    short, long = sorted(shape[:2])
    return short >= IMAGE_MIN_SIDE and long <= IMAGE_MAX_ASPECT * short


def _is_plain_numeric(array: Any) -> bool:
    import numpy as np

    return (
        (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_)
        and not np.iscomplexobj(array)
        and not np.ma.isMaskedArray(array)
    )


def _array_png(array: Any, max_px: int) -> dict[str, Any] | None:
    """A PNG of a picture-shaped array: ``uint8`` as is, values within [0, 1] as intensities,
    anything else stretched from its minimum (black) to its maximum (white)."""
    import numpy as np

    try:
        from PIL import Image
    except ImportError:
        return None
    shape = array.shape
    step = max(1, math.ceil(max(shape[0], shape[1]) / (max_px * 2)))
    data = np.asarray(array[::step, ::step], dtype=np.float64)
    if array.dtype != np.uint8:
        finite = data[np.isfinite(data)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if low >= 0.0 and high <= 1.0:
            low, high = 0.0, 1.0
        data = (
            (np.nan_to_num(data, nan=low, posinf=high, neginf=low) - low)
            / ((high - low) or 1.0)
            * 255.0
        )
    pixels = np.clip(data, 0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    return _png(Image.fromarray(pixels), max_px)


def _array_grid(array: Any, stats: dict[str, Any] | None, limits: Limits) -> dict[str, Any]:
    """The first and last rows of a 2-D numeric array as text cells, each with its shade: its
    place between the array's minimum (0) and maximum (1), null for NaN and infinities."""
    import numpy as np

    rows, columns = array.shape
    shown = min(columns, limits.columns)
    head_end = min(rows, limits.rows)
    tail_start = max(head_end, rows - limits.rows)
    low = float(stats["min"]) if stats and "min" in stats else 0.0
    high = float(stats["max"]) if stats and "max" in stats else 0.0
    span = (high - low) or 1.0

    def part(start: int, end: int) -> dict[str, Any]:
        block = np.asarray(array[start:end, :shown])
        values = block.astype(np.float64)
        shades = [
            [round((v - low) / span, 3) if math.isfinite(v) else None for v in row]
            for row in values.tolist()
        ]
        cells = [[_text(v, limits.cell_chars) for v in row] for row in block.tolist()]
        return {"start": int(start), "cells": cells, "shades": shades}

    return {
        "columns_omitted": int(columns - shown),
        "low": low,
        "high": high,
        "head": part(0, head_end),
        "tail": part(tail_start, rows),
    }


# -- images, figures -------------------------------------------------------------------------
def image_view(value: Any, limits: Limits) -> dict[str, Any]:
    """A matplotlib figure or a PIL image as a PNG no larger than ``limits.image_px``."""
    if _is_figure(value):
        width, height = value.get_size_inches()
        dpi = min(100.0, limits.image_px / max(width, height, 0.1))
        buffer = io.BytesIO()
        value.savefig(buffer, format="png", dpi=dpi)
        out = {
            "kind": "image",
            "source": "matplotlib",
            "image": {
                "png": base64.b64encode(buffer.getvalue()).decode("ascii"),
                "width": round(width * dpi),
                "height": round(height * dpi),
            },
        }
        out["detail"] = f"{len(value.axes)} axes, {width:g}\u00d7{height:g} in"
        return out
    return {
        "kind": "image",
        "source": "PIL",
        "detail": f"{value.width}\u00d7{value.height} px, mode {value.mode}",
        "image": _png(value, limits.image_px),
    }


def _png(image: Any, max_px: int) -> dict[str, Any]:
    if image.mode not in ("1", "L", "LA", "RGB", "RGBA", "P"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")
    if max(image.size) > max_px:
        image = image.copy()
        image.thumbnail((max_px, max_px))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return {
        "png": base64.b64encode(buffer.getvalue()).decode("ascii"),
        "width": int(image.width),
        "height": int(image.height),
    }


def _is_figure(value: Any) -> bool:
    figure = sys.modules.get("matplotlib.figure")
    return figure is not None and isinstance(value, figure.Figure)


def _is_pil_image(value: Any) -> bool:
    image = sys.modules.get("PIL.Image")
    return image is not None and isinstance(value, image.Image)


# -- scikit-learn ----------------------------------------------------------------------------
def estimator_view(value: Any, limits: Limits) -> dict[str, Any]:
    """The estimator's own HTML (for a sandboxed iframe) and its parameters as text."""
    from sklearn.utils import estimator_html_repr

    params = value.get_params(deep=False)
    out: dict[str, Any] = {
        "kind": "estimator",
        "params": [
            [_text(k, limits.cell_chars), safe_repr(v, limits.repr_chars)]
            for k, v in sorted(params.items())
        ],
        "text": safe_repr(value, limits.repr_chars),
    }
    try:
        html = estimator_html_repr(value)
    except Exception:  # a broken custom estimator still gets its parameters shown
        html = None
    if html is not None and len(html) <= limits.own_html_chars:
        out["html"] = html
    return out


def _is_estimator(value: Any) -> bool:
    base = sys.modules.get("sklearn.base")
    return (
        base is not None and isinstance(value, base.BaseEstimator) and not isinstance(value, type)
    )


# -- text ------------------------------------------------------------------------------------
def text_view(value: str | bytes | bytearray, limits: Limits) -> dict[str, Any]:
    """Length and the first ``limits.text_chars`` characters (bytes: escaped)."""
    if isinstance(value, str):
        return {
            "kind": "text",
            "type": "str",
            "length": len(value),
            "lines": value.count("\n") + 1,
            "preview": truncate(value, limits.text_chars),
        }
    head = bytes(value[: limits.text_chars // 4])
    preview = repr(head)[2:-1]
    return {
        "kind": "text",
        "type": type(value).__name__,
        "length": len(value),
        "preview": preview + ("\u2026" if len(value) > len(head) else ""),
    }


# -- containers ------------------------------------------------------------------------------
def _tree(value: Any, limits: Limits, depth: int, budget: list[int]) -> dict[str, Any]:
    """A container as nested nodes; ``budget[0]`` counts down the nodes left."""
    budget[0] -= 1
    if not isinstance(value, (dict, list, tuple, set, frozenset)):
        return {"type": type_name(value), "text": brief(value, limits.repr_chars)}
    node: dict[str, Any] = {"type": type(value).__name__, "length": len(value), "entries": []}
    if depth <= 0 or budget[0] <= 0:
        node["omitted"] = len(value)
        return node
    pairs: Iterable[tuple[str | None, Any]]
    if isinstance(value, dict):
        pairs = ((safe_repr(k, limits.cell_chars), v) for k, v in value.items())
    elif isinstance(value, (set, frozenset)):
        members = list(value) if len(value) <= 10 * limits.items else list(value)[: limits.items]
        try:
            members.sort()
        except TypeError:
            pass
        pairs = ((None, v) for v in members)
    else:
        pairs = ((str(i), v) for i, v in enumerate(value))
    for key, child in pairs:
        if len(node["entries"]) >= limits.items or budget[0] <= 0:
            break
        node["entries"].append({"key": key, "value": _tree(child, limits, depth - 1, budget)})
    omitted = len(value) - len(node["entries"])
    if omitted:
        node["omitted"] = omitted
    return node


# -- objects with their own representation ---------------------------------------------------
def rich_view(value: Any, limits: Limits) -> dict[str, Any] | None:
    """An object's own ``_repr_mimebundle_``/``_repr_html_`` (HTML, PNG, plain text)."""
    data: dict[str, Any] = {}
    try:
        if hasattr(value, "_repr_mimebundle_"):
            bundle = value._repr_mimebundle_(include=None, exclude=None)
            data = dict(bundle[0] if isinstance(bundle, tuple) else bundle or {})
        if "text/html" not in data and hasattr(value, "_repr_html_"):
            html = value._repr_html_()
            if html is not None:
                data["text/html"] = html
    except Exception:
        return None
    out: dict[str, Any] = {"kind": "rich", "text": _plain(data, value, limits)}
    html = data.get("text/html")
    if isinstance(html, str):
        if len(html) <= limits.own_html_chars:
            out["html"] = html
        else:
            out["html_omitted"] = len(html)
    png = data.get("image/png")
    if isinstance(png, (bytes, str)):
        encoded = base64.b64encode(png).decode("ascii") if isinstance(png, bytes) else png
        if len(encoded) <= limits.own_html_chars:
            out["image"] = {"png": encoded}
    return out if ("html" in out or "image" in out or "html_omitted" in out) else None


def _plain(data: dict[str, Any], value: Any, limits: Limits) -> str:
    text = data.get("text/plain")
    return (
        truncate(text, limits.repr_chars)
        if isinstance(text, str)
        else safe_repr(value, limits.repr_chars)
    )
