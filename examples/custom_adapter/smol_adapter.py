"""A custom model class for assay: your own code, assay's run, serve and bench around it.

It drives llama-cpp-python's high-level API directly (its own sampling and its own
create_completion streaming, not assay's engine) with a hand-written chat prompt. Any class
with `load(weights_path)` and `generate(prompt, **params)` plugs in the same way; register it
in models.json:

    {"smol-adapter": {"adapter": "smol_adapter:SmolChat",
                      "weights": "/path/to/SmolLM2-135M-Instruct.Q4_1.gguf",
                      "capabilities": ["chat", "completion"]}}

with this folder on PYTHONPATH (or install it as a package that declares the entry point
`[project.entry-points."assay.adapters"] smol-adapter = "smol_adapter:SmolChat"`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


class SmolChat:
    """SmolLM2-style chat over llama-cpp-python, streaming text as it is produced."""

    def __init__(self) -> None:
        self.llm: Any = None
        self.last_usage: dict[str, int] | None = None

    def load(self, weights_path: str, **options: Any) -> None:
        from llama_cpp import Llama

        self.llm = Llama(weights_path, n_ctx=2048, verbose=False)

    def chat(self, messages: list[dict[str, str]], **params: Any) -> Iterator[str]:
        if not messages or messages[0]["role"] != "system":
            messages = [{"role": "system", "content": DEFAULT_SYSTEM}, *messages]
        prompt = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return self.generate(prompt + "<|im_start|>assistant\n", **params)

    def generate(self, prompt: str, **params: Any) -> Iterator[str]:
        if self.llm is None:
            raise RuntimeError("load() first")
        self.llm.reset()
        stream = self.llm.create_completion(
            prompt,
            max_tokens=params.get("max_tokens") or 256,
            temperature=params.get("temperature", 0.8),
            top_p=params.get("top_p", 0.95),
            top_k=params.get("top_k", 40),
            seed=params.get("seed"),
            stop=["<|im_end|>", *(params.get("stop") or [])],
            stream=True,
        )
        completion = 0
        for part in stream:
            text = part["choices"][0]["text"]
            if text:
                completion += 1
                yield text
        prompt_tokens = len(self.llm.tokenize(prompt.encode(), add_bos=False, special=True))
        self.last_usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion}

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=False))
