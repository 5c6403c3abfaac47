"""Datasets and traces read from local files into a run's prompts (nothing is fetched).

- JSON Lines of prompts: `{"prompt": "..."}` or `{"messages": [{"role", "content"}, ...]}`
  per line, with an optional `id`, `system` and `max_tokens`.
- ShareGPT JSON: a list of `{"id", "conversations": [{"from": "human"|"gpt"|"system",
  "value"}]}`; the first human turn is the prompt and the later human turns are its
  follow-ups (sent as a multi-turn conversation with `--turns`).
- A trace: JSON Lines with `timestamp` (milliseconds), `input_length` and `output_length`
  (Mooncake's columns), or a CSV with `Timestamp` (seconds), `Request tokens` and
  `Response tokens` (BurstGPT's). Each row becomes a synthetic prompt of that many input
  tokens, asked to answer with exactly that many output tokens, at its time.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from assay.bench.prompts import Prompt, PromptFileError, Turn, unique_ids

DatasetFormat = Literal["auto", "jsonl", "sharegpt", "trace"]
DATASET_FORMATS: tuple[str, ...] = ("auto", "jsonl", "sharegpt", "trace")


@dataclass(frozen=True)
class Dataset:
    prompts: list[Prompt]
    format: str  # what was read: "jsonl", "sharegpt", "trace (mooncake)", "trace (burstgpt)"
    skipped: int = 0  # rows that hold nothing to send (e.g. a trace row of 0 output tokens)

    @property
    def is_trace(self) -> bool:
        return self.format.startswith("trace")

    def describe(self, path: Path) -> str:
        skipped = f", {self.skipped} rows skipped" if self.skipped else ""
        return f"{path.name} ({self.format}, {len(self.prompts)} rows{skipped})"


def load_dataset(path: Path, fmt: DatasetFormat = "auto") -> Dataset:
    """Read a dataset or trace; errors name the file, the row and what to fix."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise PromptFileError(f"{path}: cannot read the dataset: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PromptFileError(f"{path}: not UTF-8 text; a dataset is JSON, JSONL or CSV") from None
    if not text.strip():
        raise PromptFileError(f"{path}: the dataset is empty")
    kind = _detect(path, text) if fmt == "auto" else fmt
    if kind == "sharegpt":
        dataset = _sharegpt(path, text)
    elif kind == "trace":
        dataset = _burstgpt(path, text) if _is_csv(path, text) else _mooncake(path, text)
    else:
        dataset = Dataset(_jsonl_prompts(path, text), "jsonl")
    if not dataset.prompts:
        raise PromptFileError(f"{path}: no usable row in the dataset ({dataset.format})")
    return dataset


def _detect(path: Path, text: str) -> str:
    if _is_csv(path, text):
        return "trace"
    head = text.lstrip()
    if head.startswith("["):
        return "sharegpt"
    first = _rows(path, text)[0][1]
    if "input_length" in first or "timestamp" in first:
        return "trace"
    return "jsonl"


def _is_csv(path: Path, text: str) -> bool:
    return path.suffix.lower() == ".csv" or text.lstrip().startswith("Timestamp,")


def _rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PromptFileError(
                f"{path}:{number}: not a JSON line ({exc.msg}); a dataset has one JSON object "
                "per line, or is ShareGPT's JSON list"
            ) from None
        if not isinstance(row, dict):
            raise PromptFileError(f"{path}:{number}: each line must be a JSON object")
        rows.append((number, row))
    if not rows:
        raise PromptFileError(f"{path}: the dataset is empty")
    return rows


def _jsonl_prompts(path: Path, text: str) -> list[Prompt]:
    prompts = []
    for number, row in _rows(path, text):
        fields: dict[str, Any] = {"id": str(row.get("id", f"d{number}"))}
        if "max_tokens" in row:
            fields["max_tokens"] = row["max_tokens"]
        if isinstance(row.get("system"), str):
            fields["system"] = row["system"]
        if "messages" in row:
            fields.update(_from_messages(path, number, row["messages"]))
        elif isinstance(row.get("prompt"), str):
            fields["prompt"] = row["prompt"]
        else:
            raise PromptFileError(
                f"{path}:{number}: a row needs 'prompt' (a string) or 'messages' (a list)"
            )
        prompts.append(_prompt(path, number, fields))
    return unique_ids(path, prompts)


