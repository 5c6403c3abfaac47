"""The judge's versioned rubric prompts, the grammars its replies must match, and parsing.

A reply is read as a JSON object first (what the grammar and JSON mode produce), else by its
last `SCORE: N` (or `WINNER: X`) line; anything else is invalid, never a score.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from assay.bench.prompts import Prompt
from assay.engines import Message

# Bump a version whenever its prompt, scale or grammar changes: scores record it.
RUBRIC_VERSION = "assay-rubric-1"
# Meeting notes, against their transcript: faithfulness and coverage, each 1-5.
NOTES_RUBRIC_VERSION = "assay-notes-1"
PAIRWISE_VERSION = "assay-pairwise-1"

# The reasoning is capped so that a constrained reply always finishes within its token budget.
REASONING_CHARS = 300
MAX_REPLY_TOKENS = REASONING_CHARS + 40

Verdict = Literal["A", "B", "tie"]

_SYSTEM = (
    "You are a strict, fair grader of answers written by AI assistants. You judge only the "
    "content of the answer against the question, not its length or style."
)

# Ascending, so that the last anchor a small judge reads is not the bottom one.
_SCALE = """Scale:
1: wrong, empty, repetitive or nonsense
2: mostly wrong, off topic or hard to follow
3: partly correct, or incomplete
4: correct, with small omissions or flaws
5: correct and complete: covers every point, clear, no errors"""

_CHAR = r'[^"\\\x00-\x1f] | "\\" ["\\/nt]'

# GBNF: the reply is exactly {"reasoning": "...", "score": N}, with N from 1 to 5.
SCORE_GRAMMAR = f"""root ::= "{{\\"reasoning\\": \\"" text "\\", \\"score\\": " [1-5] "}}"
text ::= char{{0,{REASONING_CHARS}}}
char ::= {_CHAR}
"""

# GBNF: the reply is exactly {"reasoning": "...", "winner": "A" | "B" | "tie"}.
VERDICT_GRAMMAR = f"""root ::= "{{\\"reasoning\\": \\"" text "\\", \\"winner\\": " verdict "}}"
verdict ::= "\\"A\\"" | "\\"B\\"" | "\\"tie\\""
text ::= char{{0,{REASONING_CHARS}}}
char ::= {_CHAR}
"""


# GBNF: {"reasoning": "...", "faithfulness": N, "coverage": N}, each N from 1 to 5.
NOTES_GRAMMAR = f"""root ::= "{{\\"reasoning\\": \\"" text "\\", " scores "}}"
scores ::= "\\"faithfulness\\": " [1-5] ", \\"coverage\\": " [1-5]
text ::= char{{0,{REASONING_CHARS}}}
char ::= {_CHAR}
"""

_NOTES_SCALE = """Faithfulness (does every statement match the transcript?):
1: mostly invented or wrong (people, decisions or dates that were not said)
3: some statements wrong or invented
5: every statement is supported by the transcript, with the right owners and dates
Coverage (does it hold what the meeting decided, assigned and left open?):
1: almost none of the decisions, action items and open questions
3: about half of them
5: every decision, every action item with its owner, and the open questions"""


@dataclass(frozen=True)
class JudgePrompt:
    """One request to the judge, in both reply formats: JSON (grammar or JSON mode), and free
    text ending in a marker line for endpoints without JSON mode."""

    body: str
    json_format: str
    text_format: str
    grammar: str

    def messages(self, json_mode: bool) -> list[Message]:
        reply_format = self.json_format if json_mode else self.text_format
        return [Message("system", _SYSTEM), Message("user", f"{self.body}\n\n{reply_format}")]


def score_prompt(prompt: Prompt, answer: str) -> JudgePrompt:
    """Grade one answer 1-5 against the prompt, its facets and its reference."""
    body = "\n\n".join(
        [
            "Grade the answer to the question below from 1 (worst) to 5 (best).",
            *_context(prompt),
            f"Answer to grade:\n<<<\n{answer.strip()}\n>>>",
            _SCALE,
        ]
    )
    return JudgePrompt(
        body=body,
        json_format=(
            "Reply with JSON only, with your reasons in one or two short sentences, then the "
            'score: {"reasoning": "...", "score": N}'
        ),
        text_format=(
            "Give one or two short sentences of reasoning, then end with a line "
            '"SCORE: N", where N is a whole number from 1 to 5.'
        ),
        grammar=SCORE_GRAMMAR,
    )


def notes_prompt(prompt: Prompt, notes: str) -> JudgePrompt:
    """Grade meeting notes against the transcript in their prompt (assay-notes-1): how
    faithful they are and how much of the meeting they cover, each 1-5."""
    body = "\n\n".join(
        [
            "Grade the meeting notes below, written from the transcript in the task, on two "
            "criteria, each from 1 (worst) to 5 (best).",
            f"The task, with the transcript:\n<<<\n{prompt.prompt.strip()}\n>>>",
            *(
                [f"A reference summary (one good summary):\n<<<\n{prompt.reference.strip()}\n>>>"]
                if prompt.reference
                else []
            ),
            f"Notes to grade:\n<<<\n{notes.strip()}\n>>>",
            _NOTES_SCALE,
        ]
    )
    return JudgePrompt(
        body=body,
        json_format=(
            "Reply with JSON only, with your reasons in one or two short sentences, then the "
            'scores: {"reasoning": "...", "faithfulness": N, "coverage": N}'
        ),
        text_format=(
            "Give one or two short sentences of reasoning, then end with two lines "
            '"FAITHFULNESS: N" and "COVERAGE: N", each N a whole number from 1 to 5.'
        ),
        grammar=NOTES_GRAMMAR,
    )


def pairwise_prompt(prompt: Prompt, first: str, second: str) -> JudgePrompt:
    """Which of two answers to the prompt is better: A (shown first), B, or a tie."""
    body = "\n\n".join(
        [
            "Two assistants answered the question below. Decide which answer is better.",
            *_context(prompt),
            f"Answer A:\n<<<\n{first.strip()}\n>>>",
            f"Answer B:\n<<<\n{second.strip()}\n>>>",
            "Do not let the order of the answers or their length influence you. Say tie when "
            "they are equally good.",
        ]
    )
    return JudgePrompt(
        body=body,
        json_format=(
            "Reply with JSON only, with your reasons in one or two short sentences, then the "
            'winner: {"reasoning": "...", "winner": "A" or "B" or "tie"}'
        ),
        text_format=(
            "Give one or two short sentences of reasoning, then end with a line "
            '"WINNER: A", "WINNER: B" or "WINNER: TIE".'
        ),
        grammar=VERDICT_GRAMMAR,
    )


def _context(prompt: Prompt) -> list[str]:
    parts = [f"Question:\n<<<\n{prompt.prompt.strip()}\n>>>"]
    if prompt.system:
        parts.append(f"The assistant was also told: {prompt.system.strip()}")
    if prompt.facets:
        parts.append(
            "What a good answer covers:\n" + "\n".join(f"- {facet}" for facet in prompt.facets)
        )
    if prompt.reference:
        parts.append(
            "A reference answer (one good answer; others can be as good):\n"
            f"<<<\n{prompt.reference.strip()}\n>>>"
        )
    return parts


@dataclass(frozen=True)
class Parsed:
    """What a reply said; value None means the reply did not parse (invalid)."""

    value: Any
    reasoning: str | None = None


_SCORE_LINE = re.compile(r"\bSCORE\b[\s*]*[:=][\s*]*([1-5])(?![\d]|\.\d)", re.IGNORECASE)
_WINNER_LINE = re.compile(r"\bWINNER\b[\s*]*[:=][\s*]*(A|B|TIE)\b", re.IGNORECASE)


def parse_score(reply: str) -> Parsed:
    """A 1-5 score from a JSON reply, else from the last `SCORE: N`; else invalid."""
    obj = _json_object(reply, "score")
    if obj is not None:
        score = _whole_score(obj["score"])
        if score is not None:
            return Parsed(score, _reasoning(obj))
    matches = _SCORE_LINE.findall(reply)
    return Parsed(int(matches[-1]) if matches else None)


_CRITERION_LINE = {
    name: re.compile(rf"\b{name}\b[\s*]*[:=][\s*]*([1-5])(?![\d]|\.\d)", re.IGNORECASE)
    for name in ("faithfulness", "coverage")
}


def parse_notes(reply: str) -> Parsed:
    """{"faithfulness": N, "coverage": N} from a JSON reply, else from the last
    `FAITHFULNESS: N` and `COVERAGE: N` lines; else invalid. The value is the pair."""
    obj = _json_object(reply, "faithfulness")
    if obj is not None and "coverage" in obj:
        pair = (_whole_score(obj["faithfulness"]), _whole_score(obj["coverage"]))
        if None not in pair:
            return Parsed(pair, _reasoning(obj))
    found = [_CRITERION_LINE[name].findall(reply) for name in ("faithfulness", "coverage")]
    if all(found):
        return Parsed((int(found[0][-1]), int(found[1][-1])))
    return Parsed(None)


def parse_verdict(reply: str) -> Parsed:
    """ "A", "B" or "tie" from a JSON reply, else from the last `WINNER: X`; else invalid."""
    obj = _json_object(reply, "winner")
    if obj is not None:
        verdict = _verdict(obj["winner"])
        if verdict is not None:
            return Parsed(verdict, _reasoning(obj))
    matches = _WINNER_LINE.findall(reply)
    return Parsed(_verdict(matches[-1]) if matches else None)


def _json_object(reply: str, field: str) -> dict[str, Any] | None:
    """The last JSON object in the reply that has `field` (a whole reply, or one in text)."""
    decoder = json.JSONDecoder()
    found = None
    start = reply.find("{")
    while start != -1:
        try:
            obj, end = decoder.raw_decode(reply, start)
        except ValueError:
            start = reply.find("{", start + 1)
            continue
        if isinstance(obj, dict) and field in obj:
            found = obj
        start = reply.find("{", end)
    return found


def _whole_score(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip() in ("1", "2", "3", "4", "5"):
        return int(value.strip())
    if isinstance(value, int | float) and float(value).is_integer() and 1 <= value <= 5:
        return int(value)
    return None


def _verdict(value: Any) -> Verdict | None:
    if not isinstance(value, str):
        return None
    text = value.strip().upper()
    if text in ("A", "B"):
        return "A" if text == "A" else "B"
    return "tie" if text == "TIE" else None


def _reasoning(obj: dict[str, Any]) -> str | None:
    reasoning = obj.get("reasoning")
    return reasoning if isinstance(reasoning, str) else None
