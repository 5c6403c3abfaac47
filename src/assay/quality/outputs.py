"""The outputs of a bench run that can be scored: timed requests that succeeded.

Warm-up requests and errored requests are never scored. Each output keeps the prompt saved
in run.json's spec, with its rule checks, facets and reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assay.bench.prompts import Prompt
from assay.bench.rundir import RunDir


@dataclass(frozen=True)
class Output:
    run: str
    model: str
    prompt: Prompt
    level: str
    index: int
    round: int
    key: str
    attempt: int
    text: str

    @property
    def ref(self) -> str:
        """The output's identity in score files and annotation sheets."""
        return self.key if self.attempt == 1 else f"{self.key}#{self.attempt}"


def load_outputs(path: Path) -> list[Output]:
    """The scoreable outputs of the run directory at path, in the order they were recorded."""
    run = RunDir(path)
    prompts = {prompt.id: prompt for prompt in run.read_meta().spec.prompts}
    return [
        Output(
            run=path.name,
            model=record.model,
            prompt=prompts[record.prompt_id],
            level=record.level,
            index=record.index,
            round=record.round,
            key=record.key,
            attempt=record.attempt,
            text=record.text,
        )
        for record in run.records()
        if not record.warmup and record.ok and record.prompt_id in prompts
    ]
