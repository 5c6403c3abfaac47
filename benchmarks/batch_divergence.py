"""How often, and how early, a greedy answer decoded beside others differs from the same
request decoded alone. Batched attention sums over a KV buffer shared by the sequences, so
its rounding depends on what else is in the batch; a model unsure between two tokens can
flip. This counts the flips; a mix-up of sequences would show as garbage from token one.

    .venv/bin/python benchmarks/batch_divergence.py [--trials 3] [--tokens 64]
"""

from __future__ import annotations

import argparse
import statistics
import threading

from rich.console import Console
from rich.table import Table

from assay.bench.prompts import default_prompts
from assay.config import Settings
from assay.engines import LoadedModel, LoadOptions, Message, SamplingParams, collect
from assay.registry import ModelRegistry

EXTRA = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain what a KV cache is in two sentences.",
    "Give three tips for writing meeting notes.",
]


def first_difference(model: LoadedModel, a: str, b: str) -> int | None:
    """Index of the first differing token of two texts, or None when they are equal."""
    if a == b:
        return None
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    return model.count_tokens(a[:common])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--slots", type=int, default=4)
    args = parser.parse_args()
    registry = ModelRegistry(Settings())
    questions = [p.prompt for p in default_prompts()] + EXTRA
    params = SamplingParams(temperature=0.0, max_tokens=args.tokens)

    def ask(model: LoadedModel, question: str) -> str:
        return collect(model.chat([Message("user", question)], params))[0]

    alone_model = registry.load(args.model, LoadOptions(context_size=2048)).model
    alone = [ask(alone_model, q) for q in questions]
    alone_model.close()
    batched = registry.load(args.model, LoadOptions(context_size=2048, parallel=args.slots)).model
    flips: list[int] = []
    runs = 0
    for _ in range(args.trials):
        answers: list[str] = [""] * len(questions)

        def run(i: int, answers: list[str] = answers) -> None:
            answers[i] = ask(batched, questions[i])

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(questions))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for got, want in zip(answers, alone, strict=True):
            runs += 1
            where = first_difference(batched, got, want)
            if where is not None:
                flips.append(where)
    batched.close()
    table = Table(title=f"{args.model}: {len(questions)} prompts x {args.trials} trials, "
                  f"{args.slots} slots, {args.tokens} greedy tokens")  # fmt: skip
    for column in ("answers", "identical to alone", "diverged", "first different token"):
        table.add_column(column, justify="right")
    spread = (
        f"median {statistics.median(flips):.0f}, min {min(flips)}, max {max(flips)}"
        if flips
        else "-"
    )
    table.add_row(str(runs), str(runs - len(flips)), str(len(flips)), spread)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
