"""``mipro apply APP ARTIFACT``: put an artifact's prompts into an app and show them."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ._cli_common import import_path, out
from ._cli_load import adapt_app, load_app, spec

logger = logging.getLogger("mipro_core")


def configure_apply(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "app",
        metavar="APP",
        type=spec,
        help="package.module:attribute naming your app, or a zero-argument factory (built fresh)",
    )
    parser.add_argument("artifact", metavar="ARTIFACT", help="an artifact written by optimize")


def run_apply(args: argparse.Namespace) -> int:
    from ._adapt import apply
    from ._artifact import read_artifact
    from ._protocols import current_state

    artifact = read_artifact(args.artifact)
    with import_path(os.getcwd()):
        app = load_app(args.app)
        program = adapt_app(app, args.app)
        before = current_state(program)
        apply(program, args.artifact)
        lines = _apply_header(args, artifact, len(program.modules))
        for name, module in program.modules.items():
            lines += ["", *_module_lines(name, module, before.modules.get(name))]
    out(lines)
    return 0


def _apply_header(args: argparse.Namespace, artifact: Any, count: int) -> list[str]:
    from ._printable import printable

    scores = []
    for key, label in (("score", "score"), ("baseline_score", "baseline")):
        value = artifact.metadata.get(key)
        if isinstance(value, (int, float)):
            scores.append(f"{label} {value:.3f}")
    about = f" ({', '.join(scores)})" if scores else ""
    return [
        f"Applied {printable(args.artifact)}{about} to a fresh {args.app}: {count} module(s).",
        "Below is what each module sends; {field} marks where a run's input goes.",
    ]


def _module_lines(name: str, module: Any, before: Any) -> list[str]:
    from ._printable import printable

    state = module.state
    changed = before is None or before.instruction != state.instruction
    demos = f"{0 if before is None else len(before.demos)} -> {len(state.demos)}"
    lines = [
        f"== {printable(name)} ==  (instruction {'changed' if changed else 'unchanged'}, "
        f"demos {demos})"
    ]
    lines += ["  " + printable(line) for line in render_module(module)]
    return lines


def render_module(module: Any) -> list[str]:
    """The prompt a module sends, as text lines, through the best view the module offers.

    In order: ``module.render(inputs) -> messages`` (native stages); a framework prompt object at
    ``module.prompt`` / ``module.template`` with ``pretty_repr()`` (LangChain) or
    ``get_template()`` (LlamaIndex); else the instruction and demos.
    """
    placeholders = {field: "{" + field + "}" for field in module.signature.inputs}
    render = getattr(module, "render", None)
    if callable(render):
        try:
            messages = render(placeholders)
        except Exception:  # a display fallback, never a silent change of behaviour
            logger.debug("render() of %s failed", module.name, exc_info=True)
        else:
            if isinstance(messages, list) and all(isinstance(m, Mapping) for m in messages):
                return _message_lines(messages)
    for attribute in ("prompt", "template"):
        prompt = getattr(module, attribute, None)
        for method in ("pretty_repr", "get_template"):
            view = getattr(prompt, method, None) if prompt is not None else None
            if not callable(view):
                continue
            try:
                text = view()
            except Exception:
                logger.debug("%s.%s() of %s failed", attribute, method, module.name, exc_info=True)
                continue
            if isinstance(text, str):
                return text.strip("\n").split("\n")
    return _state_lines(module.state)


def _message_lines(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    lines: list[str] = []
    for message in messages:
        lines.append(f"[{message.get('role', '?')}]")
        lines += ["  " + line for line in str(message.get("content", "")).split("\n")]
    return lines


def _state_lines(state: Any) -> list[str]:
    lines = ["instruction:"]
    lines += ["  " + line for line in (state.instruction or "(empty)").split("\n")]
    for number, demo in enumerate(state.demos, 1):
        lines.append(f"demo {number} ({demo.source}):")
        for key, value in (*demo.inputs.items(), *demo.outputs.items()):
            lines.append(f"  {key}: {value}")
    return lines
