"""``@card`` steps in the kernel: Metaflow renders the card, the cell shows it in a sandboxed
iframe, and Metaflow's own ``card get`` finds it (what ``card view`` opens)."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import subprocess
import sys

import pytest

from jupyter_metaflow import cards
from jupyter_metaflow import session as notebook_session
from jupyter_metaflow.cells import CellInput


def card_data(card_html: str) -> dict:
    """The JSON a Metaflow card embeds (``window.__MF_DATA__[id] = "<base64>"``)."""
    match = re.search(r'window\.__MF_DATA__\["[^"]+"\] = "([A-Za-z0-9+/=]+)"', card_html)
    assert match, "no embedded card data"
    return json.loads(base64.b64decode(match.group(1)))


def run_cells(ip, monkeypatch, sources: list[str], count: int) -> list[dict]:
    """Run the first ``count`` of the notebook ``sources`` (card_nb.ipynb); what they displayed."""
    notebook_session.set_notebook_cells(
        [CellInput(i, f"c{i}", "code", s) for i, s in enumerate(sources)], "card_nb.ipynb"
    )
    displayed: list[dict] = []
    monkeypatch.setattr(
        ip.display_pub, "publish", lambda data, metadata=None, **kw: displayed.append(data)
    )
    for source in sources[:count]:
        assert ip.run_cell(source).success
    return displayed


def test_card_step_renders_shows_inline_and_card_get_finds_it(ip, tmp_path, monkeypatch):
    from metaflow import Flow
    from metaflow.cards import get_cards

    sources = [
        "from metaflow.cards import Markdown",
        '%%step start\n@card\nself.score = 0.93\ncurrent.card.append(Markdown(\'# Score <b>&"x"'
        "</b>'))",
        "%%step end\npass",
    ]
    displayed = run_cells(ip, monkeypatch, sources, len(sources))
    run = Flow("CardNbFlow").latest_run
    task = run["start"].task
    found = get_cards(task)
    assert len(found) == 1 and found[0].type == "default"
    card_html = found[0].get()
    data = json.dumps(card_data(card_html))
    assert '# Score <b>&\\"x\\"</b>' in data and "score" in data

    frames = [d for d in displayed if "text/html" in d and "jp-mf-Card" in d["text/html"]]
    assert len(frames) == 1
    frame = frames[0]["text/html"]
    assert frame.startswith('<iframe class="jp-mf-Card" sandbox="allow-scripts"')
    srcdoc = re.search(r'srcdoc="([^"]*)"', frame).group(1)
    assert "<" not in srcdoc and '"' not in srcdoc  # attribute-escaped
    assert html.unescape(srcdoc) == card_html
    assert f"card view {task.pathspec}" in frames[0]["text/plain"]

    flow_file = tmp_path / "card_nb.nbflow.py"
    assert flow_file.exists()
    got = subprocess.run(
        [sys.executable, str(flow_file), "card", "get", "/".join(task.pathspec.split("/")[1:])],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "METAFLOW_USER": "tester"},
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == card_html.strip()


@pytest.mark.unit
def test_card_iframe_escapes_hostile_html():
    frame = cards.card_iframe('<script>alert("x")</script>"><img src=x onerror=1>', 'a"b<c>')
    assert frame.count("<iframe") == 1 and frame.count("<script") == 0 and "<img" not in frame
    assert 'title="a&quot;b&lt;c&gt;"' in frame
    assert 'sandbox="allow-scripts"' in frame and "allow-same-origin" not in frame


def test_every_foreach_split_renders_its_card(ip, monkeypatch):
    """Card state is per task process in Metaflow; each in-kernel task starts it afresh."""
    from metaflow import Flow
    from metaflow.cards import get_cards

    sources = [
        "%%step start\nself.items = ['a', 'b', 'c']\nself.next(self.each, foreach='items')",
        "%%step each\n@card(type='blank')\nfrom metaflow.cards import Markdown\n"
        "current.card.append(Markdown('item ' + self.input))",
        "%%step join\nself.next(self.end)",
        "%%step end\npass",
    ]
    displayed = run_cells(ip, monkeypatch, sources, 2)
    run = Flow("CardNbFlow").latest_run
    texts = sorted(json.dumps(card_data(c.get())) for t in run["each"] for c in get_cards(t))
    assert len(texts) == 3 and all(f"item {x}" in t for x, t in zip("abc", texts))
    assert sum("jp-mf-Card" in d.get("text/html", "") for d in displayed) == 3


def test_card_of_a_runtime_path_step_is_shown_too(ip, monkeypatch):
    from metaflow import Flow
    from metaflow.cards import get_cards

    sources = [
        "%%step start\nself.x = 1",
        "%%step report\n@card\n@retry(times=1)\nself.x += 1",
        "%%step end\npass",
    ]
    displayed = run_cells(ip, monkeypatch, sources, 2)
    run = Flow("CardNbFlow").latest_run
    assert run.successful and run["report"].task.data.x == 2
    found = get_cards(run["report"].task)
    frames = [d["text/html"] for d in displayed if "jp-mf-Card" in d.get("text/html", "")]
    assert len(found) == 1 and len(frames) == 1
    assert html.unescape(re.search(r'srcdoc="([^"]*)"', frames[0]).group(1)) == found[0].get()
