"""The report's task section for a meeting-notes run: per model, the task score with its 95%
interval and what makes it, beside TTFT by transcript length; and its two charts."""

from __future__ import annotations

from collections.abc import Callable

from assay.quality.meeting_notes.metrics import MATCH_THRESHOLD, WEIGHTS
from assay.quality.meeting_notes.suite import ModelSuite
from assay.reports.model import Report
from assay.units import format_millis as millis
from assay.units import format_number as number
from assay.units import format_seconds as seconds

Table = Callable[[list[str], list[list[str]]], list[str]]


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _score(suite: ModelSuite) -> str:
    interval = suite.task_score
    if interval is None:
        return number(suite.task_score_mean, 2)
    # The score is bounded: so is its interval, shown.
    return f"{interval.mean:.2f} [{max(interval.low, 0):.2f}, {min(interval.high, 1):.2f}]"


def suite_section(report: Report, table: Table) -> list[str]:
    """Markdown lines of the task section (none when the run was not a meeting-notes run)."""
    suites = [r.suite for r in report.models if r.suite is not None]
    if not suites:
        return []
    judged = any(s.judge_faithfulness is not None for s in suites)
    rows = [
        [
            s.model,
            str(s.outputs),
            _score(s),
            _share(s.decision_recall),
            _share(s.action_recall),
            _share(s.owner_accuracy),
            _share(s.invented_people_rate),
            _share(s.json_valid_rate),
            ", ".join(s.structured) or "-",
            seconds(s.ttft_at_4k_s),
            str(s.not_fit),
            *([_judge(s)] if judged else []),
        ]
        for s in suites
    ]
    header = ["Model", "Outputs", "Task score [95%]", "Decision recall", "Action recall",
              "Owner right", "Invented people", "JSON valid", "JSON held by", "TTFT at 4k",
              "Does not fit", *(["Judge faithful/covers"] if judged else [])]  # fmt: skip
    weights = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in WEIGHTS.items())
    lines = [
        "## Meeting-notes task",
        "",
        *table(header, rows),
        "",
        f"Task score: 0-1 per output, weighted ({weights}); its 95% interval is over the "
        f"outputs. An item counts as found when half of its content words are in one output "
        f"item (threshold {MATCH_THRESHOLD:g}). Invented people: the share of outputs naming "
        "someone the transcript never mentions. TTFT at 4k: a line fitted through (prompt "
        "tokens, TTFT). Does not fit: requests whose transcript and answer pass the model's "
        "context, not sent."
        + (
            " Judge: the assay-notes-1 rubric's faithfulness and coverage (1-5), from "
            "`assay score --judge`."
            if judged
            else ""
        ),
        "",
    ]
    length_rows = [
        [
            s.model,
            b.bucket,
            str(b.requests),
            number(b.prompt_tokens_mean, 0),
            millis(b.ttft_mean_s),
            number(b.prefill_tokens_per_second, 0),
        ]
        for s in suites
        for b in s.buckets
    ]
    if length_rows:
        lines += [
            "### TTFT by transcript length",
            "",
            *table(
                ["Model", "Prompt tokens", "Requests", "Mean tokens", "TTFT mean", "Prefill tok/s"],
                length_rows,
            ),
            "",
            "Prefill tok/s: the bucket's prompt tokens over its summed TTFT. Decode tok/s: "
            + "; ".join(f"{s.model} {number(s.decode_tokens_per_second)}" for s in suites)
            + ".",
            "",
        ]
    return lines


def _judge(suite: ModelSuite) -> str:
    if suite.judge_faithfulness is None or suite.judge_coverage is None:
        return "-"
    return f"{suite.judge_faithfulness:.1f} / {suite.judge_coverage:.1f}"


def longest_ttft(suite: ModelSuite) -> tuple[str, float] | None:
    """The TTFT of the longest transcripts a model ran (its last bucket)."""
    if not suite.buckets:
        return None
    last = suite.buckets[-1]
    return last.bucket, last.ttft_mean_s
