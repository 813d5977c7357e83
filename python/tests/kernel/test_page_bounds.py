"""What a page request (sent by an output, which may name any artifact) loads: only frames of a
bounded size, checked from the type and size Metaflow recorded, before anything is unpickled;
and what the frame cache keeps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from inprocess import ok, set_notebook

from jupyter_metaflow.show import artifacts
from jupyter_metaflow.show.magics import on_artifact_page


class Link:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []

    def send(self, msg_type, payload, to=None):
        self.sent.append((msg_type, payload))


CELLS = (
    "%%step start\nimport pandas as pd\nself.items = [1, 2, 3]\n"
    "self.df = pd.DataFrame({'a': range(10)})",
    "%%step end\npass",
)


def page(pathspec: str, artifact: str) -> dict:
    link = Link()
    on_artifact_page(
        {"request_id": "r", "pathspec": pathspec, "artifact": artifact, "offset": 0, "limit": 5},
        link,
        None,
    )
    ((kind, payload),) = link.sent
    assert kind == "artifact_page_result"
    return payload


def test_a_page_request_never_loads_an_artifact_that_is_not_a_frame(ip, tmp_path):
    from metaflow import Flow

    set_notebook(*CELLS, path="pages.ipynb")
    ok(ip, CELLS[0])
    task = Flow("PagesFlow").latest_run["start"].task
    marker = tmp_path / "unpickled.marker"
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
    from test_hostile import poison_datastore  # every blob then writes the marker when loaded

    frame = page(task.pathspec, "df")
    assert "total" in frame, frame
    assert frame["total"] == 10 and frame["rows"]["cells"][0] == ["0"]
    artifacts.clear()
    poison_datastore(tmp_path / ".metaflow", marker)
    answer = page(task.pathspec, "items")
    assert "is <class 'list'>, not a pandas DataFrame or Series" in answer["error"]
    assert not marker.exists()


def test_the_frame_cache_keeps_no_frame_above_its_budget(monkeypatch):
    class Artifact:
        def __init__(self, sha, data):
            self.sha, self.data, self.pathspec = sha, data, "F/1/s/1/" + sha

    monkeypatch.setattr(artifacts, "CACHED_FRAME_BYTES", 10_000)
    artifacts.clear()
    small, big = pd.DataFrame({"a": range(100)}), pd.DataFrame({"a": range(10_000)})
    artifacts.load(Artifact("small", small))
    artifacts.load(Artifact("big", big))
    assert list(artifacts._frames) == ["small"]
    artifacts.clear()
