"""Prompt sets: the workshop's list of strings, or objects with an id and what to expect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay.errors import AssayError

WORKSHOP_PROMPTS = (
    "Explain the principle of retrieval augmented generation in 2 sentences.",
    "List 3 privacy benefits of local inference.",
    "Summarize why model size impacts latency on consumer hardware.",
    "Provide two scenarios where an SLM is preferable to an LLM.",
)


class Expect(BaseModel):
    """Rule checks on an answer (scored by `assay score --rules`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    regex: str | None = None
    min_words: int | None = Field(default=None, ge=0)
    max_words: int | None = Field(default=None, ge=0)
    json_: bool = Field(default=False, alias="json")


class Prompt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    system: str | None = None
    expect: Expect | None = None
    facets: tuple[str, ...] = ()
    reference: str | None = None


class PromptFileError(AssayError):
    pass


def default_prompts() -> list[Prompt]:
    return [Prompt(id=f"p{i + 1}", prompt=text) for i, text in enumerate(WORKSHOP_PROMPTS)]


def load_prompts(path: Path) -> list[Prompt]:
    """Read a prompt file; errors name the file, the prompt id (or index) and the field."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise PromptFileError(f"{path}: cannot read the prompt file: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise PromptFileError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    if isinstance(data, dict) and "prompts" in data:
        data = data["prompts"]
    return parse_prompts(path, data)


def parse_prompts(path: Path, data: Any) -> list[Prompt]:
    """Prompts from already-parsed JSON (a list of strings or objects); path names the
    source in error messages."""
    if not isinstance(data, list) or not data:
        raise PromptFileError(f"{path}: expected a non-empty JSON list of prompts")
    prompts = [_parse(path, i, item) for i, item in enumerate(data)]
    seen: set[str] = set()
    for prompt in prompts:
        if prompt.id in seen:
            raise PromptFileError(f"{path}: prompt id '{prompt.id}' appears twice")
        seen.add(prompt.id)
    return prompts


def _parse(path: Path, index: int, item: Any) -> Prompt:
    if isinstance(item, str):
        if not item.strip():
            raise PromptFileError(f"{path}: prompt #{index + 1} is empty")
        return Prompt(id=f"p{index + 1}", prompt=item)
    if not isinstance(item, dict):
        raise PromptFileError(f"{path}: prompt #{index + 1} must be a string or an object")
    label = f"'{item['id']}'" if isinstance(item.get("id"), str) else f"#{index + 1}"
    try:
        return Prompt(**{"id": f"p{index + 1}", **item})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(prompt)"
        raise PromptFileError(f"{path}: prompt {label}, field '{field}': {first['msg']}") from None
