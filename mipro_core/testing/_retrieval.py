"""A small, deterministic BM25 retriever over a tuple of documents (pure Python)."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence

from ._text import STOPWORDS

_WORD = re.compile(r"[a-z0-9]+")
_STOP = STOPWORDS


def _terms(text: str) -> list[str]:
    return [t for t in _WORD.findall(text.lower()) if t not in _STOP]


class BM25Index:
    """Okapi BM25 (k1=1.2, b=0.75); ties are broken by document order. Thread-safe."""

    def __init__(self, documents: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> None:
        self.documents: tuple[str, ...] = tuple(documents)
        self._k1 = k1
        self._b = b
        self._postings: dict[str, list[tuple[int, int]]] = {}
        self._lengths: list[int] = []
        for doc_id, doc in enumerate(self.documents):
            terms = _terms(doc)
            self._lengths.append(len(terms))
            for term, tf in Counter(terms).items():
                self._postings.setdefault(term, []).append((doc_id, tf))
        n = max(1, len(self.documents))
        self._avg_len = sum(self._lengths) / n if self._lengths else 1.0
        self._idf = {
            term: math.log(1.0 + (n - len(p) + 0.5) / (len(p) + 0.5))
            for term, p in self._postings.items()
        }
        self._cached = functools.lru_cache(maxsize=65536)(self._rank)

    def _rank(self, query: str, k: int) -> tuple[str, ...]:
        if k < 1:
            return ()
        scores: dict[int, float] = {}
        for term in set(_terms(query)):
            idf = self._idf.get(term)
            if idf is None:
                continue
            for doc_id, tf in self._postings[term]:
                norm = self._k1 * (1 - self._b + self._b * self._lengths[doc_id] / self._avg_len)
                scores[doc_id] = scores.get(doc_id, 0.0) + idf * tf * (self._k1 + 1) / (tf + norm)
        best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
        return tuple(self.documents[doc_id] for doc_id, _ in best)

    def search(self, query: str, k: int = 3) -> list[str]:
        """The ``k`` best documents for ``query`` (fewer if fewer match)."""
        return list(self._cached(str(query), int(k)))

    __call__ = search
