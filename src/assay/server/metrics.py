"""Prometheus metrics of one server instance, in a registry of its own (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "assay_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.tokens = Counter(
            "assay_tokens", "Tokens processed", ["model", "direction"], registry=r
        )
        self.ttft = Histogram(
            "assay_time_to_first_token_seconds",
            "From request admission to the first generated token",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.decode = Histogram(
            "assay_decode_seconds",
            "From the first generated token to the last",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "assay_queue_depth", "Requests waiting for a model", ["model"], registry=r
        )
        self.active = Gauge(
            "assay_active_generations", "Generations running now", ["model"], registry=r
        )
        self.cancelled = Counter(
            "assay_cancelled_generations",
            "Generations stopped because the client went away",
            ["model"],
            registry=r,
        )
        self.rejected = Counter(
            "assay_rejected_requests", "Requests refused: queue full", ["model"], registry=r
        )
        self.slots = Gauge(
            "assay_slots", "Sequences a model can decode together", ["model"], registry=r
        )
        self.busy_slots = Gauge(
            "assay_busy_slots", "Sequences being decoded together now", ["model"], registry=r
        )
        self.batch_tokens = Histogram(
            "assay_batch_tokens",
            "Tokens in each batched decode step (one per decoding sequence, plus prompt chunks)",
            ["model"],
            buckets=(1, 2, 3, 4, 6, 8, 16, 32, 64, 128, 256, 512),
            registry=r,
        )
        self.loaded = Gauge("assay_loaded_models", "Models loaded now", registry=r)
        self.load_seconds = Gauge(
            "assay_model_load_seconds",
            "Seconds the last load of a model took",
            ["model"],
            registry=r,
        )
        self.unloads = Counter(
            "assay_model_unloads", "Models unloaded, by reason", ["model", "reason"], registry=r
        )
        self.runner_crashes = Counter(
            "assay_runner_crashes",
            "Runner processes that died (signal: SIGSEGV, SIGKILL, ...; exit; hang)",
            ["model", "signal"],
            registry=r,
        )
        self.rss = Gauge(
            "assay_model_rss_bytes",
            "Resident memory of the runner process that holds a model",
            ["model"],
            registry=r,
        )
        self.peak_rss = Gauge(
            "assay_model_peak_rss_bytes",
            "Peak resident memory of the runner process that holds a model",
            ["model"],
            registry=r,
        )
        self.cpu = Gauge(
            "assay_model_cpu_seconds",
            "CPU time (user + system) of the runner process that holds a model",
            ["model"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
