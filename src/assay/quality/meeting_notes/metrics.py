"""The suite's metrics: pure, deterministic functions of (transcript, truth, output).

Matching tolerates paraphrase. An item of the truth and one of the output are compared as
sets of normalised content words (lower case, punctuation and stop words removed, a plural
or verb ending stripped); the truth item is found when at least `MATCH_THRESHOLD` (half) of
its content words are in the output item. Items pair one to one, best overlaps first. An
owner is right when the output names the truth's owner by first name or full name.

Invented people: a name in the output that the transcript never says. Names are read from
the action items' owners, and from the text as two capitalised words in a row ("Dana
Whitfield") neither of which appears anywhere in the transcript.

An echo: an output that copies `ECHO_WORDS` words in a row of the task's own instruction (a
base model continuing its prompt) fails the format check whatever headings it repeats, and
the instruction's example bullets are never read as notes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema
from pydantic import BaseModel

from assay.quality.meeting_notes.tasks import (
    JSON_INSTRUCTION,
    MAX_WORDS,
    NOTES_SCHEMA,
    SYSTEM,
    TEXT_INSTRUCTION,
    TaskKind,
)
from assay.quality.meeting_notes.transcripts import Transcript

MATCH_THRESHOLD = 0.5

# An output with this many words in a row from the task's own instruction is an echo.
ECHO_WORDS = 8

# Weights of the task score (they sum to 1). The judge's rubric is reported apart.
WEIGHTS: dict[str, float] = {
    "decision_recall": 0.25,
    "action_recall": 0.25,
    "owner_accuracy": 0.15,
    "due_accuracy": 0.05,
    "no_invented_people": 0.10,
    "format_ok": 0.10,
    "length_ok": 0.05,
    "rouge_l": 0.05,
}

_STOP_WORDS = """
    a an the and or but of to in on at for by with from as is are was were be been being it
    its this that these those we they he she i you our their his her will would should shall
    can could may might must do does did not no yes so if then than into about over after
    before up down out also just only all any some each more most other such own same very
    have has had let lets let's going get got make made who what when where which why how
    there here"""
_STOP = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"[a-z0-9]+")
_ISO = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_CAPITALISED_RUN = re.compile(
    r"\b[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?(?:\s+[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?)+"
)
# Capitalised words of notes that are not names: headings, calendar words.
_NOT_NAME_WORDS = """
    decisions decision action actions items item open questions question none due date
    notes meeting summary owner owners task tasks no yes tbd n a january february march april
    may june july august september october november december monday tuesday wednesday
    thursday friday saturday sunday json"""
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())


@dataclass(frozen=True)
class Item:
    """An action item as the output gave it."""

    owner: str
    task: str
    due: str | None


@dataclass(frozen=True)
class Notes:
    """An output read into the three lists; `parsed` is False when its shape was not there
    (no headings in text, not JSON for the JSON task)."""

    decisions: tuple[str, ...]
    action_items: tuple[Item, ...]
    open_questions: tuple[str, ...]
    parsed: bool


class NotesScore(BaseModel):
    """One output's metrics (None where a metric does not apply) and its task score."""

    decision_recall: float
    action_recall: float
    owner_accuracy: float | None
    due_accuracy: float | None
    invented_people: list[str]
    json_valid: bool | None
    schema_valid: bool | None
    format_ok: bool
    echoed_instruction: bool = False
    words: int
    length_ok: bool
    rouge_l: float
    task_score: float


@cache
def _stem(word: str) -> str:
    from nltk.stem.porter import PorterStemmer  # type: ignore[import-untyped]

    return str(PorterStemmer().stem(word))


def words(text: str) -> list[str]:
    """Content words, normalised: lower case, no stop words, Porter-stemmed."""
    return [_stem(word) for word in _WORD.findall(text.lower()) if word not in _STOP]


def coverage(truth: str, output: str) -> float:
    """The share of the truth item's content words that the output item has."""
    wanted = set(words(truth))
    if not wanted:
        return 0.0
    return len(wanted & set(words(output))) / len(wanted)


def pair(truths: list[str], outputs: list[str]) -> dict[int, int]:
    """Truth index -> output index, one to one, best coverage first, at the threshold."""
    scored = sorted(
        ((coverage(t, o), ti, oi) for ti, t in enumerate(truths) for oi, o in enumerate(outputs)),
        reverse=True,
    )
    pairs: dict[int, int] = {}
    used: set[int] = set()
    for score, ti, oi in scored:
        if score < MATCH_THRESHOLD:
            break
        if ti not in pairs and oi not in used:
            pairs[ti] = oi
            used.add(oi)
    return pairs


