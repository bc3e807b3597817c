"""The joint search space: per module, instruction candidates and demo sets, and the variables
the sampler chooses among them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import attrs

from .._config import SearchConfig
from .._types import Demo, ModuleState, ProgramState, stable_hash
from .._variables import VariableKey

DemoSets = Mapping[str, tuple[tuple[Demo, ...], ...]]


def config_key(params: Mapping[str, int]) -> str:
    """The identity of a configuration (its variables' indices, in any order)."""
    return stable_hash(sorted(params.items()))


def state_key(state: ProgramState) -> str:
    """Cache key of a state: equal prompts share results, however they were reached."""
    return "state-" + stable_hash(state.to_dict())


@attrs.frozen
class SearchSpace:
    """Per module: instruction candidates and demo sets; plus the variables being searched.

    Attributes:
        instructions: every module's instruction candidates (index 0 is the original).
        demo_sets: every module's demo sets (index 0 is the original demos).
        variables: the searched variables' names (``str(VariableKey)``) and candidate counts,
            in the order the sampler sees them.
    """

    instructions: Mapping[str, tuple[str, ...]]
    demo_sets: DemoSets
    variables: Mapping[str, int]

    @classmethod
    def baseline(cls, state: ProgramState) -> SearchSpace:
        """The space holding only ``state``'s prompts: nothing to search."""
        return cls(
            {n: (s.instruction,) for n, s in state.modules.items()},
            {n: (s.demos,) for n, s in state.modules.items()},
            {},
        )

    @classmethod
    def build(
        cls,
        instructions: Mapping[str, tuple[str, ...]],
        demo_sets: DemoSets,
        searched: Sequence[str],
        search: SearchConfig,
    ) -> SearchSpace:
        """The space of ``searched`` modules' candidates; a module's instruction (demo set) is a
        variable when ``search`` searches instructions (demos) and it has more than one."""
        if not search.search_demos:
            demo_sets = {n: sets[:1] for n, sets in demo_sets.items()}
        return cls(
            instructions, demo_sets, _variables({}, instructions, demo_sets, searched, search)
        )

    def grow(
        self,
        instructions: Mapping[str, tuple[str, ...]],
        searched: Sequence[str],
        search: SearchConfig,
    ) -> SearchSpace:
        """This space with larger instruction pools (a proposal round's); variables that exist
        keep their place, new ones come last."""
        variables = _variables(dict(self.variables), instructions, self.demo_sets, searched, search)
        return SearchSpace(instructions, self.demo_sets, variables)

    def state_for(self, params: Mapping[str, int]) -> ProgramState:
        """The program state a configuration chooses (a missing variable means candidate 0)."""
        return ProgramState(
            {
                name: ModuleState(
                    self.instructions[name][VariableKey.instruction(name).index_in(params)],
                    self.demo_sets[name][VariableKey.demos(name).index_in(params)],
                )
                for name in self.instructions
            }
        )

    def size(self) -> int:
        """The number of configurations."""
        return math.prod(self.variables.values()) if self.variables else 1

    def full_params(self, params: Mapping[str, int]) -> dict[str, int]:
        """``params`` with every variable of the space (0 where it has none)."""
        return {v: int(params.get(v, 0)) for v in self.variables}


def _variables(
    into: dict[str, int],
    instructions: Mapping[str, tuple[str, ...]],
    demo_sets: DemoSets,
    searched: Sequence[str],
    search: SearchConfig,
) -> dict[str, int]:
    """``into`` with the candidate count of every variable the pools give (the one place that
    decides which variables are searched)."""
    for name in searched:
        if search.search_instructions and len(instructions[name]) > 1:
            into[str(VariableKey.instruction(name))] = len(instructions[name])
        if search.search_demos and len(demo_sets[name]) > 1:
            into[str(VariableKey.demos(name))] = len(demo_sets[name])
    return into
