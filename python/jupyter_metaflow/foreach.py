"""Foreach splits as the notebook names them: ``[1][2]`` is split 2 of the inner foreach in
split 1 of the outer one (cells, ``%mf_show`` and ``%mf_split`` all label splits this way)."""

from __future__ import annotations

__all__ = ["no_such_split", "split_label"]


def split_label(position: tuple[int, ...]) -> str:
    """``(1, 2)`` -> ``[1][2]``: a foreach split as the cells and ``%mf_show`` label it."""
    return "".join(f"[{index}]" for index in position)


def no_such_split(step: str, position: tuple[int, ...], positions: list[tuple[int, ...]]) -> str:
    """Why ``position`` names no split of ``step`` (one of ``positions``), and what would."""
    depth = len(positions[0])
    if len(position) != depth:
        if depth == 1:
            return f"Step {step!r} is inside one foreach: give one split index."
        example = " ".join(str(i) for i in positions[-1])
        return (
            f"Step {step!r} is inside {depth} nested foreach steps: give one index per foreach, "
            f"outermost first (%mf_split {step} {example} runs split {split_label(positions[-1])})."
        )
    if depth == 1:
        return (
            f"Step {step!r} has splits 0 to {len(positions) - 1} in the current run; "
            f"{position[0]} is not one of them."
        )
    shown = [split_label(p) for p in positions]
    if len(shown) > 12:
        shown = [*shown[:6], "...", *shown[-3:]]
    return (
        f"Step {step!r} has no split {split_label(position)} in the current run; "
        f"its splits: {', '.join(shown)}."
    )
