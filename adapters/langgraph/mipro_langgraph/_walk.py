"""Walk a compiled LangGraph graph to the LangChain objects that hold its prompts.

The walk visits every node of the graph (and of nested subgraphs) and every conditional edge's
path function, and collects *roots*: LCEL runnables or prompt templates that the node runs or
refers to. The LangChain adapter then finds the prompts inside each root.

What a node refers to:

* a node that is a runnable (``prompt | model``) is a root itself;
* a node that is a function (LangGraph wraps it in a ``RunnableCallable``): the values of its
  closure variables, its default arguments, the module globals its code names, and, for a
  bound method, the attributes of its instance and of its class (bases included); functions
  found there are followed in turn (globals only of functions outside LangChain / LangGraph),
  ``functools.partial`` arguments too;
* a node that is a callable object (a user's class with ``__call__``): its attributes (the
  instance's and its class's) and its ``__call__`` method;
* a callable wrapper of a function (``__wrapped__``, e.g. a functional-API ``@task``) found
  among those references: the wrapped function;
* a compiled subgraph (as a node, or called from a node's function) is walked with the node's
  name as a prefix.

A root's path is the node path (graph levels joined by ``/``), then the variable name through
which a function reached it: ``answer/chain``. Each root is visited once (first path wins).
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import SystemMessage
from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnableSequence
from langgraph.pregel import Pregel

from ._agent import AgentPrompt, agent_prompt_of, is_agent_model_function

MAX_DEPTH = 4
"""How many functions deep the walk follows references from a node's function."""

_LIBRARIES = ("langchain", "langgraph", "pydantic", "typing", "functools", "builtins")


@dataclass
class Root:
    """A LangChain object the graph uses: an LCEL runnable or a prompt template.

    ``path``: the node path; ``var``: the variable through which a node's function reached it
    (``None`` for the node's own runnable); ``agent``: the ``prompt | model`` sequence of a
    prebuilt agent.
    """

    path: str
    obj: Any
    var: str | None = None
    agent: bool = False

    def module_name(self, inner: str) -> str:
        """The module name of a prompt the LangChain adapter named ``inner`` in this root."""
        if self.agent:
            return join(self.path, "prompt" if inner == "steps[0]" else inner)
        if self.var is None:
            return self.path if isinstance(self.obj, BasePromptTemplate) else join(self.path, inner)
        if isinstance(self.obj, BasePromptTemplate):
            return join(self.path, self.var)
        return join(self.path, f"{self.var}.{inner}")


@dataclass
class GraphWalk:
    """What the walk found."""

    roots: list[Root] = field(default_factory=list)
    agents: list[AgentPrompt] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    async_only: bool = False
    tree: list[str] = field(default_factory=list)


def join(path: str, segment: str) -> str:
    return f"{path}/{segment}" if path else segment


def is_graph(obj: Any) -> bool:
    return isinstance(obj, Pregel)


_FUNCTIONS = (types.FunctionType, types.MethodType, functools.partial)


def has_async_only_tool(node: Any) -> bool:
    """A ``ToolNode`` holding a tool made with ``coroutine=`` only (MCP tool adapters make them
    so): run synchronously, each call of it fails, so the graph must run on ``ainvoke``."""
    tools = getattr(node, "tools_by_name", None) or getattr(node, "_tools_by_name", None)
    if not isinstance(tools, dict):
        return False
    return any(
        getattr(tool, "func", True) is None and getattr(tool, "coroutine", None) is not None
        for tool in tools.values()
    )


def _is_callable_node(obj: Any) -> bool:
    """LangGraph's ``RunnableCallable`` (a node function), recognised by its attributes."""
    return (
        isinstance(obj, Runnable)
        and not isinstance(obj, RunnableLambda)
        and hasattr(obj, "func")
        and hasattr(obj, "afunc")
    )


def _named_refs(func: Any) -> Iterator[tuple[str, Any]]:
    """(name, value) of what a function refers to: closure, named globals, instance attributes."""
    if isinstance(func, functools.partial):
        yield from _named_refs(func.func)
        for i, arg in enumerate(func.args):
            yield f"args[{i}]", arg
        yield from func.keywords.items()
        return
    if inspect.ismethod(func):
        yield from _attributes(func.__self__)
        func = func.__func__
    elif _is_callable_object(func):  # e.g. LangGraph's tutorial ``Assistant`` class
        yield from _attributes(func)
        yield "__call__", func.__call__
        return
    func = inspect.unwrap(func) if callable(func) else func
    code = getattr(func, "__code__", None)
    if code is None:
        return
    yield from _defaults(func, code)
    closure = getattr(func, "__closure__", None) or ()
    for name, cell in zip(code.co_freevars, closure, strict=False):
        try:
            yield name, cell.cell_contents
        except ValueError:  # an empty cell: the variable is not assigned yet
            continue
    module = getattr(func, "__module__", "") or ""
    if module.split(".")[0] in _LIBRARIES:
        return
    globals_ = getattr(func, "__globals__", {})
    for name in _code_names(code):
        if name in globals_:
            yield name, globals_[name]