def recall(truths: list[str], outputs: list[str]) -> float:
    """The share of truth items found. With nothing to find, 1.0 when the output lists
    nothing either, else 0.0 (what it lists is invented)."""
    if not truths:
        return 0.0 if outputs else 1.0
    return len(pair(truths, outputs)) / len(truths)


def same_person(truth_owner: str, said: str) -> bool:
    """The output names the owner by first name or full name (case and spacing aside)."""
    said_words = said.lower().split()
    full = truth_owner.lower().split()
    return said_words == full or (bool(said_words) and said_words[0] == full[0])


def invented_people(transcript: Transcript, notes: Notes, output: str) -> list[str]:
    """Names in the output that the transcript never says (owners, and two capitalised words
    in a row neither of which it has)."""
    said = transcript.text()
    known = set(_WORD.findall(said.lower()))
    found: set[str] = set()
    for item in notes.action_items:
        parts = _WORD.findall(item.owner.lower())
        if parts and not any(p in known for p in parts):
            found.add(item.owner.strip())
    for run in _CAPITALISED_RUN.findall(output):
        unknown = [w for w in run.split() if w.lower() not in known and w.lower() not in _NOT_NAMES]
        # Two or more capitalised words in a row the transcript never says: a made-up name
        # (a known word before it, "Ask Jennifer Holloway", is dropped first).
        names = run.split()
        while names and (names[0].lower() in known or names[0].lower() in _NOT_NAMES):
            names.pop(0)
        if len(names) >= 2 and len(unknown) == len(names):
            found.add(" ".join(names))
    return sorted(found)


def parse_json_notes(output: str) -> tuple[Notes, bool, bool]:
    """(notes, valid JSON, matches the schema). JSON inside a ``` fence counts as JSON."""
    text = output.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fenced:
        text = fenced.group(1).strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return Notes((), (), (), parsed=False), False, False
    try:
        jsonschema.validate(data, NOTES_SCHEMA)
        schema_ok = True
    except jsonschema.ValidationError:
        schema_ok = False
    return _notes_from(data), True, schema_ok


def _notes_from(data: Any) -> Notes:
    if not isinstance(data, dict):
        return Notes((), (), (), parsed=False)

    def strings(key: str) -> tuple[str, ...]:
        values = data.get(key)
        return (
            tuple(str(v) for v in values if isinstance(v, str)) if isinstance(values, list) else ()
        )

    items = []
    for entry in data.get("action_items") or []:
        if isinstance(entry, dict):
            due = entry.get("due")
            items.append(
                Item(
                    str(entry.get("owner") or ""),
                    str(entry.get("task") or ""),
                    str(due) if due else None,
                )
            )
    return Notes(strings("decisions"), tuple(items), strings("open_questions"), parsed=True)


_HEADINGS = {
    "decisions": re.compile(r"^\W*decisions?\b", re.I),
    "action_items": re.compile(r"^\W*action[ -]?items?\b|^\W*actions?\b", re.I),
    "open_questions": re.compile(r"^\W*open[ -]?questions?\b|^\W*questions?\b", re.I),
}
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.*)$")
_NONE = re.compile(r"^\W*(?:none|n/a|nothing|no \w+)\W*$", re.I)


def parse_text_notes(output: str, transcript: Transcript) -> Notes:
    """Bullets under the three headings (Markdown or plain, any order)."""
    section: str | None = None
    found: dict[str, list[str]] = {key: [] for key in _HEADINGS}
    seen: set[str] = set()
    for line in output.splitlines():
        heading = next(
            (k for k, rx in _HEADINGS.items() if rx.match(line) and len(line) < 40), None
        )
        if heading is not None:
            section = heading
            seen.add(heading)
            continue
        bullet = _BULLET.match(line)
        if section is None or bullet is None:
            continue
        text = bullet.group(1).strip()
        if text and not _NONE.match(text) and tuple(_plain(text)) not in _placeholders():
            found[section].append(text)
    items = tuple(_text_item(text, transcript) for text in found["action_items"])
    return Notes(
        tuple(found["decisions"]), items, tuple(found["open_questions"]), parsed=len(seen) == 3
    )


def _plain(text: str) -> list[str]:
    """Every word, lower case (stop words kept: an echo is read word for word)."""
    return _WORD.findall(text.lower())


@cache
def _placeholders() -> frozenset[tuple[str, ...]]:
    """The text instruction's own example bullets ("one bullet per decision ...")."""
    lines = TEXT_INSTRUCTION.splitlines()
    return frozenset(tuple(_plain(line)) for line in lines if line.startswith("- "))


def _runs(text: str) -> frozenset[tuple[str, ...]]:
    """Every `ECHO_WORDS` words in a row of the text."""
    plain = _plain(text)
    return frozenset(tuple(plain[i : i + ECHO_WORDS]) for i in range(len(plain) - ECHO_WORDS + 1))


