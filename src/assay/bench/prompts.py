"""Prompt sets: the workshop's list of strings, or objects with an id and what to expect."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assay.errors import AssayError

WORKSHOP_PROMPTS = (
    "Explain the principle of retrieval augmented generation in 2 sentences.",
    "List 3 privacy benefits of local inference.",
    "Summarize why model size impacts latency on consumer hardware.",
    "Provide two scenarios where an SLM is preferable to an LLM.",
)


class Expect(BaseModel):
    """Rule checks on an answer (scored by `assay score --rules`)."""

    # populate_by_name: run.json saves the field as `json_`, and must read back.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    regex: str | None = None
    min_words: int | None = Field(default=None, ge=0)
    max_words: int | None = Field(default=None, ge=0)
    json_: bool = Field(default=False, alias="json")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _word_range(self) -> Self:
        low, high = self.min_words, self.max_words
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_words ({low}) is above max_words ({high})")
        return self

    @property
    def is_empty(self) -> bool:
        """No check at all: such a prompt gets no rule score."""
        return not (
            self.contains
            or self.not_contains
            or self.regex is not None
            or self.min_words is not None
            or self.max_words is not None
            or self.json_
        )


class Turn(BaseModel):
    """A message before the prompt in a dataset's conversation (sent as it is)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["user", "assistant"]
    content: str


class Prompt(BaseModel):
    """One prompt of a run. Besides the text, a dataset or a synthetic workload may give:
    the messages before it (`history`), the user's later turns of its conversation
    (`followups`), a length in tokens to fill with synthetic text for the target's own
    tokenizer (`input_tokens`; `prompt` then only describes it), its own `max_tokens`, held
    exactly where the target can (`hold_output`: min_tokens = max_tokens), and its arrival
    in a trace (`arrival_s`, seconds from the trace's start)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    system: str | None = None
    expect: Expect | None = None
    facets: tuple[str, ...] = ()
    reference: str | None = None
    history: tuple[Turn, ...] = ()
    followups: tuple[str, ...] = ()
    input_tokens: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    hold_output: bool = False
    arrival_s: float | None = Field(default=None, ge=0)
    # A JSON schema this prompt's answer must match (a task suite's JSON task), sent as the
    # run's --response-format is: constrained where the target can, else the prompt asks.
    json_schema: dict[str, Any] | None = None


class PromptFileError(AssayError):
    pass


# What the workshop's prompts expect, so that `assay score` can grade a default run.
_WORKSHOP_EXPECTATIONS: tuple[dict[str, Any], ...] = (
    {
        "expect": {"contains": ["retriev"], "min_words": 15, "max_words": 90},
        "facets": [
            "relevant documents or passages are retrieved from an external source",
            "the retrieved text is given to the model as context with the question",
            "the answer is grounded in that knowledge (fresher facts, fewer hallucinations)",
            "two sentences",
        ],
        "reference": (
            "Retrieval augmented generation first retrieves passages relevant to the question "
            "from an external collection, such as a vector index of documents. It then gives "
            "those passages to the language model with the question, so the answer is grounded "
            "in up-to-date, citable knowledge instead of the model's memory alone."
        ),
    },
    {
        "expect": {"contains": ["data"], "regex": r"(?m)^\s*(?:[-*•]|\d+[.)])\s", "min_words": 15},
        "facets": [
            "data never leaves the device or network (no third-party processing or logging)",
            "easier compliance with regulations such as GDPR or HIPAA",
            "no exposure in transit or in a provider's breach; works offline",
            "three distinct benefits, as a list",
        ],
        "reference": (
            "1. Prompts and data stay on your own machine, so no provider sees or logs them.\n"
            "2. Compliance is simpler (GDPR, HIPAA, data residency): nothing is sent to a third "
            "party.\n"
            "3. Less attack surface: no data in transit and no exposure in a provider's breach."
        ),
    },
    {
        "expect": {"contains": ["memory"], "min_words": 20},
        "facets": [
            "more parameters mean more computation per generated token",
            "decoding is bound by memory bandwidth: every token reads all the weights",
            "a model that does not fit in RAM or VRAM spills or offloads and slows sharply",
            "quantization or smaller models reduce the cost",
        ],
        "reference": (
            "Each generated token needs a pass over all of the model's weights, so a larger model "
            "does more arithmetic and, above all, moves more bytes through limited memory "
            "bandwidth on consumer CPUs and GPUs. When the model does not fit in VRAM or RAM, "
            "layers are offloaded or swapped and latency rises sharply; quantization and smaller "
            "models cut both costs."
        ),
    },
    {
        "expect": {
            "regex": r"(?i)offline|device|edge|mobile|latency|cost|privacy|private",
            "min_words": 20,
        },
        "facets": [
            "two distinct, concrete scenarios",
            "e.g. on-device or offline use (phones, edge, embedded, no connectivity)",
            "e.g. latency- or cost-sensitive, high-volume or narrow tasks",
            "e.g. privacy-sensitive data that must stay local",
        ],
        "reference": (
            "1. On-device or offline use, such as a phone keyboard assistant or a field device "
            "without connectivity, where a small model fits the memory and runs locally.\n"
            "2. A narrow, high-volume task such as classifying support tickets, where a small "
            "fine-tuned model is fast and cheap enough and a large model adds cost and latency "
            "without better results."
        ),
    },
)


def default_prompts() -> list[Prompt]:
    """The workshop's four prompts, with rule checks, facets and a reference answer each."""
    return [
        Prompt(id=f"p{i + 1}", prompt=text, **extra)
        for i, (text, extra) in enumerate(
            zip(WORKSHOP_PROMPTS, _WORKSHOP_EXPECTATIONS, strict=True)
        )
    ]


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
    return unique_ids(path, [_parse(path, i, item) for i, item in enumerate(data)])


def unique_ids(path: Path, prompts: list[Prompt]) -> list[Prompt]:
    """The prompts, unless two share an id (a PromptFileError naming it)."""
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
        message = first["msg"].removeprefix("Value error, ")
        raise PromptFileError(f"{path}: prompt {label}, field '{field}': {message}") from None
