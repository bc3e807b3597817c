"""Seeded, process-independent random draws for the simulated model (hashlib, never ``hash()``)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

_TWO_64 = float(2**64)


def _uniform_pair(key: str) -> tuple[float, float]:
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()
    a = (int.from_bytes(digest[:8], "big") + 0.5) / _TWO_64
    b = (int.from_bytes(digest[8:], "big") + 0.5) / _TWO_64
    return a, b


def uniform(key: str) -> float:
    """A uniform number in (0, 1) determined by ``key``."""
    return _uniform_pair(key)[0]


def normal(key: str) -> float:
    """A standard normal number determined by ``key`` (Box-Muller)."""
    a, b = _uniform_pair(key)
    return math.sqrt(-2.0 * math.log(a)) * math.cos(2.0 * math.pi * b)


def prompt_digest(seed: int, text: str) -> str:
    """A short digest of the seed and the full prompt text."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{seed}\x00".encode())
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


class Draws:
    """The random draws of one sample: a pure function of (seed, prompt, temperature, sample).

    At temperature 0 every sample index gets the same draws (greedy decoding). A *decision*
    about a recognised input also mixes in a per-input latent that does not depend on the prompt
    (``item_correlation``), so hard questions stay hard across prompts, as with a real model.
    """

    def __init__(
        self, seed: int, digest: str, temperature: float, sample: int, item_correlation: float
    ) -> None:
        index = sample if temperature > 0 else 0
        self._seed = seed
        self._base = f"{seed}|{digest}|{temperature!r}|{index}"
        self._rho = item_correlation

    def uniform(self, name: str) -> float:
        return uniform(f"{self._base}|{name}")

    def choice(self, name: str, options: Sequence[T]) -> T:
        return options[int(self.uniform(name) * len(options)) % len(options)]

    def chance(self, name: str, p: float, item: str | None = None) -> bool:
        """True with probability ``p``; correlated across prompts through ``item`` if given."""
        if p <= 0.0:
            return False
        if p >= 1.0:
            return True
        if item is None:
            return self.uniform(name) < p
        z_item = normal(f"{self._seed}|item|{item}|{name}")
        z_prompt = normal(f"{self._base}|{name}")
        z = math.sqrt(self._rho) * z_item + math.sqrt(1.0 - self._rho) * z_prompt
        return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0))) < p