@cache
def _instruction_runs() -> frozenset[tuple[str, ...]]:
    return _runs(" ".join((SYSTEM, TEXT_INSTRUCTION, JSON_INSTRUCTION)))


def echoes_instruction(output: str) -> bool:
    """Whether the output copies `ECHO_WORDS` words in a row of the task's instruction: a
    base model continuing its prompt repeats the headings without writing notes."""
    return not _runs(output).isdisjoint(_instruction_runs())


def _text_item(text: str, transcript: Transcript) -> Item:
    """`Owner: task (due 2026-03-13)`; the owner is the text before a colon or dash, else an
    attendee's name found in the item."""
    due_match = _ISO.search(text)
    owner, task = _owner_split(text)
    if not owner:
        for attendee in transcript.attendees:
            if attendee.first_name.lower() in text.lower():
                owner = attendee.name
                break
    return Item(owner.strip("*_ "), task or text, due_match.group(1) if due_match else None)


def _owner_split(text: str) -> tuple[str, str]:
    """("Dana Whitfield", "the task") from `Dana Whitfield: the task` (or a dash); ("", text)."""
    match = re.match(
        r"^\**([A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*){0,2})\**\s*[:\u2014\u2013-]\s+(.*)$", text
    )
    if match:
        return match.group(1), match.group(2)
    return "", text


def notes_text(notes: Notes) -> str:
    """The notes as plain lines (what ROUGE-L reads of a JSON answer)."""
    lines = [*notes.decisions]
    lines += [
        f"{i.owner}: {i.task}" + (f" (due {i.due})" if i.due else "") for i in notes.action_items
    ]
    return "\n".join([*lines, *notes.open_questions])


def rouge_l(reference: str, output: str) -> float:
    """ROUGE-L F1 of the output against the reference summary (rouge-score, stemmed)."""
    from rouge_score import rouge_scorer  # type: ignore[import-untyped]

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return float(scorer.score(reference, output)["rougeL"].fmeasure)


def dues_right(truth: Any, notes: Notes, t: int, matched: dict[int, int]) -> bool:
    due = truth.action_items[t].due
    return due is not None and notes.action_items[matched[t]].due == due.isoformat()


def score_notes(transcript: Transcript, kind: TaskKind, output: str) -> NotesScore:
    """Every metric of one output, and the task score that weighs them (`WEIGHTS`)."""
    truth = transcript.truth
    json_valid = schema_valid = None
    if kind == "json":
        notes, json_valid, schema_valid = parse_json_notes(output)
        format_ok = bool(json_valid and schema_valid)
    else:
        notes = parse_text_notes(output, transcript)
        format_ok = notes.parsed
    echoed = echoes_instruction(output)
    format_ok = format_ok and not echoed
    decision_recall = recall([d.text for d in truth.decisions], list(notes.decisions))
    tasks = [a.task for a in truth.action_items]
    matched = pair(tasks, [i.task for i in notes.action_items])
    action_recall = recall(tasks, [i.task for i in notes.action_items])
    owners = [
        same_person(truth.action_items[t].owner, notes.action_items[o].owner)
        for t, o in matched.items()
    ]
    dues = [dues_right(truth, notes, t, matched) for t in matched if truth.action_items[t].due]
    invented = invented_people(transcript, notes, output)
    count = len(output.split())
    length_ok = count <= MAX_WORDS if kind == "text" else True
    rouge = rouge_l(truth.summary, output if kind == "text" else notes_text(notes))
    with_due = [t for t, a in enumerate(truth.action_items) if a.due is not None]
    right_dues = sum(1 for t in with_due if t in matched and dues_right(truth, notes, t, matched))
    parts: dict[str, float] = {
        "decision_recall": decision_recall,
        "action_recall": action_recall,
        # Over every truth item: a missed item has no right owner or due either.
        "owner_accuracy": sum(owners) / len(tasks) if tasks else float(not notes.action_items),
        "due_accuracy": right_dues / len(with_due) if with_due else 1.0,
        "no_invented_people": 0.0 if invented else 1.0,
        "format_ok": float(format_ok),
        "length_ok": float(length_ok),
        "rouge_l": rouge,
    }
    return NotesScore(
        decision_recall=decision_recall,
        action_recall=action_recall,
        owner_accuracy=sum(owners) / len(owners) if owners else None,
        due_accuracy=sum(dues) / len(dues) if dues else None,
        invented_people=invented,
        json_valid=json_valid,
        schema_valid=schema_valid,
        format_ok=format_ok,
        echoed_instruction=echoed,
        words=count,
        length_ok=length_ok,
        rouge_l=rouge,
        task_score=round(sum(WEIGHTS[k] * v for k, v in parts.items()), 4),
    )
