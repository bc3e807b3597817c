"""The pool of style tips the proposer draws from (the paper's App. C.2 set)."""

from __future__ import annotations

TIPS: dict[str, str] = {
    "none": "",
    "creative": "Don't be afraid to be creative when writing the instruction.",
    "simple": "Keep the instruction clear and concise.",
    "description": "Make sure the instruction is very informative and descriptive.",
    "high_stakes": "The instruction should mention that the task is high stakes and needs care.",
    "persona": "Include a persona that is relevant to the task in the instruction (e.g. 'You are a ...').",
}
