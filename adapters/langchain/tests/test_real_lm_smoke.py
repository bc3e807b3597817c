"""Smoke test on a real model: SmolLM2-135M on a local llama.cpp server (benchmarks/real_lm).

Runs only when the server's venv and the model exist (``python benchmarks/real_lm/run.py`` builds
them, ~20 minutes; CI does not): under ``$MIPRO_REAL_LM_HOME`` (default
``~/.cache/mipro-real-lm``) as ``venv/`` and ``model/``, or where ``MIPRO_REAL_LM_VENV`` and
``MIPRO_REAL_LM_MODEL_DIR`` point. A tiny budget on the sentiment task: the run completes and its
artifact applies to a freshly built chain. Under two minutes on 2 cores.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc

pytestmark = pytest.mark.real_lm

REAL_LM = Path(__file__).resolve().parents[3] / "benchmarks" / "real_lm"


def _setup() -> tuple[Path, Path]:
    sys.path.insert(0, str(REAL_LM))
    import server

    home = server.DEFAULT_HOME
    venv = Path(os.environ.get("MIPRO_REAL_LM_VENV", home / "venv"))
    model = Path(os.environ.get("MIPRO_REAL_LM_MODEL_DIR", home / "model")) / server.MODEL_FILE
    if not model.is_file():
        pytest.skip(f"no SmolLM2 model at {model}: run python benchmarks/real_lm/run.py once")
    if not server.has_server(venv):
        pytest.skip(f"no llama-cpp-python[server] venv at {venv}: run benchmarks/real_lm/run.py")
    return server.venv_python(venv), model


def test_a_tiny_run_on_the_real_model_completes_and_its_artifact_applies(tmp_path: Path) -> None:
    pytest.importorskip("langchain_openai", reason="needs langchain-openai")
    python, model = _setup()
    import run
    import server
    import tasks

    with server.LlamaServer(python, model, log=tmp_path / "server.log") as srv:
        chain = tasks.build("sentiment", run.chat_model(srv.base_url, 16))
        train = tasks.examples("sentiment", "train")[:8]
        val = tasks.examples("sentiment", "val")[:6]
        result = mc.optimize(
            chain, train, run.metric_for("sentiment"), valset=val, max_lm_calls=30, num_candidates=2,
            minibatch_size=6, num_threads=2, seed=1, progress=False,
            proposer_lm=run.chat_model(srv.base_url, 80),
        )  # fmt: skip
        assert result.lm_calls <= 30 + 2  # runs in flight may finish past the cap
        path = result.save(tmp_path / "artifact.json")
        fresh: Any = tasks.build("sentiment", run.chat_model(srv.base_url, 16))
        mc.apply(fresh, path)
        # the fresh chain's prompts now read back exactly as the optimized chain's do
        assert mc.current_state(mc.adapt(fresh)) == mc.current_state(mc.adapt(chain))
        assert isinstance(fresh.invoke(val[0].inputs), str)
