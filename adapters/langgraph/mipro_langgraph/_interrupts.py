"""Interrupts: a run that stops at one never reaches the prompts after it.

mipro does not resume interrupts (an evaluation run has nobody to answer them), so a graph
compiled with ``interrupt_before``/``interrupt_after`` is refused before its first run, and a
run that stops at an ``interrupt()`` call is an error naming the node, instead of a search on
truncated runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._walk import is_graph

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


def interrupt_problem(graph: Any) -> str:
    """Why runs of ``graph`` would stop at a compiled interrupt (its own, or a subgraph's used
    as a node), ``""`` when they would not."""
    own = static_interrupts(graph)
    if own:
        return _static_interrupt_message(own)
    for path, found in _subgraph_interrupts(graph, ""):
        return (
            f"subgraph {path!r} of this graph was compiled with {found}: every evaluation run "
            "would stop there and the prompts after it would never run (mipro does not resume "
            "interrupts). Compile that subgraph without them for the optimization (its nodes "
            "and prompt objects are the same, so the winning prompts land in them), then "
            "compile your graph as before; mipro_core.apply works on the graph as it is"
        )
    return ""


def _subgraph_interrupts(graph: Any, prefix: str) -> Iterator[tuple[str, str]]:
    for name, node in getattr(graph, "nodes", {}).items():
        bound = getattr(node, "bound", None)
        if not is_graph(bound):
            continue
        path = f"{prefix}/{name}" if prefix else name
        found = static_interrupts(bound)
        if found:
            yield path, found
        yield from _subgraph_interrupts(bound, path)


def _static_interrupt_message(interrupts: str) -> str:
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
