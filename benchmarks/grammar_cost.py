"""What constraining costs: decode tok/s of the same greedy answers free, under
response_format json_object, and under a JSON schema (the meeting-notes shape), on the
unbatched and the batched llama.cpp path. Configurations alternate within each round, and
each answer is capped at the same number of tokens; medians of --rounds.

    .venv/bin/python benchmarks/grammar_cost.py [--rounds 5] [--tokens 96] [--model smollm2-135m]
"""

from __future__ import annotations

import argparse
import os
import statistics
from dataclasses import replace

from rich.console import Console
from rich.table import Table

from assay.config import Settings
from assay.engines import LoadedModel, Message, SamplingParams
from assay.engines.json_schema import grammar_for_json_object, grammar_for_schema
from assay.engines.timing import StreamTimer
from assay.registry import ModelRegistry

PROMPT = (
    "Meeting notes: Ana will ship the beta on Friday. Bo fixes the login bug by Wednesday. "
    "Cy asks legal about the licence. Summarize the meeting as JSON with a title, the "
    "decisions and the action items (owner, task, due)."
)
SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 60},
        "decisions": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        "actions": {
            "type": "array",
            "maxItems": 5,
            "items": {
                "type": "object",
                "properties": {
                    "owner": {"type": "string"},
                    "task": {"type": "string"},
                    "due": {"type": "string"},
                },
                "required": ["owner", "task", "due"],
            },
        },
    },
    "required": ["title", "decisions", "actions"],
}
GRAMMARS = {
    "free text": None,
    "json_object": grammar_for_json_object(),
    "json_schema (notes)": grammar_for_schema(SCHEMA),
}


def decode_rate(model: LoadedModel, grammar: str | None, tokens: int) -> tuple[float, int]:
    params = SamplingParams(temperature=0, max_tokens=tokens, grammar=grammar, seed=1)
    timer = StreamTimer()
    for _ in timer.watch(model.chat([Message("user", PROMPT)], params)):
        pass
    assert timer.decode_tokens_per_second is not None
    return timer.decode_tokens_per_second, timer.tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()
    registry = ModelRegistry(Settings())
    load_before = os.getloadavg()[0]
    table = Table(title=f"Decode tok/s with and without a grammar: {args.model}")
    for column in ("path", "output", "tok/s (median)", "vs free text", "tokens"):
        table.add_column(column, justify="left" if column in ("path", "output") else "right")
    for path, parallel in (("unbatched", 1), ("batched (4 slots, 1 request)", 4)):
        options = replace(registry.load_options(device="cpu"), parallel=parallel)
        model = registry.load(args.model, options).model
        try:
            decode_rate(model, None, 8)  # warm-up
            rates: dict[str, list[float]] = {name: [] for name in GRAMMARS}
            counts: dict[str, int] = {}
            for _ in range(args.rounds):
                for name, grammar in GRAMMARS.items():
                    rate, count = decode_rate(model, grammar, args.tokens)
                    rates[name].append(rate)
                    counts[name] = count
            free = statistics.median(rates["free text"])
            for name, values in rates.items():
                median = statistics.median(values)
                table.add_row(
                    path, name, f"{median:.1f}", f"{median / free:.2f}x", str(counts[name])
                )
        finally:
            model.close()
    console = Console()
    console.print(table)
    console.print(
        f"threads: adaptive, up to {Settings().effective_threads()}; load average "
        f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after; temperature 0"
    )


if __name__ == "__main__":
    main()
