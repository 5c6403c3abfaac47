"""What a benchmark run measures: the spec saved in run.json, and the plan of levels."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, Field, field_validator, model_validator

from assay.bench.prompts import Prompt
from assay.bench.workload import TokenDist
from assay.units import parse_seconds

LevelKind = Literal["warmup", "sequential", "concurrency", "rate", "trace"]
# The concurrency of a sweep's throughput level when --concurrency gives none.
SWEEP_CONCURRENCY = 16
Device = Literal["auto", "cpu", "gpu"]
# How requests are spread over several endpoints (replicas of one model): in turn, or to
# the one with the fewest requests in flight (ties in turn).
Balance = Literal["round-robin", "least"]


class Slo(BaseModel):
    """Service-level objectives: a request that meets every one given counts toward goodput.

    `ttft_s`: from sending to the first content token; `tpot_s`: the request's time per
    output token after the first, (E2E - TTFT) / (tokens - 1), what vLLM's `--goodput tpot`
    and AIPerf's per-request inter-token latency hold; `e2e_s`: from sending to the end."""

    ttft_s: float | None = Field(default=None, gt=0)
    tpot_s: float | None = Field(default=None, gt=0)
    e2e_s: float | None = Field(default=None, gt=0)

    def describe(self) -> str:
        parts = [
            f"{name} <= {value * 1000:g} ms"
            for name, value in (("TTFT", self.ttft_s), ("TPOT", self.tpot_s), ("E2E", self.e2e_s))
            if value is not None
        ]
        return ", ".join(parts)


_SLO_KEYS = {"ttft": "ttft_s", "tpot": "tpot_s", "itl": "tpot_s", "e2e": "e2e_s", "e2el": "e2e_s"}


def parse_slo(text: str) -> Slo:
    """`ttft=300ms,itl=50ms,e2e=5s` (any subset; `itl` and `tpot` are one objective, the
    request's time per output token); a ValueError naming what is wrong."""
    fields: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        name = _SLO_KEYS.get(key.strip().lower())
        if not sep or name is None:
            raise ValueError(
                f"bad objective '{part}'; write e.g. ttft=300ms,itl=50ms,e2e=5s "
                "(keys: ttft, itl or tpot, e2e)"
            )
        seconds = parse_seconds(value)
        if seconds <= 0:
            raise ValueError(f"objective '{part}' must be above zero")
        fields[name] = seconds
    if not fields:
        raise ValueError("no objective given; write e.g. ttft=300ms,itl=50ms,e2e=5s")
    return Slo(**fields)


def split_endpoints(text: str) -> list[str]:
    """`URL1,URL2,...`: each an http(s) URL, none twice; a ValueError naming what is wrong."""
    urls = [part.strip() for part in text.split(",") if part.strip()]
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"'{url}' is not an http(s) URL; write e.g. http://10.0.0.5:8000/v1")
    twice = next((url for i, url in enumerate(urls) if url in urls[:i]), None)
    if twice is not None:
        raise ValueError(f"'{twice}' is given twice; list each replica once")
    return urls


