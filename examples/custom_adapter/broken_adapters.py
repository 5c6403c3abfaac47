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


class Segfaults:
    """Dies of SIGSEGV mid-stream, as a native engine with a bad pointer would."""

    def load(self, weights_path: str) -> None:
        return None

    def generate(self, prompt: str, **params: Any) -> Any:
        import ctypes

        yield "Once upon"
        ctypes.string_at(0)  # reads address 0: a real segmentation fault


class IllegalInstruction:
    """Executes `ud2`, the instruction x86 CPUs define as illegal: SIGILL, as ggml's AMX
    kernels gave on a CPU that could not run them."""

    def load(self, weights_path: str) -> None:
        return None

    def generate(self, prompt: str, **params: Any) -> Any:
        import ctypes
        import mmap

        code = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        code.write(b"\x0f\x0b")  # ud2
        address = ctypes.addressof(ctypes.c_char.from_buffer(code))
        yield "Once upon"
        ctypes.CFUNCTYPE(None)(address)()
