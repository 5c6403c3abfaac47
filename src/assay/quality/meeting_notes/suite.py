"""The suite as a bench workload, and its results: prompts from the transcripts, the context
they need, and per model the task scores beside the cost of prefill by transcript length."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from assay.bench import metrics as m
from assay.bench.prompts import Prompt
from assay.bench.records import RequestRecord
from assay.bench.rundir import RunDir
from assay.bench.summary import latest_attempt
from assay.errors import AssayError
from assay.quality.meeting_notes.metrics import NotesScore, score_notes
from assay.quality.meeting_notes.tasks import (
    NOTES_SCHEMA,
    SYSTEM,
    TASK_KINDS,
    split_task_id,
    task_id,
    task_prompt,
)
from assay.quality.meeting_notes.transcripts import Transcript, load_transcripts
from assay.quality.rubric import NOTES_RUBRIC_VERSION
from assay.quality.scores import read_scores
from assay.store.integrity import atomic_write_text

SUITES = ("meeting-notes", "workshop")
SCORES_FILE = "suite_scores.jsonl"
# Room for the notes: the text task asks for at most 250 words.
MAX_NOTES_TOKENS = 400
# Transcript lengths in prompt tokens: the buckets of the TTFT-by-length figures.
BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("<1k", 0, 1024),
    ("1-2k", 1024, 2048),
    ("2-4k", 2048, 4096),
    ("4-8k", 4096, 8192),
    (">8k", 8192, 10**9),
)


def parse_suite(text: str) -> tuple[str, list[str]]:
    """`meeting-notes`, `meeting-notes:mn01,mn09` (transcripts by id or id prefix) or
    `workshop`; an AssayError naming the choices otherwise."""
    name, _, chosen = text.partition(":")
    if name not in SUITES:
        raise AssayError(f"--suite takes {' or '.join(SUITES)} (got '{text}')")
    ids = [part.strip() for part in chosen.split(",") if part.strip()]
    if ids and name != "meeting-notes":
        raise AssayError(f"--suite {name} has no transcripts to choose")
    return name, ids


def transcripts(ids: list[str]) -> list[Transcript]:
    """The suite's transcripts, or those whose id starts with one of IDS."""
    every = load_transcripts()
    if not ids:
        return every
    chosen = [t for t in every if any(t.id.startswith(i) for i in ids)]
    missing = [i for i in ids if not any(t.id.startswith(i) for t in every)]
    if missing:
        known = ", ".join(t.id for t in every[:3])
        raise AssayError(f"--suite: no transcript '{missing[0]}' (ids look like {known}, ...)")
    return chosen


def suite_prompts(chosen: list[Transcript]) -> list[Prompt]:
    """Two prompts per transcript: notes as text, and notes as JSON under NOTES_SCHEMA."""
    prompts = []
    for transcript in chosen:
        for kind in TASK_KINDS:
            prompts.append(
                Prompt(
                    id=task_id(transcript, kind),
                    prompt=task_prompt(transcript, kind),
                    system=SYSTEM,
                    reference=transcript.truth.summary,
                    max_tokens=MAX_NOTES_TOKENS + (100 if kind == "json" else 0),
                    json_schema=NOTES_SCHEMA if kind == "json" else None,
                )
            )
    return prompts


