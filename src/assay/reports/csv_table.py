"""One CSV row per model and load level, with stable column names."""

from __future__ import annotations

import csv
import io

from assay.bench.metrics import Stats
from assay.reports.model import Report

COLUMNS = (
    "run",
    "model",
    "status",
    "level",
    "kind",
    "concurrency",
    "rate",
    "requests",
    "errors",
    "e2e_mean_s",
    "e2e_p50_s",
    "e2e_p95_s",
    "e2e_p99_s",
    "ttft_mean_s",
    "ttft_p50_s",
    "ttft_p95_s",
    "itl_mean_s",
    "itl_p95_s",
    "tpot_mean_s",
    "decode_tok_s_mean",
    "total_tok_s_mean",
    "request_throughput",
    "output_tok_s",
    "prompt_tokens_mean",
    "completion_tokens_mean",
    "peak_rss_bytes",
    "steady_rss_bytes",
    "disk_bytes",
    "load_seconds",
    "threads",
    "engine",
    "license",
    "license_class",
    "quality_human",
    "quality_judge",
    "quality_rules",
    "joules_per_token",
    "schema_valid_rate",
    "ttfo_mean_s",
    "ttfo_p50_s",
    "ttfo_p95_s",
    "reasoning_tokens_mean",
    "answer_tokens_mean",
)


def _stat(stats: Stats | None, field: str) -> float | None:
    return getattr(stats, field) if stats is not None else None


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in report.models:
        quality: dict[str, float] = {}
        for q in r.quality:  # the first source of each kind: one judge column for all judges
            quality.setdefault(q.kind, q.mean)
        common = {
            "run": report.run_name,
            "model": r.model,
            "status": r.status,
            "peak_rss_bytes": r.peak_rss_bytes,
            "steady_rss_bytes": r.steady_rss_bytes,
            "disk_bytes": r.disk_bytes,
            "load_seconds": r.load_seconds,
            "threads": r.threads,
            "engine": r.engine,
            "license": r.license,
            "license_class": r.license_class,
            "quality_human": quality.get("human"),
            "quality_judge": quality.get("judge"),
            "quality_rules": quality.get("rules"),
            "joules_per_token": r.energy.joules_per_output_token if r.energy else None,
        }
        if not r.levels:
            writer.writerow(common)
        for lv in r.levels:
            writer.writerow(
                {
                    **common,
                    "level": lv.level,
                    "kind": lv.kind,
                    "concurrency": lv.concurrency,
                    "rate": lv.rate,
                    "requests": lv.requests,
                    "errors": lv.errors,
                    "e2e_mean_s": _stat(lv.e2e_s, "mean"),
                    "e2e_p50_s": _stat(lv.e2e_s, "p50"),
                    "e2e_p95_s": _stat(lv.e2e_s, "p95"),
                    "e2e_p99_s": _stat(lv.e2e_s, "p99"),
                    "ttft_mean_s": _stat(lv.ttft_s, "mean"),
                    "ttft_p50_s": _stat(lv.ttft_s, "p50"),
                    "ttft_p95_s": _stat(lv.ttft_s, "p95"),
                    "itl_mean_s": _stat(lv.itl_s, "mean"),
                    "itl_p95_s": _stat(lv.itl_s, "p95"),
                    "tpot_mean_s": _stat(lv.tpot_s, "mean"),
                    "decode_tok_s_mean": _stat(lv.decode_tokens_per_second, "mean"),
                    "total_tok_s_mean": _stat(lv.total_tokens_per_second, "mean"),
                    "request_throughput": lv.request_throughput,
                    "output_tok_s": lv.output_tokens_per_second,
                    "prompt_tokens_mean": _stat(lv.prompt_tokens, "mean"),
                    "completion_tokens_mean": _stat(lv.completion_tokens, "mean"),
                    "schema_valid_rate": lv.schema_valid_rate,
                    "ttfo_mean_s": _stat(lv.ttfo_s, "mean"),
                    "ttfo_p50_s": _stat(lv.ttfo_s, "p50"),
                    "ttfo_p95_s": _stat(lv.ttfo_s, "p95"),
                    "reasoning_tokens_mean": _stat(lv.reasoning_tokens, "mean"),
                    "answer_tokens_mean": _stat(lv.answer_tokens, "mean"),
                }
            )
    return buffer.getvalue()
