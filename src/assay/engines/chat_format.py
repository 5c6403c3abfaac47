"""Chat prompts from a model's own template, rendered in a Jinja sandbox.

A GGUF file's chat template is untrusted input (CVE-2024-34359: a template ran code through
an unsandboxed Jinja environment), so templates render only in Jinja's immutable sandbox.
Files without a template get a per-architecture fallback, and the source is recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from assay.engines.base import Message, ToolSpec
from assay.engines.tools import call_block, fallback_instructions, response_block
from assay.errors import EngineError

_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Gemma has no system role: the system text is folded into the first user turn.
_GEMMA = (
    "{{ bos_token }}{% for m in messages %}"
    "<start_of_turn>{{ 'model' if m.role == 'assistant' else 'user' }}\n"
    "{{ m.content | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
_PHI3 = (
    "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_LLAMA3 = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>"
    "\n\n{{ m.content | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


@dataclass(frozen=True)
class Fallback:
    name: str
    template: str
    stop: tuple[str, ...]
    fold_system: bool = False


_FALLBACKS = {
    "gemma": Fallback("gemma", _GEMMA, ("<end_of_turn>",), fold_system=True),
    "chatml": Fallback("chatml", _CHATML, ("<|im_end|>",)),
    "phi3": Fallback("phi3", _PHI3, ("<|end|>",)),
    "llama3": Fallback("llama3", _LLAMA3, ("<|eot_id|>",)),
}
_ARCH_FALLBACK = {"gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma", "phi3": "phi3"}


@dataclass(frozen=True)
class ChatFormat:
    """A compiled chat template and where it came from."""

    template: jinja2.Template
    source: str
    stop: tuple[str, ...]
    bos_token: str
    eos_token: str
    fold_system: bool
    # The template reads the Jinja `tools` variable (Qwen 2.5's, Llama 3.1's do).
    knows_tools: bool = False

    def render(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> str:
        """The prompt. Tools, calls and results go where the template puts them; a template
        that knows nothing of tools gets them in assay's fallback format (engines/tools)."""
        if self.knows_tools:
            items = [_item(m) for m in messages]
        else:
            items = _without_tool_turns(messages, tools)
        if self.fold_system:
            items = _fold_system(items)
        extra = {"tools": [t.openai() for t in tools]} if tools and self.knows_tools else {}
        try:
            return self.template.render(
                messages=items,
                add_generation_prompt=True,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                **extra,
            )
        except jinja2.TemplateError as exc:
            raise EngineError(f"the model's chat template failed ({self.source}): {exc}") from None


def _item(message: Message) -> dict[str, Any]:
    """A message as tool-aware templates read it (OpenAI's shape, arguments as objects)."""
    item: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        item["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": _arguments(call.arguments)},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        item["tool_call_id"] = message.tool_call_id
    return item


def _arguments(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _without_tool_turns(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> list[Any]:
    """Plain turns: the tool list as a system message, calls and results in the fallback's
    tags, for a template that has no place for them."""
    items: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            items.append({"role": "user", "content": response_block(m.content)})
        elif m.tool_calls:
            blocks = "\n".join(call_block(call) for call in m.tool_calls)
            text = f"{m.content}\n{blocks}" if m.content else blocks
            items.append({"role": m.role, "content": text})
        else:
            items.append({"role": m.role, "content": m.content})
    if tools:
        instructions = fallback_instructions(tools)
        if items and items[0]["role"] == "system":
            items[0] = {"role": "system", "content": f"{items[0]['content']}\n\n{instructions}"}
        else:
            items.insert(0, {"role": "system", "content": instructions})
    return items


def chat_format_for(
    metadata: dict[str, str], bos_token: str, eos_token: str, architecture: str
) -> ChatFormat:
    """The GGUF's own template when it has one, else the fallback for its architecture."""
    embedded = metadata.get("tokenizer.chat_template")
    if embedded:
        return chat_format_from_template(embedded, "gguf metadata", bos_token, eos_token)
    return fallback_format(architecture, bos_token, eos_token)


def chat_format_from_template(
    template: str, source: str, bos_token: str, eos_token: str
) -> ChatFormat:
    """A model's own Jinja template (untrusted: compiled in the sandbox)."""
    try:
        compiled = _environment().from_string(template)
    except jinja2.TemplateSyntaxError as exc:
        raise EngineError(f"the model's chat template does not parse: {exc}") from None
    knows_tools = re.search(r"\btools\b", template) is not None
    return ChatFormat(compiled, source, (), bos_token, eos_token, False, knows_tools)


def fallback_format(architecture: str, bos_token: str, eos_token: str) -> ChatFormat:
    fallback = _FALLBACKS[fallback_name(architecture)]
    return ChatFormat(
        _environment().from_string(fallback.template),
        f"fallback: {fallback.name} (the file has no chat template)",
        fallback.stop,
        bos_token,
        eos_token,
        fallback.fold_system,
    )


def fallback_name(architecture: str) -> str:
    return _ARCH_FALLBACK.get(architecture, "chatml")


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


def _raise_exception(message: str) -> Any:
    raise jinja2.TemplateError(message)


def _fold_system(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    system = "\n\n".join(m["content"] for m in items if m["role"] == "system")
    rest = [m for m in items if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0] = {"role": "user", "content": f"{system}\n\n{rest[0]['content']}"}
    elif system:
        rest.insert(0, {"role": "user", "content": system})
    return rest
