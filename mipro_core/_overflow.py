"""Recognise a request that does not fit the model's context window.

Small local models have small windows (SmolLM2 on llama.cpp: 2,048 tokens): four long demos and
an instruction can exceed it. The server answers with an error (llama-cpp-python: HTTP 400,
"This model's maximum context length is 2048 tokens. However, you requested ..." with code
``context_length_exceeded``; llama.cpp itself: "Requested tokens (2243) exceed context window of
2048"; Ollama and vLLM word it similarly). Asking again cannot help: it is a property of the
prompt, so the configuration that wrote it fails, and the run goes on.
"""

from __future__ import annotations

import re

from ._transient import exception_chain

_PATTERN = re.compile(
    r"context[_ ]length[_ ]exceeded|maximum context length|exceeds? (?:the )?(?:model's )?"
    r"context (?:window|length|size)|context window of \d+|prompt is too long|"
    r"too many tokens|input (?:is )?too long|exceeds the available context",
    re.IGNORECASE,
)


def is_context_overflow(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says the prompt did not fit."""
    return any(
        getattr(link, "code", None) == "context_length_exceeded" or _PATTERN.search(str(link))
        for link in exception_chain(exc)
    )


class ContextOverflow(Exception):
    """Raised in place of a failure that :func:`is_context_overflow` recognises, so that no
    retry policy takes it for a transient fault; carries the LM calls the failed run made."""

    transient = False  # decides ``is_transient`` before the cause chain is read

    def __init__(self, failure: BaseException, lm_calls: int) -> None:
        super().__init__(f"{type(failure).__name__}: {failure}")
        self.failure = failure
        self.mipro_lm_calls = lm_calls
