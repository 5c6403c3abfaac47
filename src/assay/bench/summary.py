"""summary.json: per model and load level, computed from a run directory's files alone."""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from pydantic import BaseModel, field_validator

from assay.bench import metrics as m
from assay.bench.events import ClientEvent, ModelEvent, ModelRunInfo, ProgressEvent
from assay.bench.probes import MemoryReport
from assay.bench.records import RequestRecord
from assay.bench.rundir import RunDir
from assay.bench.server_metrics import ServerSample, ServerSide, read_samples, summarize_samples
from assay.bench.spec import Slo, plan

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
    # With reasoning in any answered request (else None, as for a model that never thinks):
    # TTFO (the first answer token; TTFT for a request that did not reason), and the answered
    # requests' reasoning tokens (0 for one that did not reason) and answer tokens.
    ttfo_s: m.Stats | None = None
    reasoning_tokens: m.Stats | None = None
    answer_tokens: m.Stats | None = None


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
    levels = {level.name: level for level in plan(meta.spec)}
    records = _latest_attempt(run.records())
    by_model: dict[str, dict[str, list[RequestRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        if not record.warmup:
            by_model[record.model][record.level].append(record)
    progress = run.progress()
    states = {e.model: e for e in progress if isinstance(e, ModelEvent)}
    scraped: dict[str, list[ServerSample]] = defaultdict(list)
    for sample in read_samples(run.path):
        scraped[sample.model].append(sample)
    summaries = []
    for model in meta.spec.run_names():
        state = states.get(model)
        slo = meta.spec.slo
        level_summaries = [
            _with_goodput(
                _level(name, levels[name].kind, levels[name].concurrency, levels[name].rate, recs),
                recs,
                slo,
            )
            for name, recs in by_model[model].items()
            if name in levels
        ]
        summaries.append(
            ModelSummary(
                model=model,
                status=_status(state.status if state else "not run", level_summaries),
                error=state.error if state else None,
                info=state.info if state else ModelRunInfo(),
                memory=state.memory if state else None,
                levels=level_summaries,
                server=summarize_samples(scraped[model]),
            )
        )
    return Summary(models=summaries, client=_client(progress, records))


def _latest_attempt(records: list[RequestRecord]) -> list[RequestRecord]:
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
    errors = [r for r in records if not r.ok]
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
        schema_valid_rate=_schema_valid_rate(ok),
    )
    return _with_reasoning(level, ok)


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
