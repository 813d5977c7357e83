"""``%mf_show`` views of awkward values, without Metaflow: every bundle stays bounded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jupyter_metaflow.show.bundle import MIME_TYPE, bundle_size, fit
from jupyter_metaflow.show.views import Limits, frame_page, safe_repr, view

LIMIT = 100 * 1024


def bundled(value: object, max_bytes: int = LIMIT) -> dict:
    bundle = fit(
        lambda limits: {
            "version": 1,
            "kind": "artifact",
            "header": {"title": "v", "type": type(value).__name__},
            "view": view(value, limits),
        },
        max_bytes,
    )
    assert bundle_size(bundle) <= max_bytes
    return bundle[MIME_TYPE]


def self_containing() -> list:
    loop: list = [1]
    loop.append(loop)
    return loop


def deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        pd.DataFrame(np.zeros((3, 5000))),
        pd.DataFrame({"s": ["x" * 100_000] * 30}),
        {f"key{i}": i for i in range(200_000)},
        set(range(100_000)),
        self_containing(),
        deep(5000),
        "y" * 5_000_000,
        b"\x00" * 5_000_000,
        np.zeros((4000, 4000, 3), dtype=np.uint8),
        np.array([object(), None, "s"], dtype=object),
        np.arange(24).reshape(2, 3, 4),
        np.float64(3.5),
        np.array(7),
    ],
    ids=[
        "wide-frame",
        "long-cells",
        "big-dict",
        "big-set",
        "self-containing",
        "deep",
        "long-str",
        "long-bytes",
        "big-image",
        "object-array",
        "3d",
        "np-scalar",
        "0d",
    ],
)
def test_awkward_values_stay_bounded(value: object) -> None:
    data = bundled(value)
    assert data["kind"] in ("artifact", "omitted")


def test_wide_frame_reports_omitted_columns() -> None:
    v = bundled(pd.DataFrame(np.zeros((3, 5000))))["view"]
    assert v["columns_omitted"] == 5000 - len(v["columns"]) > 0


def test_big_image_is_downscaled() -> None:
    v = bundled(np.zeros((4000, 4000, 3), dtype=np.uint8))["view"]
    assert max(v["image"]["width"], v["image"]["height"]) <= Limits().image_px


def test_nan_and_inf_in_statistics() -> None:
    v = view(np.array([1.0, np.nan, np.inf, 3.0]))
    assert v["stats"]["nan"] == 1 and v["stats"]["min"] == 1.0 and v["stats"]["max"] == 3.0


def test_page_is_clamped_and_bounded() -> None:
    frame = pd.DataFrame({"a": range(100)})
    assert frame_page(frame, 95, 10, Limits())["rows"]["index"] == ["95", "96", "97", "98", "99"]
    assert frame_page(frame, 500, 10, Limits())["rows"]["cells"] == []


def test_repr_never_raises_and_is_cut() -> None:
    class Loud:
        def __repr__(self) -> str:
            return "z" * 10_000

    assert len(safe_repr(Loud(), 50)) == 50
    assert view(Loud())["kind"] == "repr"


class RaisingRepr:
    def __repr__(self) -> str:
        raise ValueError("<b>no repr</b>")


@pytest.mark.parametrize(
    "array",
    [np.array([1, RaisingRepr()], dtype=object), np.array(RaisingRepr(), dtype=object)],
    ids=["1d", "0d"],
)
def test_object_array_whose_item_repr_raises(array: np.ndarray) -> None:
    v = bundled(array)["view"]
    assert v["kind"] == "ndarray" and v["preview"].startswith(
        "(no preview: printing the array failed: ValueError"
    )


def test_all_infinite_image_array_warns_nothing() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "image" in view(np.full((20, 20), np.inf))
        assert view(np.full((10, 3), np.inf))["grid"]["head"]["shades"][0] == [None] * 3


@pytest.mark.parametrize(
    "frame, key, expected",
    [
        (pd.DataFrame(np.ones((3, 2)), columns=["a", "a"]), "mean['a']", "1"),
        (pd.DataFrame({"t": pd.to_timedelta([1, 3], unit="s")}), "mean['t']", "0 days 00:00:02"),
    ],
    ids=["repeated-column-names", "timedelta-column"],
)
def test_diff_summary_of_awkward_frames(frame: pd.DataFrame, key: str, expected: str) -> None:
    from jupyter_metaflow.show.bundle import _summary

    assert _summary(frame)[key] == expected


def test_html_fallback_escapes_the_type_name_of_a_bytes_subclass() -> None:
    from jupyter_metaflow.show.fallbacks import html as fallback_html

    named = type('<img src=x onerror="alert(1)">', (bytes,), {})
    html = fallback_html(
        {"version": 1, "kind": "artifact", "header": {"title": "v"}, "view": view(named(b"abc"))}
    )
    assert "<img" not in html and "&lt;img src=x" in html


class KeyErrorAttributes:
    """Attribute access through a dict: a missing name raises KeyError, so hasattr() raises."""

    def __init__(self) -> None:
        self.__dict__["_fields"] = {}

    def __getattr__(self, name: str) -> object:
        return self._fields[name]


def broken_estimator() -> object:
    from sklearn.base import BaseEstimator

    class Unstored(BaseEstimator):
        def __init__(self, alpha: int = 1) -> None:
            self.beta = alpha  # get_params() looks for self.alpha and raises

    return Unstored()


def empty_figure() -> object:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(0, 0))


@pytest.mark.parametrize(
    "make, error",
    [
        (KeyErrorAttributes, "KeyError"),
        (broken_estimator, "AttributeError"),
        (empty_figure, "ValueError"),
    ],
    ids=["getattr-keyerror", "estimator-get-params-raises", "zero-size-figure"],
)
def test_a_failing_typed_view_falls_back_to_a_safe_repr(make: object, error: str) -> None:
    v = bundled(make())["view"]
    assert v["kind"] == "repr" and f"view: {error}(" in v["text"]


def test_huge_figure_is_drawn_at_most_image_px() -> None:
    import matplotlib.pyplot as plt

    v = view(plt.figure(figsize=(1000, 500)))["image"]
    assert (v["width"], v["height"]) == (Limits().image_px, Limits().image_px // 2)


class UnknownDimension:
    shape = (None, 3)  # a lazy frame's row count is not known


@pytest.mark.parametrize(
    "value", [KeyErrorAttributes(), UnknownDimension()], ids=["getattr-keyerror", "shape-with-none"]
)
def test_diff_summary_of_values_whose_facts_cannot_be_read(value: object) -> None:
    from jupyter_metaflow.show.bundle import _summary

    assert _summary(value)["facts"].startswith("unreadable: ")


def test_masked_array_preview_hides_masked_values() -> None:
    v = view(np.ma.masked_array([1.0, 100.0, 3.0], mask=[False, True, False]))
    assert v["preview"] == "[1.0 -- 3.0]"  # was "[  1.,  inf,   3.]"
    assert (v["stats"]["min"], v["stats"]["max"]) == (1.0, 3.0)


def test_data_matrix_is_a_shaded_grid_not_an_image() -> None:
    """scikit-learn's digits as a training matrix: 1347 samples x 64 features of 0..16."""
    matrix = np.random.default_rng(0).integers(0, 17, size=(1347, 64))
    matrix[0, 0], matrix[0, 1] = 0, 16
    v = view(matrix)
    assert "image" not in v
    grid = v["grid"]
    assert (grid["low"], grid["high"]) == (0.0, 16.0)
    assert grid["columns_omitted"] == 64 - Limits().columns
    assert len(grid["head"]["cells"]) == Limits().rows and grid["tail"]["start"] == 1337
    assert grid["head"]["cells"][0][:2] == ["0", "16"]
    assert grid["head"]["shades"][0][:2] == [0.0, 1.0]
    assert all(0.0 <= x <= 1.0 for row in grid["head"]["shades"] for x in row)


