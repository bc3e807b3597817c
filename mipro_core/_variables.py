"""The names of the search variables: one typed key per (module, kind) pair.

A configuration (``Trial.params``, the journal, the sampler's history) maps variable names to
candidate indices. The names are strings for users and files (``"<module>.instruction"``,
``"<module>.demos"``); inside mipro they are built from and parsed into :class:`VariableKey`,
so the format is written in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import attrs

VariableKind = Literal["instruction", "demos"]


@attrs.frozen
class VariableKey:
    """The search variable choosing ``module``'s instruction or demo set.

    ``str(key)`` is the name used in ``Trial.params``, journals and artifacts.
    """

    module: str
    kind: VariableKind

    @classmethod
    def instruction(cls, module: str) -> VariableKey:
        """The variable choosing ``module``'s instruction candidate."""
        return cls(module, "instruction")

    @classmethod
    def demos(cls, module: str) -> VariableKey:
        """The variable choosing ``module``'s demo set."""
        return cls(module, "demos")

    @classmethod
    def parse(cls, name: str) -> VariableKey:
        """The key named ``name`` (a module name may itself contain dots).

        Raises:
            ValueError: ``name`` does not end in ``.instruction`` or ``.demos``.
        """
        module, _, kind = name.rpartition(".")
        if not module or kind not in ("instruction", "demos"):
            raise ValueError(f"{name!r} is not a search variable name")
        return cls(module, "instruction" if kind == "instruction" else "demos")

    def __str__(self) -> str:
        return f"{self.module}.{self.kind}"

    def index_in(self, params: Mapping[str, int]) -> int:
        """The candidate ``params`` chooses for this variable (0, the original, when absent)."""
        return int(params.get(str(self), 0))


def changed_count(params: Mapping[str, int]) -> int:
    """How many variables the configuration ``params`` sets off their original candidate (0):
    among configurations tied at the best score, the fewest changes wins."""
    return sum(1 for index in params.values() if index != 0)
