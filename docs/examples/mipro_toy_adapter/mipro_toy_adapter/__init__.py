"""mipro-toy-adapter: optimize ToyChain prompts with mipro (an example third-party adapter)."""

__version__ = "0.1.0"

from .adapter import ToyLM, ToyModule, ToyProgram
from .toychain import ToyChain, ToyLLM, ToyStep

__all__ = ["ToyChain", "ToyLLM", "ToyLM", "ToyModule", "ToyProgram", "ToyStep", "__version__"]
