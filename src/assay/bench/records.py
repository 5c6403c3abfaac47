"""One request's facts as measured, appended to requests.jsonl as soon as it completes.

Times are nanoseconds from time.perf_counter_ns, relative to the run's own zero, so
records from one run compare with each other; wall-clock time only labels the run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

TokenSource = Literal["engine", "server", "tokenizer", "chunks"]


class RequestRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    model: str
    level: str
    index: int
    round: int
    prompt_id: str
    warmup: bool = False
    attempt: int = 1
    scheduled_ns: int | None = None
    sent_ns: int
    send_delay_ns: int | None = None
    first_byte_ns: int | None = None
    first_token_ns: int | None = None
    chunk_ns: tuple[int, ...] = ()
    chunk_tokens: tuple[int, ...] = ()
    end_ns: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    token_source: TokenSource | None = None
    finish_reason: str | None = None
    error: str | None = None
    text: str = ""
    # In-process: the inference threads when the request ended ("1 of 2 (adaptive; others
    # use 1.0 cores)"); None at an endpoint, whose threads the client cannot see.
    threads: str | None = None
    # With the spec's json_schema: whether the answer parsed as JSON and matched it.
    schema_valid: bool | None = None
    # With several endpoints (replicas of one model): the base URL that answered.
    replica: str | None = None
    # The turn of its conversation (0: the first; later turns carry the history).
    turn: int = 0
    # A synthetic prompt's length in tokens, counted by the target's tokenizer (the chat
    # template's tokens come on top, in prompt_tokens).
    input_tokens: int | None = None
    # The output length asked to be held (min_tokens = max_tokens); None: not asked.
    output_tokens_asked: int | None = None

    @property
    def output_held(self) -> bool | None:
        """Whether the answer had exactly the length asked for; None when none was asked."""
        if self.output_tokens_asked is None or not self.ok:
            return None
        return self.completion_tokens == self.output_tokens_asked

    # A reasoning model's reply (all None for a reply without reasoning; `text` is the content
    # as sent, a think block included, and reasoning sent in a field is not kept): when its
    # first answer token came (None: it never got past reasoning, or was not streamed), and
    # how many of its completion tokens were reasoning, counted how (see bench/reasoning.py).
    first_output_ns: int | None = None
    reasoning_tokens: int | None = None
    reasoning_source: TokenSource | None = None

    # Not sent, and why: "does not fit: ..." when the prompt and its max_tokens pass the
    # model's context (a status of the results, neither an error nor a truncation).
    skipped: str | None = None
    # With a JSON schema: how the target was held to it: "grammar" (in-process),
    # "response_format" (an endpoint's json_schema), or "instruction" (only the prompt asks).
    structured: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.skipped is None
