"""summary.json: per model and load level, computed from a run directory's files alone."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Literal

from pydantic import BaseModel, field_validator

from assay.bench import metrics as m
from assay.bench.events import ClientEvent, ModelEvent, ModelRunInfo, ProgressEvent
from assay.bench.probes import MemoryReport
from assay.bench.records import RequestRecord
from assay.bench.replica_summary import ReplicaSummary, replica_summaries
from assay.bench.rundir import RunDir
from assay.bench.server_metrics import ServerSample, ServerSide, read_samples, summarize_samples
from assay.bench.spec import (
    SWEEP_MAX,
    BenchSpec,
    Level,
    Slo,
    base_level,
    plan,
    repeat_of,
    sweep_levels,
)

SUMMARY_VERSION = 2


class LevelSummary(BaseModel):
    level: str
    kind: str
    concurrency: int
    rate: float | None
    requests: int
    errors: int
    duration_s: float
    request_throughput: float | None
    output_tokens_per_second: float | None
    token_sources: list[str]
    ttft_s: m.Stats | None
    itl_s: m.Stats | None
    tpot_s: m.Stats | None
    e2e_s: m.Stats | None
    decode_tokens_per_second: m.Stats | None
    total_tokens_per_second: m.Stats | None
    prompt_tokens: m.Stats | None
    completion_tokens: m.Stats | None
    first_error: str | None
    # With a json_schema: the share of answered requests whose answer matched it.
    schema_valid_rate: float | None = None
    # With SLOs: the share of the level's requests (failed ones included) that met every
    # objective, and those good requests per second of the level (goodput).
    slo_met_rate: float | None = None
    goodput: float | None = None
    # Requests not sent because they do not fit the model's context ("does not fit");
    # None when every request was sent.
    skipped: int | None = None
    # With reasoning in any answered request (else None, as for a model that never thinks):
    # TTFO (the first answer token; TTFT for a request that did not reason), and the answered
    # requests' reasoning tokens (0 for one that did not reason) and answer tokens.
    ttfo_s: m.Stats | None = None
    reasoning_tokens: m.Stats | None = None
    answer_tokens: m.Stats | None = None
    # With several endpoints: the level per replica (its total stays the figures above).
    replicas: list[ReplicaSummary] | None = None
    # Synthetic prompts: their lengths as the target's tokenizer counted them.
    input_tokens: m.Stats | None = None
    # Held output lengths: the share of answered requests that got exactly the length asked.
    output_held_rate: float | None = None
    # Prompt tokens a server said it served from its cache (where it reports them).
    cached_tokens: m.Stats | None = None
    # Multi-turn: each turn's figures (None for single-turn runs).
    turns: list[TurnSummary] | None = None
    # With --repeat: the headline figures' means across repeats with 95% intervals.
    repeats: RepeatSummary | None = None


class TurnSummary(BaseModel):
    """One turn (0: the first) of a level's conversations."""

    turn: int
    requests: int
    ttft_s: m.Stats | None
    prompt_tokens: m.Stats | None
    cached_tokens: m.Stats | None


class RepeatSummary(BaseModel):
    """A level's headline figures, one sample per repeat (mean and 95% interval). The
    level's own latency statistics pool every repeat's requests; its rates are the means."""

    repeats: int
    ttft_mean_s: m.Interval | None = None
    ttft_p95_s: m.Interval | None = None
    e2e_mean_s: m.Interval | None = None
    e2e_p95_s: m.Interval | None = None
    itl_mean_s: m.Interval | None = None
    decode_tokens_per_second: m.Interval | None = None
    request_throughput: m.Interval | None = None
    output_tokens_per_second: m.Interval | None = None
    goodput: m.Interval | None = None


class SweepPoint(BaseModel):
    level: str
    rate: float
    request_throughput: float | None
    slo_met_rate: float | None
    goodput: float | None
    ttft_p95_s: float | None


class SweepSummary(BaseModel):
    """A sweep: the throughput level's request rate, the rates up to it, and the highest
    rate at which every rate up to it kept the share of requests meeting the SLOs at or
    above the target (None: not even the lowest did)."""

    target: float
    max_rate: float | None
    points: list[SweepPoint]
    best_rate: float | None


