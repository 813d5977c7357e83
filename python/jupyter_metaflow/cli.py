"""``jupyter metaflow export|import``: the console script ``jupyter-metaflow``.

Exit codes: 0 success (or ``--check``: the flow file is current), 1 ``--check`` found the flow
file out of date (a unified diff is printed), 2 bad input (the message says what and how to
fix it; nothing is written).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .export import ExportError, check_flow_file, default_output_path, export_notebook, write_atomic

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jupyter metaflow",
        description="Turn a notebook written with %%flow/%%step cells into a Metaflow flow file, "
        "or an existing flow file into such a notebook.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("export", help="notebook -> flow.py")
    exp.add_argument("notebook", help="the .ipynb file")
    exp.add_argument(
        "-o",
        "--output",
        help="flow file to write, - for stdout (default: the notebook's name with .py)",
    )
    exp.add_argument("--force", action="store_true", help="overwrite an existing, different file")
    exp.add_argument(
        "--check",
        action="store_true",
        help=(
            "write nothing; exit 1 with a diff when the flow file is not what the notebook "
            "exports now"
        ),
    )
    exp.add_argument(
        "--cell-ids", action="store_true", help="mark each cell's code with a '# cell: ID' comment"
    )
    imp = sub.add_parser("import", help="flow.py -> notebook")
    imp.add_argument("flow", help="the flow's .py file")
    imp.add_argument(
        "-o",
        "--output",
        help="notebook to write, - for stdout (default: the flow's name with .ipynb)",
    )
    imp.add_argument("--force", action="store_true", help="overwrite an existing, different file")
    return parser


def _export(args: argparse.Namespace) -> int:
    if Path(args.notebook).suffix == ".py":
        raise ExportError(
            f"{args.notebook} is a Python file: export reads a notebook (.ipynb); 'jupyter "
            f"metaflow import {shlex.quote(args.notebook)}' "
            "turns a flow file into a notebook."
        )
    if args.output == "-":
        if args.check:
            raise ExportError("--check compares with a flow file: pass -o FILE.py, not -o -.")
        sys.stdout.write(export_notebook(args.notebook, cell_ids=args.cell_ids))
        return 0
    output = Path(args.output) if args.output else default_output_path(args.notebook)
    if output.resolve() == Path(args.notebook).resolve():
        raise ExportError(f"The output {output} is the notebook itself; pass another -o FILE.py.")
    if output.suffix == ".ipynb":
        raise ExportError(
            f"The output {output} is a notebook name; export writes a flow file: pass -o FILE.py."
        )
    text = export_notebook(args.notebook, cell_ids=args.cell_ids)
    if args.check:
        diff = check_flow_file(output, text)
        if diff:
            sys.stdout.write(diff)
            state = (
                f"is out of date with {args.notebook}; to update it"
                if output.exists()
                else "does not exist; to write it"
            )
            sys.stderr.write(
                "{} {}, run:\n  jupyter metaflow export {} -o {} --force{}\n".format(
                    output,
                    state,
                    shlex.quote(args.notebook),
                    shlex.quote(str(output)),
                    " --cell-ids" if args.cell_ids else "",
                )
            )
            return 1
        sys.stderr.write(f"{output} is up to date.\n")
        return 0
    written = write_atomic(output, text, force=args.force)
    sys.stderr.write(("Wrote %s.\n" if written else "%s is already up to date.\n") % output)
    return 0


def _import(args: argparse.Namespace) -> int:
    import nbformat

    from .importer import import_flow_file

    if Path(args.flow).suffix == ".ipynb":
        raise ExportError(
            f"{args.flow} is a notebook: import reads a flow file (.py); 'jupyter metaflow export "
            f"{shlex.quote(args.flow)}' "
            "turns a notebook into a flow file."
        )
    nb = import_flow_file(args.flow)
    if args.output == "-":
        sys.stdout.write(nbformat.writes(nb) + "\n")
        return 0
    output = Path(args.output) if args.output else Path(args.flow).with_suffix(".ipynb")
    if output.resolve() == Path(args.flow).resolve():
        raise ExportError(
            f"The output {output} is the flow file itself; pass another -o FILE.ipynb."
        )
    if output.suffix == ".py":
        raise ExportError(
            f"The output {output} is a Python file name; import writes a notebook: pass -o "
            "FILE.ipynb."
        )
    written = write_atomic(output, nbformat.writes(nb) + "\n", force=args.force)
    sys.stderr.write(("Wrote %s.\n" if written else "%s is already up to date.\n") % output)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return _export(args) if args.command == "export" else _import(args)
    except ExportError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