def _is_callable_object(obj: Any) -> bool:
    """An instance of a user's class with ``__call__`` (not a function, method or class)."""
    return (
        callable(obj)
        and not isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType))
        and _user_class(type(obj))
    )


def _user_class(cls: type) -> bool:
    return cls.__module__.split(".")[0] not in _LIBRARIES


def _attributes(owner: Any) -> Iterator[tuple[str, Any]]:
    """An instance's attributes, then its class's (and bases') attributes, user classes only."""
    yield from (vars(owner).items() if hasattr(owner, "__dict__") else ())
    for cls in type(owner).__mro__:
        if cls is not object and _user_class(cls):
            yield from vars(cls).items()


def _defaults(func: Any, code: types.CodeType) -> Iterator[tuple[str, Any]]:
    """A function's default argument values, named by their parameters."""
    defaults = getattr(func, "__defaults__", None) or ()
    positional = code.co_varnames[: code.co_argcount]
    yield from zip(positional[len(positional) - len(defaults) :], defaults, strict=False)
    yield from (getattr(func, "__kwdefaults__", None) or {}).items()


def _code_names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(n for n in _code_names(const) if n not in names)
    return names


def walk(graph: Any) -> GraphWalk:
    """Walk a compiled graph; see the module docstring."""
    found = GraphWalk()
    seen: set[int] = set()

    def add_root(root: Root, depth: int) -> None:
        shown = root.path if root.var is None else f"{root.path} ({root.var})"
        if id(root.obj) in seen:
            found.tree.append(f"{'  ' * depth}{shown}: {type(root.obj).__name__} <seen above>")
            return
        seen.add(id(root.obj))
        found.tree.append(f"{'  ' * depth}{shown}: {type(root.obj).__name__}")
        if root.agent and isinstance(root.obj, RunnableSequence):
            agent = agent_prompt_of(root.obj, root.path)
            if agent is not None:
                visit_agent(agent, depth)
        found.roots.append(root)

    def visit_agent(agent: AgentPrompt, depth: int) -> None:
        if agent.refusal is not None:
            found.refused.append(agent.refusal)
            if agent.function is not None:  # a callable prompt: its own prompts may be found
                visit_function(agent.function, agent.path, depth + 1, 1)
            return
        found.agents.append(agent)

    def visit_value(name: str | None, value: Any, path: str, depth: int, level: int) -> None:
        if is_graph(value):
            visit_graph(value, path, depth)
        elif _is_callable_node(value):
            visit_callable(value, path, depth, level)
        elif isinstance(value, (Runnable, BasePromptTemplate)):
            add_root(Root(path, value, var=name), depth)
        elif isinstance(value, SystemMessage):
            return
        elif isinstance(value, _FUNCTIONS):
            visit_function(value, path, depth, level + 1)
        elif callable(value) and isinstance(getattr(value, "__wrapped__", None), _FUNCTIONS):
            visit_function(value.__wrapped__, path, depth, level + 1)  # e.g. a ``@task``
        elif isinstance(value, (list, tuple)) and level <= MAX_DEPTH:
            for i, item in enumerate(value):
                if isinstance(item, (Runnable, BasePromptTemplate)):
                    visit_value(f"{name or ''}[{i}]", item, path, depth, level)
        elif isinstance(value, dict) and level <= MAX_DEPTH:
            for key, item in value.items():
                if isinstance(item, (Runnable, BasePromptTemplate)):
                    visit_value(f"{name or ''}[{key!r}]", item, path, depth, level)

    def visit_function(func: Callable[..., Any], path: str, depth: int, level: int) -> None:
        if level > MAX_DEPTH or id(func) in seen:
            return
        seen.add(id(func))
        agent = is_agent_model_function(func)
        for name, value in list(_named_refs(func)):
            if value is func:
                continue
            if agent and name == "static_model" and isinstance(value, Runnable):
                add_root(Root(path, value, agent=True), depth)
            else:
                visit_value(name, value, path, depth, level)

    def visit_callable(node: Any, path: str, depth: int, level: int) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if (node.func is None and node.afunc is not None) or has_async_only_tool(node):
            found.async_only = True
        for func in (node.func, node.afunc):
            if func is not None:
                visit_function(func, path, depth, level)

    def visit_graph(graph: Any, prefix: str, depth: int) -> None:
        if id(graph) in seen:
            return
        seen.add(id(graph))
        for name, node in graph.nodes.items():
            if name.startswith("__"):
                continue
            path = join(prefix, name)
            found.tree.append(f"{'  ' * depth}node {path}")
            visit_value(None, node.bound, path, depth + 1, 0)
        builder = getattr(graph, "builder", None)
        for source, branches in (getattr(builder, "branches", None) or {}).items():
            for branch_name, branch in branches.items():
                path = join(join(prefix, source), branch_name)
                found.tree.append(f"{'  ' * depth}edge {path}")
                visit_value(None, branch.path, path, depth + 1, 0)

    visit_graph(graph, "", 0)
    return found
