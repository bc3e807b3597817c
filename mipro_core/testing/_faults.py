"""Fault injection: an LM wrapper that fails, hangs or returns junk on a chosen fraction of calls.

Which calls fault is a deterministic function of the seed and the prompt (plus the attempt
number for transient faults), so a faulty run is reproducible and a retried call can succeed.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Sequence

from .. import _errors
from .._protocols import LM, Message


class TransientLMError(_errors.TransientLMError, ConnectionError):
    """What :class:`FaultyLM` raises for an injected transient fault (retryable): a
    :class:`mipro_core.TransientLMError` that is also a ``ConnectionError``."""


class FaultyLM:
    """Wraps an :class:`~mipro_core.LM` and injects faults into a fraction of its calls.

    ``rate`` is the fraction of calls that fault; ``kinds`` chooses among ``"error"`` (a
    :class:`TransientLMError`, which the optimizer retries), ``"hang"`` (sleeps ``hang_seconds``
    then raises :class:`TimeoutError`) and ``"junk"`` (returns unparseable text). Transient faults
    depend on the attempt number, so retrying the same prompt eventually gets through; junk is a
    property of the prompt (the same prompt always gets the same junk).
    """

    def __init__(
        self,
        lm: LM,
        rate: float,
        *,
        kinds: Sequence[str] = ("error",),
        seed: int = 0,
        hang_seconds: float = 0.05,
        retry_after: float | None = 0.0,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        unknown = set(kinds) - {"error", "hang", "junk"}
        if unknown or not kinds:
            raise ValueError(f"kinds must be among 'error', 'hang', 'junk'; got {list(kinds)}")
        self.lm = lm
        self.rate = rate
        self.kinds = tuple(kinds)
        self.seed = seed
        self.hang_seconds = hang_seconds
        self.retry_after = retry_after
        self.faults: Counter[str] = Counter()
        self.calls = 0
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _draw(self, text: str) -> float:
        digest = hashlib.sha256(f"{self.seed}\x00{text}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def __call__(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        prompt = "\x1e".join(f"{m['role']}:{m['content']}" for m in messages)
        with self._lock:
            self.calls += 1
            attempt = self._attempts[prompt]
            self._attempts[prompt] += 1
        kind = self.kinds[int(self._draw("kind" + prompt) * len(self.kinds))]
        key = prompt if kind == "junk" else f"{prompt}\x00{attempt}"
        if self._draw(key) < self.rate:
            with self._lock:
                self.faults[kind] += 1
            if kind == "junk":
                return ["@@ garbled output ### " * max(1, n)][:1] * n
            if kind == "hang":
                time.sleep(self.hang_seconds)
                raise TimeoutError("injected hang: the LM did not answer in time")
            error = TransientLMError("injected transient fault (connection reset)")
            error.retry_after = self.retry_after
            raise error
        return self.lm(messages, n=n, temperature=temperature)
