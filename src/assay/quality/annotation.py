"""Annotation sheets: a CSV stub in which people score outputs 1-5, and its import.

A sheet has one row per output: id, run, model, prompt id, prompt, facets, output, and the
empty `score` and `notes` columns to fill in. A blind sheet shows codes (M1, M2, ...) in
place of model names and shuffles its rows with a seed; its key (code to model, row id to
output) is stored in the run directory under annotation-keys/, never in the sheet, and the
sheet's row ids name their key so that the import maps them back.

An import is all or nothing: every problem (a score that is not a whole number from 1 to 5,
an unknown id, a duplicate row) is reported with its line number, and nothing is merged
while any is left.
"""

from __future__ import annotations

import csv
import io
import random
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from assay.errors import AssayError
from assay.quality.outputs import Output
from assay.quality.scores import Score, new_score, utc_now
from assay.store.integrity import atomic_write_text

COLUMNS = ("id", "run", "model", "prompt_id", "prompt", "facets", "output", "score", "notes")
KEYS_DIR = "annotation-keys"
_BLIND_ID = re.compile(r"([0-9a-f]{6})-\d+")
_SCORE = re.compile(r"[1-5]")


class AnnotationError(AssayError):
    pass


class BlindKey(BaseModel):
    """What a blind sheet hides: its model codes and which output each row id is."""

    sheet: str
    sheet_file: str
    seed: int
    created_at: str
    models: dict[str, str]
    rows: dict[str, str]


@dataclass(frozen=True)
class Sheet:
    path: Path
    rows: int
    key_path: Path | None = None


def write_sheet(
    run_dir: Path, outputs: Sequence[Output], path: Path, blind: bool, seed: int | None = None
) -> Sheet:
    """Write an annotation stub for `outputs` (blind: coded, shuffled, keyed in run_dir)."""
    if not blind:
        rows = [_row(output.ref, output.model, output) for output in outputs]
        _write_csv(path, rows)
        return Sheet(path, len(rows))
    key = _blind_key(run_dir, outputs, path, seed)
    by_ref = {output.ref: output for output in outputs}
    codes = {model: code for code, model in key.models.items()}
    rows = [_row(row_id, codes[by_ref[ref].model], by_ref[ref]) for row_id, ref in key.rows.items()]
    key_path = _key_path(run_dir, key.sheet)
    atomic_write_text(key_path, key.model_dump_json(indent=2))
    _write_csv(path, rows)
    return Sheet(path, len(rows), key_path)


def _blind_key(run_dir: Path, outputs: Sequence[Output], path: Path, seed: int | None) -> BlindKey:
    seed = secrets.randbits(32) if seed is None else seed
    rng = random.Random(seed)
    models = sorted({output.model for output in outputs})
    rng.shuffle(models)
    order = list(outputs)
    rng.shuffle(order)
    sheet = secrets.token_hex(3)
    while _key_path(run_dir, sheet).exists():
        sheet = secrets.token_hex(3)
    return BlindKey(
        sheet=sheet,
        sheet_file=path.name,
        seed=seed,
        created_at=utc_now(),
        models={f"M{i + 1}": model for i, model in enumerate(models)},
        rows={f"{sheet}-{i + 1:03d}": output.ref for i, output in enumerate(order)},
    )


def _row(row_id: str, model: str, output: Output) -> list[str]:
    facets = "; ".join(output.prompt.facets)
    return [row_id, output.run, model, output.prompt.id, output.prompt.prompt, facets,
            output.text, "", ""]  # fmt: skip


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _key_path(run_dir: Path, sheet: str) -> Path:
    return run_dir / KEYS_DIR / f"{sheet}.json"


def import_sheet(run_dir: Path, outputs: Sequence[Output], path: Path) -> list[Score]:
    """The human scores in a filled-in sheet, or an AnnotationError naming the first problem
    (with its line) and how many more there are."""
    resolver = _Resolver(run_dir, outputs)
    source = str(path.resolve())
    errors: list[str] = []
    seen: dict[str, int] = {}
    scores: list[Score] = []
    for line, row in _read_sheet(path):
        row_id, score, notes = row.get("id", ""), row.get("score", ""), row.get("notes", "")
        output = resolver.output(row_id)
        if output is None:
            errors.append(f"line {line}: unknown id '{row_id}'{resolver.hint(row_id)}")
            continue
        if output.ref in seen:
            errors.append(
                f"line {line}: duplicate row for '{row_id}' (first on line {seen[output.ref]})"
            )
            continue
        seen[output.ref] = line
        if score and not _SCORE.fullmatch(score):
            errors.append(f"line {line}: score '{score}' is not a whole number from 1 to 5")
        elif score:
            scores.append(
                new_score(output, "human", int(score), notes=notes or None, import_file=source)
            )
    if errors:
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise AnnotationError(f"{path}: {errors[0]}{more}; nothing was imported")
    return scores


class _Resolver:
    """From a sheet's row id to the run's output: the output's own id, or a blind row id
    looked up in the key the sheet was written with."""

    def __init__(self, run_dir: Path, outputs: Sequence[Output]) -> None:
        self._run_dir = run_dir
        self._outputs = {output.ref: output for output in outputs}
        self._keys: dict[str, BlindKey | None] = {}

    def output(self, row_id: str) -> Output | None:
        if row_id in self._outputs:
            return self._outputs[row_id]
        key = self._key(row_id)
        ref = key.rows.get(row_id) if key is not None else None
        return self._outputs.get(ref) if ref is not None else None

    def hint(self, row_id: str) -> str:
        match = _BLIND_ID.fullmatch(row_id)
        if match and self._key(row_id) is None:
            return f" (no blind key {KEYS_DIR}/{match.group(1)}.json in this run)"
        return ""

    def _key(self, row_id: str) -> BlindKey | None:
        match = _BLIND_ID.fullmatch(row_id)
        if match is None:
            return None
        sheet = match.group(1)
        if sheet not in self._keys:
            self._keys[sheet] = _read_key(_key_path(self._run_dir, sheet))
        return self._keys[sheet]


def _read_key(path: Path) -> BlindKey | None:
    try:
        return BlindKey.model_validate_json(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        raise AnnotationError(f"{path}: the blind key is damaged: {exc}") from None


def _read_sheet(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Each non-empty row as {column: stripped cell}, with the line it starts on."""
    try:
        text = path.read_text("utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(f"{path}: no such file") from None
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise AnnotationError(f"{path}: not UTF-8 text; save the sheet as UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [cell.strip().lower() for cell in next(reader, [])]
        missing = [name for name in ("id", "score") if name not in header]
        if missing:
            raise AnnotationError(f"{path}: line 1: no '{missing[0]}' column in the header")
        start = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield start, {name: cell.strip() for name, cell in zip(header, cells, strict=False)}
            start = reader.line_num + 1
    except csv.Error as exc:
        raise AnnotationError(f"{path}: line {reader.line_num}: not valid CSV: {exc}") from None
