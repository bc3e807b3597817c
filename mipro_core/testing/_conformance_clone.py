"""The clone part of the adapter conformance kit (mixed into ``AdapterConformanceTests``)."""

from __future__ import annotations

import concurrent.futures
from typing import Any, ClassVar

import pytest

from mipro_core import Program, ProgramState, Signature, Trace

from .._protocols import current_state


class CloneConformance:
    """Tests of ``clone()``: replicas for parallel trials (skipped when there is none)."""

    concurrency: ClassVar[int]

    def _program(self) -> tuple[Any, Program]:
        raise NotImplementedError

    def _inputs(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    @staticmethod
    def _signatures(program: Program) -> dict[str, Signature]:
        raise NotImplementedError

    @staticmethod
    def _calls(program: Program, trace: Trace, where: str) -> list[str]:
        raise NotImplementedError

    def snapshot(self, obj: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def _tricky(state: ProgramState, signatures: dict[str, Signature], seed: int) -> ProgramState:
        raise NotImplementedError

    @staticmethod
    def _replica(clone: Any) -> Program:
        """``clone()``, skipping the test when the object says it cannot be cloned."""
        try:
            replica: Program = clone()
        except NotImplementedError as exc:
            if not str(exc).strip():
                pytest.fail("clone() raised NotImplementedError without a reason (its message)")
            pytest.skip(f"clone() is not supported for this object: {exc}")
        return replica

    def test_clones_with_other_states_run_concurrently_like_one_by_one(self) -> None:
        """Replicas holding different states, run at once on threads with the original, give
        each the predictions and calls (module, inputs, outputs) they give one by one.

        Skipped when the program has no ``clone``. Troubleshooting: a replica's calls show
        another replica's prompt -> they share a prompt object or the tracer attributes calls
        by a name shared across replicas from state kept on a shared object; unattributed
        calls -> the replica's tracer does not know its own (copied) prompts.
        """
        _, program = self._program()
        clone = getattr(program, "clone", None)
        if not callable(clone):
            pytest.skip("the program has no clone(); parallel trials are not used")
        programs = [program, self._replica(clone), self._replica(clone)]
        signatures = self._signatures(program)
        for seed, replica in enumerate(programs[1:], start=4):
            replica.apply(self._tricky(current_state(program), signatures, seed=seed))
        inputs = self._inputs()

        def observe(p: int, i: int) -> tuple[Any, list[str]]:
            prediction, trace = programs[p].run(inputs[i])
            self._calls(programs[p], trace, f"of replica {p} on input {i}")
            return prediction, sorted(repr((c.module, c.inputs, c.outputs)) for c in trace.calls)

        jobs = [(p, i) for p in range(len(programs)) for i in range(len(inputs))]
        alone = {job: observe(*job) for job in jobs}
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            together = list(pool.map(lambda job: observe(*job), jobs * 2))
        for job, seen in zip(jobs * 2, together, strict=True):
            if seen != alone[job]:
                pytest.fail(
                    f"replica {job[0]} on input {job[1]}: a concurrent run differs from the run "
                    f"one by one:\nalone: {alone[job]}\nconcurrent: {seen}"
                )

    def test_clone_shares_no_prompt_with_original(self) -> None:
        """A replica from ``clone()`` can take another state without touching the original.

        Skipped when the program has no ``clone`` (trials then run one after another).
        Troubleshooting: the original changes -> the replica shares template/prompt objects
        with it; deep-copy them (keeping the model client shared is fine).
        """
        obj, program = self._program()
        clone = getattr(program, "clone", None)
        if not callable(clone):
            pytest.skip("the program has no clone(); parallel trials are not used")
        replica = self._replica(clone)
        original = current_state(program)
        before = self.snapshot(obj)
        changed = self._tricky(original, self._signatures(program), seed=3)
        replica.apply(changed)
        if current_state(replica) != changed:
            pytest.fail("the replica did not take the applied state")
        if current_state(program) != original or self.snapshot(obj) != before:
            pytest.fail("applying a state to the replica changed the original program")
        if list(replica.modules) != list(program.modules):
            pytest.fail("the replica has other module names than the original")
