"""An engine from outside assay, for the tests: it echoes the last message back, word by word.

Tests register it under the entry-point group `assay.engines` (monkeypatched) as an installed
package would; it declares what it can do through LoadedModelBase, as any model does. It
stands for a plugin (and holds its replies until a test opens its gate); a test that only
needs a model without weights uses the built-in fake engine, `assay.engines.fake`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from assay.engines import (
    CancelToken,
    Chunk,
    EngineContext,
    LoadedModelBase,
    LoadOptions,
    Message,
    ModelInfo,
    SamplingParams,
    Usage,
)
from assay.engines.loading import LoadMeter, check_grammar, model_info


class EchoEngine:
    name = "echo"

    def __init__(self, parallel: int = 1, gate: threading.Event | None = None) -> None:
        self.parallel = parallel
        self.gate = gate

    def estimate_load_bytes(self, path: Path, options: LoadOptions) -> int:
        return 0

    def load(self, path: Path, options: LoadOptions) -> EchoModel:
        meter = LoadMeter()
        info = model_info(
            path,
            meter.stop(),
            engine=self.name,
            engine_version="echo 1",
            architecture="echo",
            threads=1,
            context_size=options.context_for(0),
            chat_template_source="none",
        )
        model = EchoModel(info, self.gate)
        model.parallel = self.parallel
        return model


class EchoModel(LoadedModelBase):
    """Replies with the last message; waits for the gate first when there is one."""

    def __init__(self, info: ModelInfo, gate: threading.Event | None) -> None:
        self.info = info
        self._gate = gate

    def chat(
        self, messages: Sequence[Message], params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        return self.complete(messages[-1].content, params, cancel)

    def complete(
        self, prompt: str, params: SamplingParams, cancel: CancelToken | None = None
    ) -> Iterator[Chunk]:
        check_grammar(self, params)
        return self._echo(prompt)

    def _echo(self, prompt: str) -> Iterator[Chunk]:
        if self._gate is not None:
            self._gate.wait(30)
        words = prompt.split()
        for word in words:
            yield Chunk(word + " ", 1)
        yield Chunk("", 0, "stop", Usage(len(words), len(words)))

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def close(self) -> None:
        return None


def create(context: EngineContext) -> EchoEngine:
    """The factory an entry point names: `echo = "tests.engines.echo_engine:create"`."""
    return EchoEngine()
