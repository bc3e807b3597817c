"""Agent demos as worked examples: a traced conversation with tool calls, rendered as text.

A demo never executes a tool. When a demo's conversation holds tool calls or tool results (an
agent's step), it is shown as one prior exchange: the user turn carries the question and then
the steps as text lines ("called calculator with {...}", "calculator returned: ..."), the
assistant turn the demo's answer. No ``AIMessage.tool_calls`` and no ``ToolMessage`` reach the
prompt, so nothing in a demo can be mistaken for a call to run or a call awaiting its result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

HEADER = "Worked example (the tools were already run; their calls and results are shown as text):"


def has_tool_steps(messages: Sequence[BaseMessage]) -> bool:
    """Whether a conversation holds tool calls or tool results."""
    return any(
        isinstance(m, ToolMessage) or (isinstance(m, AIMessage) and m.tool_calls) for m in messages
    )


def _step_lines(message: BaseMessage) -> list[str]:
    text = str(message.text).strip()
    if isinstance(message, ToolMessage):
        return [f"- {message.name or 'the tool'} returned: {text}"]
    if isinstance(message, AIMessage):
        lines = [f"- assistant: {text}"] if text else []
        for call in message.tool_calls:
            arguments = json.dumps(call["args"], ensure_ascii=False, sort_keys=True, default=str)
            lines.append(f"- called {call['name']} with {arguments}")
        return lines
    return [f"- {message.type}: {text}"] if text else []


def worked_example(conversation: Sequence[BaseMessage], answer: str) -> list[BaseMessage]:
    """A user turn with the question and the steps as text, then the answer as the reply."""
    messages = list(conversation)
    opening = ""
    if messages and messages[0].type == "human":
        opening = str(messages.pop(0).text).strip()
    steps = [line for message in messages for line in _step_lines(message)]
    text = "\n\n".join(part for part in (opening, "\n".join([HEADER, *steps])) if part)
    return [HumanMessage(content=text), AIMessage(content=answer)]
