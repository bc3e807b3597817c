"""``mipro report JOURNAL_OR_ARTIFACT --out report.html [--png DIR]``.

The parser setup stays light (argparse only): the report package and matplotlib are imported
when the command runs.
"""

from __future__ import annotations

import argparse
import sys


def configure_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        metavar="JOURNAL_OR_ARTIFACT",
        help="the run's SQLite journal (optimize(..., journal=...)) or an artifact JSON file",
    )
    parser.add_argument(
        "--out", metavar="FILE", help="write the self-contained HTML report to FILE (report.html)"
    )
    parser.add_argument(
        "--png", metavar="DIR", help="also write the figures as PNG files into DIR (created)"
    )


def run_report(args: argparse.Namespace) -> int:
    from ._printable import printable
    from ._report import write_report

    written = write_report(args.source, args.out, png_dir=args.png)
    for path in written:
        sys.stdout.write(f"wrote {printable(str(path))}\n")
    return 0
