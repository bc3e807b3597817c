"""Run mipro's adapter conformance kit against the toy adapter (installed, via its entry point)."""

from __future__ import annotations

from typing import Any

from mipro_toy_adapter import ToyChain, ToyLLM, ToyStep

from mipro_core.testing.conformance import AdapterConformanceTests


def build_chain() -> ToyChain:
    return ToyChain(
        [
            ToyStep("summarize", "Text: {text}", "summary", instruction="Summarize the text."),
            ToyStep(
                "title",
                "Summary: {summary}\nAudience: {audience}",
                "title",
                instruction="Write a title.",
                examples=[
                    {"inputs": {"summary": "s", "audience": "kids"}, "outputs": {"title": "t"}}
                ],
            ),
        ],
        ToyLLM(),
    )


class TestToyAdapter(AdapterConformanceTests):
    def make_object(self) -> Any:
        return build_chain()

    def make_inputs(self) -> list[dict[str, Any]]:
        return [{"text": f"document {i} {{with braces}}", "audience": "adults"} for i in range(6)]

    def snapshot(self, obj: Any) -> Any:
        # The real prompts: what each step would render for a fixed input.
        variables = {"text": "T", "summary": "S", "audience": "A"}
        return [step.render(variables) for step in obj.steps]