# A model event's status, then "partial" (some requests failed), "failed" (all did) or "not
# run" (no model event: the run stopped before it).
SummaryStatus = Literal["ok", "failed", "interrupted", "partial", "not run"]


class ModelSummary(BaseModel):
    model: str
    status: SummaryStatus
    error: str | None = None
    info: ModelRunInfo = ModelRunInfo()
    memory: MemoryReport | None = None
    levels: list[LevelSummary] = []
    # Against an endpoint with /metrics: what the server said while the model ran.
    server: ServerSide | None = None
    sweep: SweepSummary | None = None

    @field_validator("memory", mode="before")
    @classmethod
    def _no_memory(cls, value: object) -> object:
        return None if value == {} else value  # version 1 wrote {} for a model that never ran


class ClientSummary(BaseModel):
    """The load generator's own lag. Loop lag: how long a ready callback waited to run.
    Send lag: open-loop requests written later than scheduled. Send delay: requests written
    to the socket later than the client meant to (reported, excluded from TTFT)."""

    loop_lag_p95_ms: float | None = None
    send_lag_p95_ms: float | None = None
    send_delay_p95_ms: float | None = None
    saturated: bool = False


class Summary(BaseModel):
    # 2: info and memory are typed records (memory null, not {}, for a model that never ran).
    version: int = SUMMARY_VERSION
    models: list[ModelSummary]
    client: ClientSummary