def context_needed(prompts: list[Prompt], count: Callable[[str], int]) -> int:
    """A context that holds the longest prompt and its answer under a tokenizer like COUNT
    (a quarter more, since tokenizers differ; a model whose own count passes its context
    still gets "does not fit"), in steps of 512."""
    longest = max(count(f"{p.system or ''}\n{p.prompt}") for p in prompts)
    wanted = int(longest * 1.25) + max(p.max_tokens or 0 for p in prompts) + 64
    return -(-wanted // 512) * 512


class OutputScore(BaseModel):
    """One output's scores, with what the speed figures need (a line of suite_scores.jsonl)."""

    model: str
    prompt_id: str
    transcript: str
    kind: str
    structured: str | None
    prompt_tokens: int | None
    ttft_s: float | None
    score: NotesScore


class Bucket(BaseModel):
    """Prefill cost at one band of transcript lengths."""

    bucket: str
    requests: int
    prompt_tokens_mean: float
    ttft_mean_s: float
    prefill_tokens_per_second: float


class ModelSuite(BaseModel):
    """A model's suite results: quality (means, the task score with its 95% interval) and
    the speed of the job (TTFT by length, TTFT at 4k tokens from a line fit, decode)."""

    model: str
    outputs: int
    not_fit: int
    task_score: m.Interval | None
    task_score_mean: float | None
    decision_recall: float | None
    action_recall: float | None
    owner_accuracy: float | None
    invented_people_rate: float | None
    json_valid_rate: float | None
    structured: list[str]
    rouge_l: float | None
    buckets: list[Bucket]
    ttft_at_4k_s: float | None
    decode_tokens_per_second: float | None
    # The assay-notes-1 judge's means (1-5), after `assay score --judge` on the run.
    judge_faithfulness: float | None = None
    judge_coverage: float | None = None


def score_outputs(records: list[RequestRecord]) -> list[OutputScore]:
    """Every answered suite request, scored (warm-ups and other prompts left out)."""
    by_id = {t.id: t for t in load_transcripts()}
    scored = []
    for r in records:
        task = split_task_id(r.prompt_id)
        if r.warmup or not r.ok or task is None or task[0] not in by_id:
            continue
        transcript, kind = by_id[task[0]], task[1]
        scored.append(
            OutputScore(
                model=r.model,
                prompt_id=r.prompt_id,
                transcript=transcript.id,
                kind=kind,
                structured=r.structured,
                prompt_tokens=r.prompt_tokens,
                ttft_s=m.ttft(r),
                score=score_notes(transcript, kind, r.text),
            )
        )
    return scored


def write_scores(run_dir: Path) -> list[OutputScore]:
    """Score a suite run's outputs into suite_scores.jsonl (atomically) and return them."""
    scored = score_outputs(latest_attempt(RunDir(run_dir).records()))
    text = "".join(s.model_dump_json() + "\n" for s in scored)
    atomic_write_text(run_dir / SCORES_FILE, text)
    return scored


def summarize_suite(run_dir: Path) -> list[ModelSuite]:
    """Per model of a suite run, its results (from the records: scores are pure)."""
    records = [r for r in latest_attempt(RunDir(run_dir).records()) if not r.warmup]
    scored = score_outputs(records)
    by_model: dict[str, list[OutputScore]] = defaultdict(list)
    for s in scored:
        by_model[s.model].append(s)
    models = list(dict.fromkeys(r.model for r in records))
    judged = _judged(run_dir)
    return [
        _model(name, by_model[name], [r for r in records if r.model == name]).model_copy(
            update=judged.get(name, {})
        )
        for name in models
    ]


def _judged(run_dir: Path) -> dict[str, dict[str, float | None]]:
    """Per model, the notes judge's mean faithfulness and coverage (its valid scores)."""
    criteria: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for score in read_scores(run_dir):
        if score.rubric_version == NOTES_RUBRIC_VERSION and score.criteria:
            for name, value in score.criteria.items():
                criteria[score.model][name].append(value)
    return {
        model: {
            "judge_faithfulness": _mean([float(v) for v in values.get("faithfulness", [])]),
            "judge_coverage": _mean([float(v) for v in values.get("coverage", [])]),
        }
        for model, values in criteria.items()
    }


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _model(name: str, scored: list[OutputScore], records: list[RequestRecord]) -> ModelSuite:
    scores = [s.score for s in scored]
    json_scores = [s for s in scores if s.json_valid is not None]
    owners = [s.owner_accuracy for s in scores if s.owner_accuracy is not None]
    ok = [r for r in records if r.ok and split_task_id(r.prompt_id)]
    decode = [v for r in ok if (v := m.decode_tokens_per_second(r)) is not None]
    return ModelSuite(
        model=name,
        outputs=len(scored),
        not_fit=sum(1 for r in records if r.skipped),
        task_score=m.mean_interval(s.task_score for s in scores),
        task_score_mean=_mean([s.task_score for s in scores]),
        decision_recall=_mean([s.decision_recall for s in scores]),
        action_recall=_mean([s.action_recall for s in scores]),
        owner_accuracy=_mean(owners),
        invented_people_rate=_mean([float(bool(s.invented_people)) for s in scores]),
        json_valid_rate=_mean([float(bool(s.json_valid)) for s in json_scores]),
        structured=sorted({s.structured for s in scored if s.structured}),
        rouge_l=_mean([s.rouge_l for s in scores]),
        buckets=buckets(ok),
        ttft_at_4k_s=ttft_at(ok, 4096),
        decode_tokens_per_second=_mean(decode),
    )


def buckets(records: list[RequestRecord]) -> list[Bucket]:
    """TTFT and prefill tok/s (prompt tokens / TTFT) per band of prompt length."""
    edges = [low for _, low, _ in BUCKETS[1:]]
    grouped: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for r in records:
        first = m.ttft(r)
        if r.prompt_tokens and first:
            grouped[bisect.bisect_right(edges, r.prompt_tokens)].append((r.prompt_tokens, first))
    out = []
    for index, pairs in sorted(grouped.items()):
        tokens = [p for p, _ in pairs]
        ttfts = [t for _, t in pairs]
        out.append(
            Bucket(
                bucket=BUCKETS[index][0],
                requests=len(pairs),
                prompt_tokens_mean=float(np.mean(tokens)),
                ttft_mean_s=float(np.mean(ttfts)),
                prefill_tokens_per_second=float(np.sum(tokens) / np.sum(ttfts)),
            )
        )
    return out


def ttft_at(records: list[RequestRecord], tokens: int) -> float | None:
    """TTFT at TOKENS prompt tokens from a least-squares line through (prompt tokens, TTFT):
    prefill grows about linearly with the prompt at these lengths. None without two lengths
    or when TOKENS is past the longest prompt measured by more than half."""
    pairs = [(r.prompt_tokens, t) for r in records if r.prompt_tokens and (t := m.ttft(r))]
    if len({p for p, _ in pairs}) < 2 or tokens > 1.5 * max(p for p, _ in pairs):
        return None
    slope, intercept = np.polyfit([p for p, _ in pairs], [t for _, t in pairs], 1)
    return float(slope * tokens + intercept)
