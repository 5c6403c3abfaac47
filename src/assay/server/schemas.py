"""OpenAI request and response bodies (the subset assay serves), as pydantic models."""

from __future__ import annotations

import functools
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from assay.engines import Message, SamplingParams, ToolCall, ToolSpec
from assay.engines.base import UNTIL_LIMIT


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None


class CalledFunction(BaseModel):
    name: str = Field(min_length=1)
    arguments: str = "{}"  # JSON text, as OpenAI sends it


class ToolCallBody(BaseModel):
    """A call in an assistant message of the history."""

    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: CalledFunction


class ChatMessage(BaseModel):
    # Kept, so that to_message can refuse what it would otherwise drop.
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCallBody] | None = None
    tool_call_id: str | None = None

    def to_message(self) -> Message:
        for name, value in (self.model_extra or {}).items():
            if name in ("function_call", "audio") and value:
                raise ValueError(f"a message with '{name}' is not supported: {name} is not served")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only an assistant message has tool_calls")
        if isinstance(self.content, list):
            if any(part.type != "text" for part in self.content):
                raise ValueError("only text content parts are supported")
            text = "".join(part.text or "" for part in self.content)
        else:
            text = self.content or ""
        role = "system" if self.role == "developer" else self.role
        calls = tuple(
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
            for c in self.tool_calls or ()
        )
        return Message(role=role, content=text, tool_calls=calls, tool_call_id=self.tool_call_id)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


# Fields that do not change what the answer means: accepted and not used.
HARMLESS_FIELDS = frozenset(
    {"user", "metadata", "store", "service_tier", "safety_identifier", "prompt_cache_key"}
)
# Fields assay does not honour, with why; a request that sets one to anything but its
# default is refused by name (400 unsupported_parameter), never answered as if it were absent.
UNHONOURED_FIELDS: dict[str, str] = {
    "logit_bias": "token biases are not applied",
    "response_format": "it is served on /v1/chat/completions, not here",
    "tools": "tools are served on /v1/chat/completions, not here",
    "tool_choice": "tools are served on /v1/chat/completions, not here",
    "parallel_tool_calls": "tools are served on /v1/chat/completions, not here",
    "functions": "the deprecated function-calling fields are not served; use tools",
    "function_call": "the deprecated function-calling fields are not served; use tools",
    "audio": "audio output is not served",
    "modalities": "only ['text'] is served",
    "prediction": "predicted outputs are not served",
    "reasoning_effort": "the models served here have no reasoning setting",
    "verbosity": "the models served here have no verbosity setting",
    "web_search_options": "web search is not served",
    "suffix": "insertion (suffix) is not served",
    "best_of": "only best_of=1 is served",
    "frequency_penalty": "only 0 is served (use repeat_penalty)",
    "presence_penalty": "only 0 is served (use repeat_penalty)",
}
# The value of each that means "not used", so a client that sends the default is served.
_UNUSED_VALUES: dict[str, tuple[Any, ...]] = {
    "logit_bias": (None, {}),
    "response_format": (None, {"type": "text"}),
    "tools": (None, []),
    "tool_choice": (None, "none", "auto"),
    "parallel_tool_calls": (None, True, False),  # means nothing without tools (refused)
    "functions": (None, []),
    "function_call": (None, "none", "auto"),
    "modalities": (None, ["text"]),
    "best_of": (None, 1),
    "frequency_penalty": (None, 0, 0.0),
    "presence_penalty": (None, 0, 0.0),
}


class Refusal(BaseModel):
    """A request field assay will not answer as asked: the field and why."""

    field: str
    why: str

    @property
    def message(self) -> str:
        return f"'{self.field}' is not supported here: {self.why}; remove it from the request"


