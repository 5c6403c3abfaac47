"""Annotation sheets: the stub, blind sheets and their keys, and imports good and broken."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from assay.quality.annotation import COLUMNS, KEYS_DIR, AnnotationError, import_sheet, write_sheet
from assay.quality.outputs import Output, load_outputs
from tests.quality.conftest import Req, make_run


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(
        tmp_path,
        [
            Req("smollm2-135m", 0, "RAG retrieves, then writes.\nSecond line, with a comma."),
            Req("smollm2-135m", 1, 'Quotes " and, commas'),
            Req("gemma3-270m", 0, "another answer on rag"),
            Req("gemma3-270m", 1, "a free answer"),
        ],
    )


def read(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8"), newline="")))


def fill(path: Path, scores: dict[int, str], notes: dict[int, str] | None = None) -> None:
    rows = read(path)
    for i, value in scores.items():
        rows[i]["score"] = value
    for i, value in (notes or {}).items():
        rows[i]["notes"] = value
    write(path, [list(COLUMNS), *([row[c] for c in COLUMNS] for row in rows)])


def write(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), "utf-8")


def test_the_stub_has_one_row_per_output_and_empty_score_and_notes(
    run: Path, tmp_path: Path
) -> None:
    outputs = load_outputs(run)
    sheet = write_sheet(run, outputs, tmp_path / "sheet.csv", blind=False)
    rows = read(sheet.path)
    assert sheet.rows == len(rows) == 4 and sheet.key_path is None
    assert list(rows[0]) == list(COLUMNS)
    first = rows[0]
    assert first["id"] == "smollm2-135m|sequential|0" and first["model"] == "smollm2-135m"
    assert first["run"] == run.name and first["prompt_id"] == "rag"
    assert first["prompt"] == "Explain RAG in 2 sentences."
    assert first["facets"] == "retrieval; grounding"
    assert first["output"] == outputs[0].text  # newlines, commas and quotes survive
    assert first["score"] == first["notes"] == ""


def test_round_trip_imports_the_filled_in_scores_and_notes(run: Path, tmp_path: Path) -> None:
    outputs = load_outputs(run)
    path = write_sheet(run, outputs, tmp_path / "sheet.csv", blind=False).path
    fill(path, {0: "4", 2: " 2 "}, {0: "good but long"})
    scores = import_sheet(run, outputs, path)
    assert [(s.model, s.prompt_id, s.score, s.notes) for s in scores] == [
        ("smollm2-135m", "rag", 4, "good but long"),
        ("gemma3-270m", "rag", 2, None),
    ]
    assert all(s.source == "human" and s.import_file == str(path.resolve()) for s in scores)


def test_a_blind_sheet_hides_models_shuffles_rows_and_keeps_its_key_in_the_run(
    run: Path, tmp_path: Path
) -> None:
    outputs = load_outputs(run)
    sheet = write_sheet(run, outputs, tmp_path / "blind.csv", blind=True, seed=7)
    text = sheet.path.read_text("utf-8")
    assert "smollm2" not in text and "gemma" not in text
    rows = read(sheet.path)
    assert {row["model"] for row in rows} == {"M1", "M2"}
    assert sheet.key_path is not None and sheet.key_path.parent == run / KEYS_DIR
    key = json.loads(sheet.key_path.read_text())
    assert set(key["models"].values()) == {"smollm2-135m", "gemma3-270m"}
    assert key["seed"] == 7 and key["sheet_file"] == "blind.csv"
    by_ref = {o.ref: o for o in outputs}
    texts = [by_ref[key["rows"][row["id"]]].text for row in rows]
    assert [row["output"] for row in rows] == texts
    assert texts != [o.text for o in outputs]  # shuffled (seed 7 moves them)
    # the same seed gives the same order and codes
    again = write_sheet(run, outputs, tmp_path / "again.csv", blind=True, seed=7)
    assert [r["output"] for r in read(again.path)] == texts
    assert [r["model"] for r in read(again.path)] == [r["model"] for r in rows]


def test_a_blind_sheet_imports_back_to_the_real_models(run: Path, tmp_path: Path) -> None:
    outputs = load_outputs(run)
    sheet = write_sheet(run, outputs, tmp_path / "blind.csv", blind=True, seed=1)
    rows = read(sheet.path)
    fill(sheet.path, {i: str(i + 1) for i in range(len(rows))})
    scores = import_sheet(run, outputs, sheet.path)
    by_text = {o.text: o for o in outputs}
    expected = {
        (by_text[row["output"]].model, by_text[row["output"]].key, i + 1)
        for i, row in enumerate(rows)
    }
    assert {(s.model, s.key, s.score) for s in scores} == expected


def broken(tmp_path: Path, outputs: list[Output], cells: list[list[str]]) -> Path:
    path = tmp_path / "broken.csv"
    rows = [
        [o.ref, o.run, o.model, o.prompt.id, o.prompt.prompt, "", o.text, "3", ""] for o in outputs
    ]
    write(path, [list(COLUMNS), *rows, *cells])
    return path


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            [["m|sequential|0", "", "", "", "", "", "", "4", ""]],
            "line 7: unknown id 'm|sequential|0'",
        ),
        (
            [["abc123-001", "", "", "", "", "", "", "4", ""]],
            f"line 7: unknown id 'abc123-001' (no blind key {KEYS_DIR}/abc123.json in this run)",
        ),
        (
            [["gemma3-270m|sequential|1", "", "", "", "", "", "", "5", ""]],
            "line 7: duplicate row for 'gemma3-270m|sequential|1' (first on line 6)",
        ),
    ],
)
def test_unknown_ids_and_duplicate_rows_are_refused_with_their_line(
    run: Path, tmp_path: Path, extra: list[list[str]], message: str
) -> None:
    path = broken(tmp_path, load_outputs(run), extra)
    with pytest.raises(AnnotationError) as info:
        import_sheet(run, load_outputs(run), path)
    assert info.value.message == f"{path}: {message}; nothing was imported"


@pytest.mark.parametrize("bad", ["0", "6", "3.5", "4.0", "good", "-1", "1 2"])
def test_a_score_that_is_not_a_whole_number_from_1_to_5_is_refused(
    run: Path, tmp_path: Path, bad: str
) -> None:
    outputs = load_outputs(run)
    path = write_sheet(run, outputs, tmp_path / "sheet.csv", blind=False).path
    fill(path, {0: "5", 1: bad})
    # row 0's output spans two lines, so row 1 starts on line 4
    with pytest.raises(AnnotationError, match=rf"line 4: score '{bad}' is not a whole number"):
        import_sheet(run, outputs, path)


def test_every_problem_is_counted_and_nothing_is_imported(run: Path, tmp_path: Path) -> None:
    outputs = load_outputs(run)
    path = broken(tmp_path, outputs, [["nope", *[""] * 7, "9"], [outputs[0].ref, *[""] * 8]])
    with pytest.raises(AnnotationError, match=r"line 7: unknown id 'nope' \(and 1 more problems\)"):
        import_sheet(run, outputs, path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"identifier,score\nx,1\n", "line 1: no 'id' column in the header"),
        (b"id,notes\nx,hm\n", "line 1: no 'score' column in the header"),
        (b"\xff\xfeid,score\n", "not UTF-8 text"),
    ],
)
def test_a_sheet_that_is_not_an_annotation_sheet(
    run: Path, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes(content)
    with pytest.raises(AnnotationError, match=message):
        import_sheet(run, load_outputs(run), path)


def test_a_missing_sheet(run: Path, tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="no such file"):
        import_sheet(run, load_outputs(run), tmp_path / "absent.csv")


def test_blank_rows_and_a_byte_order_mark_are_fine(run: Path, tmp_path: Path) -> None:
    outputs = load_outputs(run)
    path = tmp_path / "excel.csv"
    text = f"id,score\n\n{outputs[2].ref},5\n,\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert [(s.key, s.score) for s in import_sheet(run, outputs, path)] == [(outputs[2].key, 5)]
