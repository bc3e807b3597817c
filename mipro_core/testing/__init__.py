"""Offline testing tools: a simulated LM, bundled tasks, an OpenAI-compatible server and a
fault-injecting proxy to put in front of it.

Everything here is deterministic and needs no network. See ``docs/simulated-lm.md`` for the
mechanisms of :class:`SimulatedLM` and the bundled tasks.
"""

from ._faults import FaultyLM, TransientLMError
from ._params import SimParams
from ._proxy import FaultProxy
from ._server import OpenAICompatibleServer, serve_openai_compatible
from ._simulated_lm import SimulatedLM
from ._tasks import TASK_NAMES, Task, load_task
from ._text import answer_text
from ._tool_task import ToolTask, load_tool_task

__all__ = [
    "TASK_NAMES",
    "FaultProxy",
    "FaultyLM",
    "OpenAICompatibleServer",
    "SimParams",
    "SimulatedLM",
    "Task",
    "ToolTask",
    "TransientLMError",
    "answer_text",
    "load_task",
    "load_tool_task",
    "serve_openai_compatible",
]