class _Sampling(BaseModel):
    """Fields shared by chat and text completions. Other fields are kept (extra="allow") so
    that `refusal()` can name them: a field assay does not honour is refused, never dropped."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0)
    min_p: float = Field(default=0.05, ge=0.0, le=1.0)
    repeat_penalty: float = Field(default=1.0, gt=0.0)
    seed: int | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1, le=1, description="only n=1 is supported")
    cache_prompt: bool = True
    # vLLM's: no end of generation before min_tokens tokens; ignore_eos: none before the
    # limit (max_tokens, else what the context leaves). Stop strings still end it.
    min_tokens: int = Field(default=0, ge=0)
    ignore_eos: bool = False

    @model_validator(mode="after")
    def _min_within_max(self) -> _Sampling:
        limit = self.max_completion_tokens or self.max_tokens
        if limit is not None and self.min_tokens > limit:
            name = "max_completion_tokens" if self.max_completion_tokens else "max_tokens"
            raise ValueError(
                f"min_tokens ({self.min_tokens}) is above {name} ({limit}); lower min_tokens "
                f"or raise {name}"
            )
        return self

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    def sampling(self) -> SamplingParams:
        stops = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        max_tokens = self.max_completion_tokens or self.max_tokens
        return SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            seed=self.seed,
            max_tokens=max_tokens,
            stop=stops,
            repeat_penalty=self.repeat_penalty,
            prefix_cache=self.cache_prompt,
            logprobs=self.top_logprobs_wanted(),
            min_tokens=(max_tokens or UNTIL_LIMIT) if self.ignore_eos else self.min_tokens,
        )

    @property
    def held(self) -> str | None:
        """The field that holds the output's length (ignore_eos, min_tokens), if one does."""
        if self.ignore_eos:
            return "ignore_eos"
        return "min_tokens" if self.min_tokens > 0 else None

    def top_logprobs_wanted(self) -> int | None:
        """How many alternatives to give with each token's log probability; None: none."""
        return None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def refusal(self) -> Refusal | None:
        """The first field this request sets that assay does not honour, if any (in the
        table's order, so `tools` is named before `tool_choice`; unknown fields last)."""
        extra = self.model_extra or {}
        order = [*(name for name in UNHONOURED_FIELDS if name in extra), *extra]
        for name in dict.fromkeys(order):
            value = extra[name]
            if name in HARMLESS_FIELDS:
                continue
            if name not in UNHONOURED_FIELDS:
                return Refusal(field=name, why="assay does not know this field")
            if value not in _UNUSED_VALUES.get(name, (None,)):
                return Refusal(field=name, why=UNHONOURED_FIELDS[name])
        return None


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    # Decoding always enforces the schema, strict or not.
    strict: bool | None = None


class ResponseFormat(BaseModel):
    """OpenAI's response_format: text, any JSON object, or JSON matching a schema."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_with_its_type(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type 'json_schema' needs a 'json_schema' object (name, schema)")
        return self


class FunctionDefinition(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    # Calls forced by tool_choice are always held to the schema, strict or not.
    strict: bool | None = None


class ToolDefinition(BaseModel):
    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: FunctionName


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    response_format: ResponseFormat | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    tools: list[ToolDefinition] | None = Field(default=None, max_length=128)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool = True

    @model_validator(mode="after")
    def _top_needs_logprobs(self) -> ChatCompletionRequest:
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self

    @model_validator(mode="after")
    def _choice_among_the_tools(self) -> ChatCompletionRequest:
        names = [tool.function.name for tool in self.tools or ()]
        if len(set(names)) != len(names):
            raise ValueError("two tools have the same name")
        choice = self.tool_choice
        if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
            raise ValueError(f"tool_choice names '{choice.function.name}', which is not in tools")
        if choice == "required" and not names:
            raise ValueError("tool_choice 'required' needs tools")
        if self.forced_tools and self.constrained:
            raise ValueError("a forced tool call and a response_format cannot both hold")
        if self.logprobs and self.tool_specs:
            raise ValueError("logprobs with tools is not served; drop one of them")
        if self.held and (self.forced_tools or self.constrained):
            raise ValueError(
                f"{self.held} cannot hold with a response_format or a forced tool call, "
                "whose grammar may allow nothing but the end first; drop one of them"
            )
        return self

    @functools.cached_property
    def tool_specs(self) -> tuple[ToolSpec, ...]:
        """The tools the model is told of (none when tool_choice is 'none'); made once per
        request (the server reads them at several steps)."""
        if self.tool_choice == "none":
            return ()
        return tuple(
            ToolSpec(
                name=tool.function.name,
                description=tool.function.description,
                parameters=json.dumps(tool.function.parameters),
            )
            for tool in self.tools or ()
        )

    @functools.cached_property
    def forced_tools(self) -> tuple[ToolSpec, ...]:
        """The tools one of which must be called ('required', or the one named); else ()."""
        choice = self.tool_choice
        specs = self.tool_specs
        if choice == "required":
            return specs
        if isinstance(choice, NamedToolChoice):
            return tuple(spec for spec in specs if spec.name == choice.function.name)
        return ()

    def top_logprobs_wanted(self) -> int | None:
        return (self.top_logprobs or 0) if self.logprobs else None

    @property
    def constrained(self) -> bool:
        return self.response_format is not None and self.response_format.type != "text"

    def chat_messages(self) -> list[Message]:
        return [m.to_message() for m in self.messages]


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    max_tokens: int | None = Field(default=16, ge=1)
    echo: bool = False
    logprobs: int | None = Field(default=None, ge=0, le=20)

    @model_validator(mode="after")
    def _no_prompt_logprobs(self) -> CompletionRequest:
        if self.echo and self.logprobs is not None:
            raise ValueError(
                "echo with logprobs would need the prompt's log probabilities, which are not "
                "computed; drop one of them"
            )
        return self

    def top_logprobs_wanted(self) -> int | None:
        return self.logprobs

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("exactly one prompt is supported")
        return value

    @property
    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class EmbeddingRequest(BaseModel):
    """POST /v1/embeddings. Other fields are kept so they can be refused by name."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)

    @field_validator("input")
    @classmethod
    def _some_input(
        cls, value: str | list[str] | list[int] | list[list[int]]
    ) -> str | list[str] | list[int] | list[list[int]]:
        items = [value] if isinstance(value, str) else value
        if not items:
            raise ValueError("send at least one input")
        if len(items) > 2048:
            raise ValueError("at most 2048 inputs per request")
        if any(isinstance(item, str | list) and not item for item in items):
            raise ValueError("an input is empty; send some text or token ids")
        return value

    def inputs(self) -> list[str | list[int]]:
        """One entry per vector asked for: a text, or the token ids of one."""
        value = self.input
        if isinstance(value, str):
            return [value]
        if value and all(isinstance(item, int) for item in value):
            return [[int(item) for item in value if isinstance(item, int)]]  # one id list
        return [item for item in value if isinstance(item, str | list)]

    def refusal(self) -> Refusal | None:
        for name in self.model_extra or {}:
            if name not in HARMLESS_FIELDS:
                return Refusal(field=name, why="assay does not know this field")
        return None


