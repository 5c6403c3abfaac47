"""The `assay` executable: supervise the commands that run an engine, else run the CLI.

Kept apart from cli/main.py so the supervising parent imports no more than it needs.
"""

from __future__ import annotations

import sys

from assay.cli import supervise


def main() -> None:
    argv = sys.argv[1:]
    if supervise.wanted(argv):
        sys.exit(supervise.supervise(argv))
    from assay.cli.main import main as cli_main

    cli_main()