def _from_messages(path: Path, number: int, messages: Any) -> dict[str, Any]:
    if not isinstance(messages, list) or not messages:
        raise PromptFileError(f"{path}:{number}: 'messages' must be a non-empty list")
    try:
        pairs = [(str(m["role"]), str(m["content"])) for m in messages]
    except (TypeError, KeyError):
        raise PromptFileError(
            f"{path}:{number}: each message needs a 'role' and a 'content'"
        ) from None
    fields: dict[str, Any] = {}
    if pairs[0][0] == "system":
        fields["system"] = pairs.pop(0)[1]
    if not pairs or pairs[-1][0] != "user":
        raise PromptFileError(f"{path}:{number}: the last message must be the user's")
    try:
        fields["history"] = tuple(Turn(role=role, content=c) for role, c in pairs[:-1])  # type: ignore[arg-type]
    except ValidationError:
        raise PromptFileError(
            f"{path}:{number}: messages after the first are 'user' or 'assistant'"
        ) from None
    fields["prompt"] = pairs[-1][1]
    return fields


def _sharegpt(path: Path, text: str) -> Dataset:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PromptFileError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    if not isinstance(data, list):
        raise PromptFileError(f"{path}: ShareGPT's format is a JSON list of conversations")
    prompts, skipped = [], 0
    for index, item in enumerate(data):
        turns = item.get("conversations") if isinstance(item, dict) else None
        if not isinstance(turns, list):
            raise PromptFileError(
                f"{path}: conversation #{index + 1} has no 'conversations' list "
                "(ShareGPT: [{'id', 'conversations': [{'from', 'value'}]}])"
            )
        said = [(t.get("from"), t.get("value")) for t in turns if isinstance(t, dict)]
        system = next((v for who, v in said[:1] if who == "system"), None)
        human = [v for who, v in said if who in ("human", "user") and isinstance(v, str) and v]
        if not human:
            skipped += 1  # nothing a user said: nothing to send
            continue
        fields = {
            "id": str(item.get("id", f"c{index + 1}")),
            "prompt": human[0],
            "followups": tuple(human[1:]),
            "system": system if isinstance(system, str) else None,
        }
        prompts.append(_prompt(path, index + 1, fields))
    return Dataset(unique_ids(path, prompts), "sharegpt", skipped)


def _mooncake(path: Path, text: str) -> Dataset:
    rows = []
    for number, row in _rows(path, text):
        try:
            rows.append(
                (
                    float(row["timestamp"]) / 1000,
                    int(row["input_length"]),
                    int(row["output_length"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            raise PromptFileError(
                f"{path}:{number}: a trace row needs 'timestamp' (ms), 'input_length' and "
                "'output_length' (Mooncake's columns)"
            ) from None
    return _trace(path, rows, "trace (mooncake)")


def _burstgpt(path: Path, text: str) -> Dataset:
    reader = csv.DictReader(text.splitlines())
    needed = {"Timestamp", "Request tokens", "Response tokens"}
    if not needed <= set(reader.fieldnames or ()):
        raise PromptFileError(
            f"{path}: a CSV trace needs the columns {', '.join(sorted(needed))} (BurstGPT's)"
        )
    rows = []
    for number, row in enumerate(reader, 2):
        try:
            rows.append(
                (float(row["Timestamp"]), int(row["Request tokens"]), int(row["Response tokens"]))
            )
        except (TypeError, ValueError):
            raise PromptFileError(
                f"{path}:{number}: Timestamp and token counts must be numbers"
            ) from None
    return _trace(path, rows, "trace (burstgpt)")


def _trace(path: Path, rows: list[tuple[float, int, int]], fmt: str) -> Dataset:
    """Rows of (seconds, input tokens, output tokens), sorted by time from the first one."""
    usable = sorted(r for r in rows if r[1] >= 1 and r[2] >= 1)
    if not usable:
        return Dataset([], fmt, len(rows))
    start = usable[0][0]
    prompts = [
        Prompt(
            id=f"t{i + 1}",
            prompt=f"(synthetic, {inp} tokens)",
            input_tokens=inp,
            max_tokens=out,
            hold_output=True,
            arrival_s=round(at - start, 6),
        )
        for i, (at, inp, out) in enumerate(usable)
    ]
    return Dataset(prompts, fmt, len(rows) - len(usable))


def _prompt(path: Path, number: int, fields: dict[str, Any]) -> Prompt:
    try:
        return Prompt(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(row)"
        message = first["msg"].removeprefix("Value error, ")
        raise PromptFileError(f"{path}: row {number}, field '{field}': {message}") from None