# Fields of llama.cpp server's and vLLM's /tokenize that assay serves at one value only, with
# what that value means: the tokens are the text's own, as count_tokens counts them.
_TOKENIZE_FIXED: dict[str, tuple[bool, str]] = {
    "add_special": (False, "no special tokens (BOS) are added"),
    "add_special_tokens": (False, "no special tokens (BOS) are added"),
    "parse_special": (False, "special-token text is tokenized as plain text"),
    "with_pieces": (False, "the token ids alone are given"),
    "return_token_strs": (False, "the token ids alone are given"),
}


class TokenizeRequest(BaseModel):
    """POST /tokenize: llama.cpp server's body ({"content"}) or vLLM's ({"model", "prompt"}).
    Other fields are kept so they can be refused by name."""

    model_config = ConfigDict(extra="allow")

    model: str | None = Field(default=None, min_length=1)
    content: str | None = None
    prompt: str | None = None

    @model_validator(mode="after")
    def _one_text(self) -> TokenizeRequest:
        # Both, the same, is a client that speaks to either server (assay bench does).
        if self.content is None and self.prompt is None:
            raise ValueError("send the text as 'content' (llama.cpp) or as 'prompt' (vLLM)")
        if None not in (self.content, self.prompt) and self.content != self.prompt:
            raise ValueError("'content' and 'prompt' differ; send the text once")
        return self

    @property
    def text(self) -> str:
        return self.content if self.content is not None else self.prompt or ""

    def refusal(self) -> Refusal | None:
        for name, value in (self.model_extra or {}).items():
            fixed = _TOKENIZE_FIXED.get(name)
            if fixed is None:
                return Refusal(field=name, why="assay does not know this field")
            if value != fixed[0]:
                return Refusal(field=name, why=f"only {json.dumps(fixed[0])} is served: {fixed[1]}")
        return None


class DetokenizeRequest(BaseModel):
    """POST /detokenize: llama.cpp server's body ({"tokens"}) or vLLM's ({"model", "tokens"}).
    Other fields are kept so they can be refused by name."""

    model_config = ConfigDict(extra="allow")

    model: str | None = Field(default=None, min_length=1)
    tokens: list[int]

    def refusal(self) -> Refusal | None:
        for name in self.model_extra or {}:
            return Refusal(field=name, why="assay does not know this field")
        return None


class UsageBody(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Timings(BaseModel):
    """Server-side timings, named as llama.cpp's server names them."""

    prompt_n: int
    prompt_ms: float
    prompt_per_second: float | None
    predicted_n: int
    predicted_ms: float
    predicted_per_second: float | None
    queue_ms: float


def model_object(alias: str, owner: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"id": alias, "object": "model", "created": 0, "owned_by": owner, "assay": extra}