class BenchSpec(BaseModel):
    name: str = "bench"
    models: list[str] = Field(min_length=1)
    # cpu, gpu or auto; several run each model once per device ("alias@gpu").
    devices: list[Device] = Field(default_factory=lambda: list[Device](["auto"]))
    prompts: list[Prompt] = Field(min_length=1)
    rounds: int = Field(default=3, ge=1)
    warmup: int = Field(default=1, ge=0)
    max_tokens: int = Field(default=150, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    seed: int | None = 1234
    stream: bool = True
    threads: int | None = Field(default=None, ge=1)
    context_size: int | None = Field(default=None, ge=64)
    # An OpenAI-compatible base URL; several, comma-separated, are replicas of each model.
    endpoint: str | None = None
    balance: Balance = "round-robin"
    concurrency: list[int] = Field(default_factory=list)
    requests: int | None = Field(default=None, ge=1)
    duration_s: float | None = Field(default=None, gt=0)
    rate: float | None = Field(default=None, gt=0)
    allow_prefix_cache: bool = False
    timeout_s: float = Field(default=300.0, gt=0)
    # A JSON schema every answer must match, sent with each request (response_format; a
    # grammar in-process); each record says whether its answer parsed and validated.
    json_schema: dict[str, Any] | None = None
    # Objectives a request must meet to count toward goodput (per level, in the summary).
    slo: Slo | None = None
    # Synthetic prompts: lengths in tokens (the prompts carry each one's draw).
    input_tokens: TokenDist | None = None
    output_tokens: TokenDist | None = None
    # Where the prompts came from, when a dataset or trace file (its name, format, rows).
    dataset: str | None = None
    # A task suite's prompts ("meeting-notes", "meeting-notes:mn01,mn09", "workshop").
    suite: str | None = None
    # A trace replays its arrival times divided by this (2: twice as fast).
    time_scale: float = Field(default=1.0, gt=0)
    # Conversations of this many user turns; later turns carry the history.
    turns: int = Field(default=1, ge=1)
    # The whole plan this many times, models interleaved, for intervals across repeats.
    repeat: int = Field(default=1, ge=1)
    # A throughput level, then `sweep_rates` rates up to its request rate; the highest rate
    # whose share of requests meeting the SLOs stays at or above `slo_target` is reported.
    sweep: bool = False
    sweep_rates: int = Field(default=5, ge=2, le=20)
    slo_target: float = Field(default=0.9, gt=0, le=1)

    @model_validator(mode="after")
    def _coherent(self) -> BenchSpec:
        trace = self.is_trace
        if self.sweep and self.slo is None:
            raise ValueError("--sweep needs --slo: the objectives whose goodput it follows")
        if self.sweep and self.rate is not None:
            raise ValueError("--sweep sets its own rates; drop --rate")
        if self.sweep and len(self.concurrency) > 1:
            raise ValueError("--sweep takes one --concurrency (its throughput level's)")
        if trace and (self.concurrency or self.rate is not None or self.sweep):
            raise ValueError(
                "a trace sets its own schedule; drop --concurrency, --rate and --sweep"
            )
        if trace and self.turns > 1:
            raise ValueError("a trace's rows are single requests; drop --turns")
        if self.time_scale != 1.0 and not trace:
            raise ValueError("--time-scale applies to a trace (--dataset with arrival times)")
        return self

    @property
    def is_trace(self) -> bool:
        return any(p.arrival_s is not None for p in self.prompts)

    @field_validator("endpoint")
    @classmethod
    def _replicas(cls, value: str | None) -> str | None:
        if value is None or "," not in value:
            return value  # one URL: as before (an old run.json loads as it was written)
        return ",".join(split_endpoints(value))

    @model_validator(mode="after")
    def _balance_needs_replicas(self) -> BenchSpec:
        if self.balance != "round-robin" and len(self.endpoints()) < 2:
            raise ValueError("balance spreads requests over several endpoints; give 2 or more")
        return self

    def endpoints(self) -> list[str]:
        """The endpoint's replicas: one URL, several, or none (in-process)."""
        return [url.strip() for url in (self.endpoint or "").split(",") if url.strip()]

    def run_names(self) -> list[str]:
        """What each model is called in this run: the model, or model@device."""
        if len(self.devices) == 1:
            return list(self.models)
        return [f"{model}@{device}" for model in self.models for device in self.devices]

    def device_of(self, run_name: str) -> str:
        return run_name.rpartition("@")[2] if "@" in run_name else self.devices[0]


def model_of(run_name: str) -> str:
    """The catalog name inside a run name ("alias:variant@gpu" -> "alias:variant")."""
    return run_name.rpartition("@")[0] if "@" in run_name else run_name


@dataclass(frozen=True)
class Level:
    """A load level. `count`: conversations to run (each of `turns` requests; one request
    when turns is 1), None when the level runs for `duration_s` instead."""

    name: str
    kind: LevelKind
    count: int | None
    concurrency: int = 1
    rate: float | None = None
    duration_s: float | None = None


# At most this many requests per warm-up pass: a dataset's thousand rows need not all warm up.
_WARMUP_PER_PASS = 8
SWEEP_MAX = "sweep-max"


def plan(spec: BenchSpec) -> list[Level]:
    """Warm-up first, then the timed levels: sequential rounds by default (the workshop's
    method), or the concurrency sweep and/or the open-loop rate when asked for, or a
    trace's own schedule, or a sweep's throughput level (its rates follow from it:
    `sweep_levels`)."""
    n_prompts = len(spec.prompts)
    levels: list[Level] = []
    if spec.warmup:
        levels.append(Level("warmup", "warmup", spec.warmup * min(n_prompts, _WARMUP_PER_PASS)))
    if spec.is_trace:
        return [*levels, Level("trace", "trace", n_prompts)]
    if spec.sweep:
        c = spec.concurrency[0] if spec.concurrency else SWEEP_CONCURRENCY
        count = None if spec.duration_s else (spec.requests or max(spec.rounds * n_prompts, 4 * c))
        return [*levels, Level(SWEEP_MAX, "concurrency", count, c, duration_s=spec.duration_s)]
    if not spec.concurrency and spec.rate is None:
        levels.append(Level("sequential", "sequential", spec.rounds * n_prompts))
    for c in spec.concurrency:
        count = None if spec.duration_s else (spec.requests or max(spec.rounds * n_prompts, 4 * c))
        levels.append(Level(f"c{c}", "concurrency", count, c, duration_s=spec.duration_s))
    if spec.rate is not None:
        count = None if spec.duration_s else (spec.requests or spec.rounds * n_prompts)
        levels.append(
            Level(f"rate{spec.rate:g}", "rate", count, rate=spec.rate, duration_s=spec.duration_s)
        )
    return levels


def sweep_levels(spec: BenchSpec, max_rate: float) -> list[Level]:
    """The sweep's open-loop rates: `sweep_rates` steps from max_rate/steps up to max_rate,
    the request rate its throughput level reached."""
    steps = spec.sweep_rates
    count = None if spec.duration_s else (spec.requests or spec.rounds * len(spec.prompts))
    return [
        Level(
            f"sweep{k}",
            "rate",
            count,
            rate=round(max_rate * k / steps, 4),
            duration_s=spec.duration_s,
        )
        for k in range(1, steps + 1)
    ]


def in_repeat(level: Level, repeat: int, repeats: int) -> Level:
    """The level as run in REPEAT (0-based) of REPEATS: "c4" becomes "c4#2" in the second."""
    if repeats == 1:
        return level
    return replace(level, name=f"{level.name}#{repeat + 1}")


def base_level(name: str) -> str:
    """The level's name without its repeat ("c4#2" -> "c4")."""
    return name.partition("#")[0]


def repeat_of(name: str) -> int:
    """The 0-based repeat a level name belongs to ("c4#2" -> 1; "c4" -> 0)."""
    _, sep, number = name.partition("#")
    return int(number) - 1 if sep and number.isdigit() else 0
