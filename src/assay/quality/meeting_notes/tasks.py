"""The suite's two tasks per transcript: notes as text under three headings, and notes as
JSON under a published schema (sent as `response_format: json_schema` where the target
can constrain its output, else as an instruction; each record says which)."""

from __future__ import annotations

from typing import Any, Literal

from assay.quality.meeting_notes.transcripts import Transcript

TaskKind = Literal["text", "json"]
TASK_KINDS: tuple[TaskKind, ...] = ("text", "json")

# The text task's bound on the notes' length, in words (checked by `length_ok`).
MAX_WORDS = 250

SYSTEM = (
    "You take meeting notes. You write only what the transcript says: no names, dates or "
    "facts that are not in it."
)

TEXT_INSTRUCTION = f"""Read the meeting transcript below and write the meeting notes as \
bullet points under exactly three headings, in this order:

Decisions
- one bullet per decision the meeting made

Action items
- Owner name: the task (due YYYY-MM-DD, or no due date)

Open questions
- one bullet per question left open

Write "- None" under a heading with nothing in it. At most {MAX_WORDS} words in all."""

JSON_INSTRUCTION = """Read the meeting transcript below and return the meeting notes as one JSON \
object with exactly these keys: "decisions" (a list of strings), "action_items" (a list of \
objects with "owner" (the person's name), "task" and "due" (YYYY-MM-DD, or null when no date \
was said)) and "open_questions" (a list of strings). Return only the JSON object."""

# The published schema of the JSON task's answer.
NOTES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decisions": {"type": "array", "items": {"type": "string"}},
        "action_items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "owner": {"type": "string"},
                    "task": {"type": "string"},
                    "due": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
                "required": ["owner", "task", "due"],
                "additionalProperties": False,
            },
        },
        "open_questions": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["decisions", "action_items", "open_questions"],
    "additionalProperties": False,
}


def task_prompt(transcript: Transcript, kind: TaskKind) -> str:
    """The user message of a task: the instruction, the meeting's date and attendees, and
    the numbered transcript."""
    instruction = TEXT_INSTRUCTION if kind == "text" else JSON_INSTRUCTION
    people = ", ".join(f"{a.name} ({a.role})" if a.role else a.name for a in transcript.attendees)
    return (
        f"{instruction}\n\nMeeting: {transcript.title}\nDate: {transcript.date.isoformat()} "
        f"({transcript.date.strftime('%A')})\nAttendees: {people}\n\nTranscript:\n"
        f"{transcript.text()}"
    )


def task_id(transcript: Transcript, kind: TaskKind) -> str:
    """The prompt id of a task: `<transcript id>/<kind>`."""
    return f"{transcript.id}/{kind}"


def split_task_id(prompt_id: str) -> tuple[str, TaskKind] | None:
    transcript, _, kind = prompt_id.partition("/")
    if kind == "text":
        return transcript, "text"
    if kind == "json":
        return transcript, "json"
    return None
