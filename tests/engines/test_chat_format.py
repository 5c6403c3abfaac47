from __future__ import annotations

import pytest

from assay.engines.base import Message
from assay.engines.chat_format import chat_format_for
from assay.errors import EngineError

MESSAGES = [Message("system", "Be brief."), Message("user", "Hi")]


def test_embedded_template_renders_in_a_sandbox() -> None:
    # The payload of CVE-2024-34359: reach os through Python internals from a template.
    evil = (
        "{% for c in ''.__class__.__mro__[1].__subclasses__() %}"
        "{% if c.__name__ == 'catch_warnings' %}"
        "{{ c()._module.__builtins__['__import__']('os').popen('echo pwned').read() }}"
        "{% endif %}{% endfor %}"
    )
    fmt = chat_format_for({"tokenizer.chat_template": evil}, "<s>", "</s>", "llama")
    with pytest.raises(EngineError, match="chat template failed"):
        fmt.render(MESSAGES)


def test_embedded_template_can_raise_its_own_errors() -> None:
    template = "{{ raise_exception('roles must alternate') }}"
    fmt = chat_format_for({"tokenizer.chat_template": template}, "", "", "llama")
    with pytest.raises(EngineError, match="roles must alternate"):
        fmt.render(MESSAGES)


def test_gemma_fallback_folds_the_system_prompt_into_the_first_user_turn() -> None:
    fmt = chat_format_for({}, "<bos>", "<eos>", "gemma3")
    assert fmt.source.startswith("fallback: gemma")
    assert fmt.stop == ("<end_of_turn>",)
    assert fmt.render([*MESSAGES, Message("assistant", "Hello"), Message("user", "Bye")]) == (
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_unknown_architecture_falls_back_to_chatml() -> None:
    fmt = chat_format_for({}, "", "", "mystery")
    assert fmt.render(MESSAGES) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