def summarize(run: RunDir) -> Summary:
    meta = run.read_meta()
    spec = meta.spec
    records = latest_attempt(run.records())
    by_model: dict[str, dict[str, list[RequestRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        if not record.warmup:
            by_model[record.model][record.level].append(record)
    progress = run.progress()
    states = {e.model: e for e in progress if isinstance(e, ModelEvent)}
    failed = {e.model: e for e in progress if isinstance(e, ModelEvent) and e.status != "ok"}
    scraped: dict[str, list[ServerSample]] = defaultdict(list)
    for sample in read_samples(run.path):
        scraped[sample.model].append(sample)
    summaries = []
    urls = spec.endpoints()
    for model in spec.run_names():
        state = failed.get(model) or states.get(model)  # one failed repeat fails the model
        levels = _levels(spec, by_model[model])
        pooled: dict[str, list[RequestRecord]] = defaultdict(list)
        for name, recs in by_model[model].items():
            pooled[base_level(name)] += recs
        levels = [
            lv.model_copy(update={"replicas": replica_summaries(pooled[lv.level], urls, _span(lv))})
            for lv in levels
        ]
        summaries.append(
            ModelSummary(
                model=model,
                status=_status(state.status if state else "not run", levels),
                error=state.error if state else None,
                info=state.info if state else ModelRunInfo(),
                memory=state.memory if state else None,
                levels=levels,
                server=summarize_samples(scraped[model]),
                sweep=_sweep(spec, levels) if spec.sweep else None,
            )
        )
    return Summary(models=summaries, client=_client(progress, records))


def _levels(spec: BenchSpec, by_level: dict[str, list[RequestRecord]]) -> list[LevelSummary]:
    """One summary per level, its repeats pooled, in the order the run met them."""
    static = {level.name: level for level in plan(spec)}
    pooled: dict[str, dict[int, list[RequestRecord]]] = defaultdict(dict)
    for name, recs in by_level.items():
        pooled[base_level(name)][repeat_of(name)] = recs
    # A sweep's rates, in each repeat from the rate its own throughput level reached.
    swept: dict[int, dict[str, Level]] = defaultdict(dict)
    for repeat, recs in pooled.get(SWEEP_MAX, {}).items():
        if max_rate := m.request_throughput(recs):
            swept[repeat] = {level.name: level for level in sweep_levels(spec, max_rate)}
    summaries = []
    for name, repeats in pooled.items():
        each = {
            r: _summary_of(spec, level, name, recs)
            for r, recs in sorted(repeats.items())
            if (level := static.get(name) or swept[r].get(name)) is not None
        }
        if each:
            summaries.append(_pooled(spec, each, repeats))
    return summaries


def _pooled(
    spec: BenchSpec, each: dict[int, LevelSummary], repeats: dict[int, list[RequestRecord]]
) -> LevelSummary:
    """One repeat's summary as it is; several pooled, with their intervals."""
    runs = list(each.values())
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    everything = [r for repeat in each for r in repeats[repeat]]
    level = Level(first.level, first.kind, None, first.concurrency)  # type: ignore[arg-type]
    pooled = _summary_of(spec, level, first.level, everything)

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known else None

    def interval(pick: Callable[[LevelSummary], float | None]) -> m.Interval | None:
        return m.mean_interval(pick(s) for s in runs)

    rates = {
        "duration_s": sum(s.duration_s for s in runs) / len(runs),
        "request_throughput": mean([s.request_throughput for s in runs]),
        "output_tokens_per_second": mean([s.output_tokens_per_second for s in runs]),
        "goodput": mean([s.goodput for s in runs]),
        "rate": mean([s.rate for s in runs]),
    }
    summary = RepeatSummary(
        repeats=len(runs),
        ttft_mean_s=interval(lambda s: s.ttft_s.mean if s.ttft_s else None),
        ttft_p95_s=interval(lambda s: s.ttft_s.p95 if s.ttft_s else None),
        e2e_mean_s=interval(lambda s: s.e2e_s.mean if s.e2e_s else None),
        e2e_p95_s=interval(lambda s: s.e2e_s.p95 if s.e2e_s else None),
        itl_mean_s=interval(lambda s: s.itl_s.mean if s.itl_s else None),
        decode_tokens_per_second=interval(
            lambda s: s.decode_tokens_per_second.mean if s.decode_tokens_per_second else None
        ),
        request_throughput=interval(lambda s: s.request_throughput),
        output_tokens_per_second=interval(lambda s: s.output_tokens_per_second),
        goodput=interval(lambda s: s.goodput),
    )
    return pooled.model_copy(update={**rates, "repeats": summary})


def _summary_of(
    spec: BenchSpec, level: Level, name: str, records: list[RequestRecord]
) -> LevelSummary:
    summary = _level(name, level.kind, level.concurrency, level.rate, records)
    return _with_goodput(summary, records, spec.slo)


def _sweep(spec: BenchSpec, levels: list[LevelSummary]) -> SweepSummary:
    top = next((lv for lv in levels if lv.level == SWEEP_MAX), None)
    points = [
        SweepPoint(
            level=lv.level,
            rate=lv.rate or 0.0,
            request_throughput=lv.request_throughput,
            slo_met_rate=lv.slo_met_rate,
            goodput=lv.goodput,
            ttft_p95_s=lv.ttft_s.p95 if lv.ttft_s else None,
        )
        for lv in levels
        if lv.kind == "rate" and lv.level.startswith("sweep")
    ]
    points.sort(key=lambda p: p.rate)
    best = None
    for point in points:
        if point.slo_met_rate is None or point.slo_met_rate < spec.slo_target:
            break
        best = point.rate
    return SweepSummary(
        target=spec.slo_target,
        max_rate=top.request_throughput if top else None,
        points=points,
        best_rate=best,
    )


def _span(level: LevelSummary) -> float | None:
    """A pooled level's time: its repeats' spans summed (its duration is their mean)."""
    return level.duration_s * level.repeats.repeats if level.repeats else None


def latest_attempt(records: list[RequestRecord]) -> list[RequestRecord]:
    """Each level's records from its latest attempt (a duration-bound level that a resumed
    run ran again replaces the earlier one)."""
    latest: dict[tuple[str, str], int] = {}
    for r in records:
        key = (r.model, r.level)
        latest[key] = max(latest.get(key, 0), r.attempt)
    return [r for r in records if r.attempt == latest[(r.model, r.level)]]


def _status(status: SummaryStatus, levels: list[LevelSummary]) -> SummaryStatus:
    if status == "ok" and any(level.errors for level in levels):
        return "partial" if any(level.requests > level.errors for level in levels) else "failed"
    return status


def _level(
    name: str, kind: str, concurrency: int, rate: float | None, records: list[RequestRecord]
) -> LevelSummary:
    ok = [r for r in records if r.ok]
    errors = [r for r in records if r.error is not None]
    level = LevelSummary(
        level=name,
        kind=kind,
        concurrency=concurrency,
        rate=rate,
        requests=len(records),
        errors=len(errors),
        duration_s=m.level_duration(records),
        request_throughput=m.request_throughput(records),
        output_tokens_per_second=m.output_tokens_per_second(records),
        token_sources=sorted({r.token_source for r in ok if r.token_source}),
        ttft_s=m.stats(v for r in ok if (v := m.ttft(r)) is not None),
        itl_s=m.stats(v for r in ok for v in m.itl(r)),
        tpot_s=m.stats(v for r in ok if (v := m.tpot(r)) is not None),
        e2e_s=m.stats(m.e2e(r) for r in ok),
        decode_tokens_per_second=m.stats(
            v for r in ok if (v := m.decode_tokens_per_second(r)) is not None
        ),
        total_tokens_per_second=m.stats(
            v for r in ok if (v := m.total_tokens_per_second(r)) is not None
        ),
        prompt_tokens=m.stats(r.prompt_tokens for r in ok if r.prompt_tokens is not None),
        completion_tokens=m.stats(
            r.completion_tokens for r in ok if r.completion_tokens is not None
        ),
        first_error=errors[0].error if errors else None,
        skipped=sum(1 for r in records if r.skipped is not None) or None,
        schema_valid_rate=_schema_valid_rate(ok),
        input_tokens=m.stats(r.input_tokens for r in ok if r.input_tokens is not None),
        output_held_rate=_share(r.output_held for r in ok),
        cached_tokens=m.stats(r.cached_tokens for r in ok if r.cached_tokens is not None),
        turns=_turns(ok) if any(r.turn for r in records) else None,
    )
    return _with_reasoning(level, ok)


def _share(flags: Iterable[bool | None]) -> float | None:
    known = [flag for flag in flags if flag is not None]
    return sum(known) / len(known) if known else None


def _turns(records: list[RequestRecord]) -> list[TurnSummary]:
    by_turn: dict[int, list[RequestRecord]] = defaultdict(list)
    for r in records:
        by_turn[r.turn].append(r)
    return [
        TurnSummary(
            turn=turn,
            requests=len(recs),
            ttft_s=m.stats(v for r in recs if (v := m.ttft(r)) is not None),
            prompt_tokens=m.stats(r.prompt_tokens for r in recs if r.prompt_tokens is not None),
            cached_tokens=m.stats(r.cached_tokens for r in recs if r.cached_tokens is not None),
        )
        for turn, recs in sorted(by_turn.items())
    ]


def _with_goodput(
    level: LevelSummary, records: list[RequestRecord], slo: Slo | None
) -> LevelSummary:
    if slo is None or not records:
        return level
    good = sum(1 for r in records if m.meets(r, slo.ttft_s, slo.tpot_s, slo.e2e_s))
    duration = level.duration_s
    return level.model_copy(
        update={
            "slo_met_rate": good / len(records),
            "goodput": good / duration if duration > 0 else None,
        }
    )


def _with_reasoning(level: LevelSummary, ok: list[RequestRecord]) -> LevelSummary:
    if all(r.reasoning_tokens is None for r in ok):
        return level
    return level.model_copy(
        update={
            "ttfo_s": m.stats(v for r in ok if (v := m.ttfo(r)) is not None),
            "reasoning_tokens": m.stats(r.reasoning_tokens or 0 for r in ok),
            "answer_tokens": m.stats(v for r in ok if (v := m.answer_tokens(r)) is not None),
        }
    )


def _schema_valid_rate(records: list[RequestRecord]) -> float | None:
    checked = [r.schema_valid for r in records if r.schema_valid is not None]
    return sum(checked) / len(checked) if checked else None


def _client(progress: list[ProgressEvent], records: list[RequestRecord]) -> ClientSummary:
    delays = m.stats(r.send_delay_ns / 1e6 for r in records if r.send_delay_ns is not None)
    lags = [e for e in progress if isinstance(e, ClientEvent)]
    loop = max((e.loop_lag_p95_ms or 0.0 for e in lags), default=None)
    send = max((e.send_lag_p95_ms or 0.0 for e in lags), default=None)
    return ClientSummary(
        loop_lag_p95_ms=loop,
        send_lag_p95_ms=send,
        send_delay_p95_ms=delays.p95 if delays else None,
        saturated=(loop or 0.0) > 1.0 or (send or 0.0) > 1.0,
    )
