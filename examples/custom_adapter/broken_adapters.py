"""Adapters that fail on purpose, for assay's error-path tests."""

from __future__ import annotations

from typing import Any


class NoGenerate:
    def load(self, weights_path: str) -> None:
        return None


class FailsToGenerate:
    def load(self, weights_path: str) -> None:
        return None

    def generate(self, prompt: str, **params: Any) -> str:
        raise ValueError("the GPU caught fire")


class FailsMidStream:
    def load(self, weights_path: str) -> None:
        return None

    def generate(self, prompt: str, **params: Any) -> Any:
        yield "Once upon"
        raise ValueError("lost the thread")


class PlainText:
    """Reports no usage, so assay counts it with a tokenizer."""

    def load(self, weights_path: str) -> None:
        return None

    def generate(self, prompt: str, **params: Any) -> str:
        return "Local inference keeps data on the device. STOP here."
