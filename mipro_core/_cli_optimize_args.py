"""The command line of ``mipro optimize``: its arguments, their types and help.

Kept apart from running the command (:mod:`mipro_core._cli_optimize`) so that ``--help``
and a malformed command line import nothing heavy.
"""

from __future__ import annotations

import argparse
import math

from . import _cli_load, _cli_ray
from ._cli_common import positive_int, whole_number
from ._cli_load import spec

BUDGETS = ("light", "medium", "heavy")
STRATEGY_NAMES = (
    "bootstrap-random-search",
    "mipro",
    "mipro++",
    "random-search",
    "zeroshot-mipro",
    "zeroshot-mipro++",
)
"""The names ``optimize(strategy=...)`` accepts (kept here so ``--help`` imports nothing heavy)."""
DEFAULT_PROPOSER = "the app's own model"


# --- argument types (a bad value is a usage error: exit 2) -------------------------------------


def field_names(text: str) -> tuple[str, ...]:
    """A comma-separated list of column names."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r} must be column names separated by commas")
    return names


_seed = whole_number(0)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _sampler(name: str) -> str:
    """A sampler name known here (built in, or from a ``mipro.samplers`` entry point)."""
    from ._search._registry import available_samplers

    known = sorted(available_samplers())
    if name not in known:
        raise argparse.ArgumentTypeError(
            f"unknown sampler {name!r} (available: {', '.join(known)})"
        )
    return name


# --- mipro optimize ----------------------------------------------------------------------------


def configure_optimize(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "app",
        metavar="APP",
        type=spec,
        help="package.module:attribute naming your chain, query engine or program, or a "
        "zero-argument factory that builds one (imported from the current directory)",
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--train", required=True, metavar="FILE", help="training examples: .jsonl or .csv"
    )
    data.add_argument(
        "--val",
        metavar="FILE",
        help="validation examples (default: a seeded half of --train)",
    )
    data.add_argument(
        "--inputs",
        type=field_names,
        metavar="COL,...",
        help="the input columns (default: the columns the program's stages read)",
    )
    data.add_argument(
        "--outputs",
        type=field_names,
        metavar="COL,...",
        help="the output (label) columns (default: every other column except 'id')",
    )
    _cli_load.add_map_output_argument(data)
    parser.add_argument(
        "--metric",
        required=True,
        type=spec,
        metavar="MODULE:FUNC",
        help="metric(example, prediction[, trace]) -> float or bool; higher is better",
    )
    parser.add_argument(
        "--proposer",
        type=spec,
        metavar="MODULE:OBJ",
        help="the model that writes instructions: an LM callable, a framework chat model, or a "
        "zero-argument factory of one (default: the app's own model)",
    )
    search = parser.add_argument_group("search")
    search.add_argument("--budget", choices=BUDGETS, default="light", help="default: light")
    search.add_argument("--seed", type=_seed, default=0, metavar="N", help="default: 0")
    search.add_argument(
        "--threads",
        type=positive_int,
        default=8,
        metavar="N",
        help="parallel program runs, each making its stages' LM calls in turn (8)",
    )
    search.add_argument(
        "--parallel-trials",
        type=positive_int,
        metavar="K",
        help="configurations scored at once, each on its own copy of the app (default: "
        "threads // minibatch size, at least 1); set it to keep runs comparable across "
        "thread counts",
    )
    search.add_argument("--max-trials", type=positive_int, metavar="N", help="cap the trials")
    search.add_argument(
        "--max-lm-calls", type=positive_int, metavar="N", help="hard cap on LM calls"
    )
    search.add_argument(
        "--max-seconds", type=_seconds, metavar="S", help="stop searching after S seconds"
    )
    search.add_argument(
        "--strategy", choices=STRATEGY_NAMES, default="mipro", help="default: mipro"
    )
    search.add_argument(
        "--sampler",
        type=_sampler,
        metavar="NAME",
        help="search strategy: tpe (default), random, or one a plugin installs",
    )
    _cli_ray.add_ray_argument(search)
    search.add_argument(
        "--freeze",
        action="append",
        default=[],
        metavar="MODULE",
        help="keep this module's prompt as it is (repeatable)",
    )
    files = parser.add_argument_group("output")
    files.add_argument(
        "--out", metavar="FILE", help="artifact to write (default: <app module>.mipro.json)"
    )
    journal = files.add_mutually_exclusive_group()
    journal.add_argument(
        "--journal",
        metavar="FILE",
        help="journal the run here so it can be resumed (default: <app module>.mipro.sqlite)",
    )
    journal.add_argument("--no-journal", action="store_true", help="keep no journal")
    files.add_argument(
        "--overwrite",
        action="store_true",
        help="start over even if the journal holds an unfinished run",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the estimated LM calls and exit without calling any model",
    )
