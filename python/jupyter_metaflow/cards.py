"""``@card`` steps run in the kernel: their cards are rendered by Metaflow and shown inline.

Metaflow renders a card in a subprocess, ``python <sys.argv[0]> card create ...``, so during
a ``@card`` task ``sys.argv[0]`` must be a real flow file: the executor points it at the
file the one exporter generates (:func:`jupyter_metaflow.native_runtime.generated_flow_file`).
The card is then in the datastore like any other (``metaflow card view``, ``card get`` and
``metaflow.cards.get_cards`` find it), and :func:`display_cards` shows it after the step:
Metaflow's card HTML inside a sandboxed iframe (scripts run, in an opaque origin, with no
access to the notebook), the HTML attribute-escaped into ``srcdoc``.
"""

from __future__ import annotations

import html
from typing import Any

__all__ = ["card_iframe", "display_cards", "has_card"]

CARD_HEIGHT_PX = 520


def has_card(graph: Any, step: str) -> bool:
    """Does the step carry ``@card``?"""
    return any(d.name == "card" for d in graph[step].decorators)


def card_iframe(card_html: str, title: str) -> str:
    """Card HTML as a sandboxed iframe (``allow-scripts`` only: Metaflow's cards are
    rendered by JavaScript; without ``allow-same-origin`` they cannot reach the notebook)."""
    return (
        '<iframe class="jp-mf-Card" sandbox="allow-scripts" '
        f'title="{html.escape(title, quote=True)}" '
        f'style="width:100%;height:{CARD_HEIGHT_PX}px;border:1px solid var(--jp-border-color2, '
        '#ccc)" '
        f'srcdoc="{html.escape(card_html, quote=True)}"></iframe>'
    )


def display_cards(flow: str, run_id: str, step: str, flow_file: str) -> int:
    """Display every card of the step's tasks in ``flow/run_id``; returns how many.
    ``flow_file`` is the generated flow file the card command line names."""
    from IPython.display import display
    from metaflow import Step
    from metaflow.cards import get_cards

    from ._metaflow import in_any_namespace

    shown = 0
    for task in in_any_namespace(Step, f"{flow}/{run_id}/{step}"):
        for card in get_cards(task):
            label = f"{card.type} card of {task.pathspec}"
            display(
                {
                    "text/plain": (
                        f"[{label}; open it with: python {flow_file} card view {task.pathspec}]"
                    ),
                    "text/html": card_iframe(card.get(), label),
                },
                raw=True,
            )
            shown += 1
    return shown