@pytest.mark.parametrize("shape", [(8, 8), (10, 10), (1347, 64), (64, 1347), (3, 4)])
def test_small_or_elongated_2d_arrays_are_grids(shape: tuple[int, int]) -> None:
    v = view(np.arange(shape[0] * shape[1], dtype=float).reshape(shape))
    assert "image" not in v and "grid" in v


def test_picture_arrays_are_images_stretched_to_full_contrast() -> None:
    import base64
    import io

    from PIL import Image

    digit = np.zeros((64, 64), dtype=np.int64)
    digit[16:48, 16:48] = 16  # 0..16 counts: white square on black, not near-black
    v = view(digit)
    assert "grid" not in v
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(v["image"]["png"]))))
    assert pixels.max() == 255 and pixels.min() == 0
    photo = view(np.zeros((48, 64, 3), dtype=np.uint8))
    assert (photo["image"]["width"], photo["image"]["height"]) == (64, 48)


def test_a_long_string_is_cut_before_its_repr_is_made() -> None:
    """Tree leaves and previews show ~80 characters: the repr of the whole string (a copy as
    large as the string) was made first. Peak memory of the call, measured with tracemalloc."""
    import tracemalloc

    text = "x" * 50_000_000
    tracemalloc.start()
    shown = safe_repr(text, 80)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"safe_repr of a 50 MB string: peak {peak / 1024:.1f} KB")
    assert shown == repr(text[:100])[:79] + "\u2026"
    assert peak < 1024 * 1024
