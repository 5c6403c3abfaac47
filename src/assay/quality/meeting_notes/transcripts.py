"""The suite's data: meeting transcripts with their ground truth, and the checks that keep
the files honest (every owner attends, every fact cites lines that exist).

Each line of `data/transcripts.jsonl` is one `Transcript`. The text is original, written
for assay (no corpus was copied), under the project's licence, Apache-2.0; see
`data/LICENSE.md`. Line numbers count from 1 over `lines`.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assay.errors import AssayError

KINDS = (
    "stand-up",
    "sprint planning",
    "incident review",
    "customer call",
    "design review",
    "one-on-one",
    "budget",
    "hiring",
    "decision reversed",
    "no decisions",
    "cross-talk",
    "other",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Attendee(_Frozen):
    name: str = Field(min_length=3)  # "First Last"
    role: str = ""

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


class Line(_Frozen):
    speaker: str
    text: str = Field(min_length=1)


class Decision(_Frozen):
    text: str = Field(min_length=3)
    lines: tuple[int, ...] = Field(min_length=1)  # where it is decided (1-based)


class ActionItem(_Frozen):
    owner: str  # an attendee's full name
    task: str = Field(min_length=3)
    due: date | None = None  # only when a date or day is said
    lines: tuple[int, ...] = Field(min_length=1)


class OpenQuestion(_Frozen):
    text: str = Field(min_length=3)
    lines: tuple[int, ...] = Field(min_length=1)


class Truth(_Frozen):
    decisions: tuple[Decision, ...] = ()
    action_items: tuple[ActionItem, ...] = ()
    open_questions: tuple[OpenQuestion, ...] = ()
    summary: str = Field(min_length=20)


class Transcript(_Frozen):
    id: str = Field(pattern=r"^mn\d{2}-[a-z0-9-]+$")
    title: str
    kind: str
    date: date  # the meeting's day: "by Friday" resolves against it
    attendees: tuple[Attendee, ...] = Field(min_length=3, max_length=9)
    lines: tuple[Line, ...] = Field(min_length=5)
    truth: Truth

    @model_validator(mode="after")
    def _consistent(self) -> Transcript:
        for problem in problems(self):
            raise ValueError(problem)
        return self

    def text(self) -> str:
        """The transcript as the model reads it: `N. Speaker: text` per line."""
        return "\n".join(
            f"{i}. {line.speaker}: {line.text}" for i, line in enumerate(self.lines, 1)
        )

    def attendee(self, name: str) -> Attendee | None:
        return next((a for a in self.attendees if a.name == name), None)


def problems(t: Transcript) -> list[str]:
    """What is wrong with a transcript's ground truth (empty: nothing)."""
    found = []
    names = {a.name for a in t.attendees}
    if t.kind not in KINDS:
        found.append(f"{t.id}: kind '{t.kind}' is not one of {', '.join(KINDS)}")
    if len(names) != len(t.attendees):
        found.append(f"{t.id}: an attendee is listed twice")
    firsts = [a.first_name for a in t.attendees]
    if len(set(firsts)) != len(firsts):
        found.append(f"{t.id}: two attendees share a first name; notes could not tell them apart")
    for number, line in enumerate(t.lines, 1):
        if line.speaker not in names:
            found.append(f"{t.id}: line {number}'s speaker '{line.speaker}' is not an attendee")
    facts: list[tuple[str, tuple[int, ...]]] = [
        *((f"decision '{d.text}'", d.lines) for d in t.truth.decisions),
        *((f"action item '{a.task}'", a.lines) for a in t.truth.action_items),
        *((f"open question '{q.text}'", q.lines) for q in t.truth.open_questions),
    ]
    for what, lines in facts:
        bad = [n for n in lines if not 1 <= n <= len(t.lines)]
        if bad:
            found.append(f"{t.id}: {what} cites line(s) {bad}, beyond its {len(t.lines)} lines")
    for item in t.truth.action_items:
        if item.owner not in names:
            found.append(f"{t.id}: action item '{item.task}' is owned by '{item.owner}', "
                         "who is not an attendee")  # fmt: skip
    return found


class SuiteDataError(AssayError):
    pass


def load_transcripts(path: Path | None = None) -> list[Transcript]:
    """The suite's transcripts (the packaged file unless PATH); errors name file and line."""
    if path is None:
        return list(_packaged())
    return _read(path.read_text("utf-8"), str(path))


@cache
def _packaged() -> tuple[Transcript, ...]:
    text = resources.files(__package__).joinpath("data/transcripts.jsonl").read_text("utf-8")
    return tuple(_read(text, "transcripts.jsonl"))


def _read(text: str, where: str) -> list[Transcript]:
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Transcript.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "(transcript)"
            message = first["msg"].removeprefix("Value error, ")
            raise SuiteDataError(f"{where}:{number}: {field}: {message}") from None
    ids = [t.id for t in out]
    if len(set(ids)) != len(ids):
        raise SuiteDataError(f"{where}: a transcript id appears twice")
    return out
