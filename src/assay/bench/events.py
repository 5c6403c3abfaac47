"""The lines of progress.jsonl: typed events, one discriminated union, read and written here.

Format 1 (before run.json had `format_version`) wrote the same keys without `model_start`
lines and without load averages or thread policies: every field added since has a default,
so format-1 files read into these models unchanged.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from assay.bench.probes import MemoryReport

# 2: model_start events; load averages, thread policy and crashes on model events.
FORMAT_VERSION = 2

ModelStatus = Literal["ok", "failed", "interrupted"]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)


class StartEvent(_Event):
    """An attempt at the run began (the first, or a resume)."""

    type: Literal["start"] = "start"
    attempt: int
    at: str


class ModelStartEvent(_Event):
    """Written before a model loads: if the process dies, the run says which model ran."""

    type: Literal["model_start"] = "model_start"
    model: str
    at: str
    load_average: list[float] = []


class LevelEvent(_Event):
    """Every request of a load level is on disk."""

    type: Literal["level"] = "level"
    model: str
    level: str


class ModelRunInfo(BaseModel):
    """What the target said about the loaded model (None where an endpoint cannot say)."""

    model_config = ConfigDict(frozen=True)

    engine: str | None = None
    engine_version: str | None = None
    threads: int | None = None
    thread_policy: str | None = None
    context_size: int | None = None
    load_seconds: float | None = None
    disk_bytes: int | None = None
    pid: int | None = None
    gpu_layers: int | None = None
    # Whose memory was sampled: "runner process" (the model's own), "this process", ...
    memory_of: str | None = None
    # Against several endpoints: how many replicas served the model.
    replicas: int | None = None
    # 1/5/15-minute load averages when the model started and when it ended.
    load_average: list[list[float]] | None = None
    # Whose tokenizer measured synthetic prompts: "engine", "server" or "approximate (...)".
    token_counter: str | None = None


class ModelEvent(_Event):
    """A model is done: ok, failed (with the reason) or interrupted."""

    type: Literal["model"] = "model"
    model: str
    status: ModelStatus
    error: str | None = None
    # The engine killed the process (a signal); a resumed run does not try the model again.
    crashed: bool = False
    info: ModelRunInfo = ModelRunInfo()
    memory: MemoryReport | None = None
    at: str | None = None

    @field_validator("memory", mode="before")
    @classmethod
    def _no_memory(cls, value: object) -> object:
        return None if value == {} else value  # format 1 wrote {} for a model that never ran


class ClientEvent(_Event):
    """The benchmark client's own lag over the attempt."""

    type: Literal["client"] = "client"
    loop_lag_p95_ms: float | None = None
    send_lag_p95_ms: float | None = None


ProgressEvent = Annotated[
    StartEvent | ModelStartEvent | LevelEvent | ModelEvent | ClientEvent,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[ProgressEvent] = TypeAdapter(ProgressEvent)


def parse_event(line: str) -> ProgressEvent:
    return _ADAPTER.validate_json(line)


def dump_event(event: ProgressEvent) -> str:
    return event.model_dump_json()
