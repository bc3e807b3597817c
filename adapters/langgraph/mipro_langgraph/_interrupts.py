"""Interrupts: a run that stops at one never reaches the prompts after it.

mipro does not resume interrupts (an evaluation run has nobody to answer them), so a graph
compiled with ``interrupt_before``/``interrupt_after`` is refused before its first run, and a
run that stops at an ``interrupt()`` call is an error naming the node, instead of a search on
truncated runs.
"""

from __future__ import annotations

from typing import Any

INTERRUPT_KEY = "__interrupt__"
"""The key LangGraph puts in ``invoke``'s output when the run stopped at ``interrupt()``."""

_COPY = 'graph.copy(update={"interrupt_before_nodes": [], "interrupt_after_nodes": []})'


def static_interrupts(graph: Any) -> str:
    """The graph's compiled interrupts as its ``compile`` arguments, ``""`` when none."""
    parts = []
    for attribute, argument in (
        ("interrupt_before_nodes", "interrupt_before"),
        ("interrupt_after_nodes", "interrupt_after"),
    ):
        nodes = getattr(graph, attribute, None)
        if nodes:
            parts.append(f"{argument}={nodes if isinstance(nodes, str) else list(nodes)!r}")
    return ", ".join(parts)


def static_interrupt_message(interrupts: str) -> str:
    return (
        f"this graph was compiled with {interrupts}: every evaluation run would stop there "
        "and the prompts after it would never run (mipro does not resume interrupts). "
        f"Optimize a copy without them, `mipro_core.optimize({_COPY}, ...)`: the copy shares "
        "this graph's nodes and prompt objects, so the winning prompts land in this graph too "
        "(mipro_core.apply works on the graph as it is)"
    )


def dynamic_interrupt_message(graph: Any, config: Any) -> str:
    try:
        nodes = list(graph.get_state(config).next)
    except Exception:  # the state is a courtesy for the message
        nodes = []
    where = f" in node(s) {nodes}" if nodes else ""
    return (
        f"the run stopped at an interrupt(){where}: mipro does not resume interrupts, so the "
        "prompts after it would never run and the metric would see a partial state. Optimize "
        "a version of the graph that runs to the end without waiting for a human (for "
        "example, skip the interrupt() when the config says so), built from the same prompt "
        "objects; then mipro_core.apply the artifact to this graph"
    )
