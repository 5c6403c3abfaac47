"""An adapter that fails the way native engines do, for the runner's fault tests: what its
last message says decides what it does.

- "segfault": a real SIGSEGV (it reads address 0 through ctypes), after two words;
- "exit": os._exit(1) after two words, as a library that calls exit() would;
- "hang": two words, then it sleeps for an hour and holds its slot;
- anything else: the words of the message back, one every `DELAY_S`.

`Segfaults` does the first whatever it is asked (a benchmark's prompts say nothing of it).
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator
from typing import Any

DELAY_S = 0.02


class Faulty:
    mode: str | None = None

    def load(self, weights_path: str, **options: Any) -> None:
        self.loaded = True

    def generate(self, prompt: str, **params: Any) -> Iterator[str]:
        mode = self.mode or next((m for m in ("segfault", "exit", "hang") if m in prompt), None)
        words = prompt.split() or ["nothing"]
        for i, word in enumerate(words * 100):
            if i == 2 and mode == "segfault":
                ctypes.string_at(0)
            if i == 2 and mode == "exit":
                os._exit(1)
            if i == 2 and mode == "hang":
                time.sleep(3600)
            yield word + " "
            time.sleep(DELAY_S)


class Segfaults(Faulty):
    mode = "segfault"


class DiesLoading(Faulty):
    def load(self, weights_path: str, **options: Any) -> None:
        ctypes.string_at(0)
