"""Rule checks: what an output must or must not contain, its length, its form.

The rule score puts the share of checks passed on the 1-5 scale of the other sources:
1 + 4 x passed / checks (all passed: 5; none: 1). A prompt without checks gets no rule
score at all, rather than a made-up one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from assay.bench.prompts import Expect
from assay.quality.outputs import Output
from assay.quality.scores import CheckResult, Score, new_score

_FENCE = re.compile(r"^```[\w-]*\s*\n(.*?)\n?```$", re.DOTALL)


def run_checks(expect: Expect, text: str) -> list[CheckResult]:
    """Each check of `expect` on `text`, in a fixed order; words are whitespace-separated."""
    lowered = text.casefold()
    words = len(text.split())
    checks = [
        CheckResult(check=f"contains {term!r}", passed=term.casefold() in lowered)
        for term in expect.contains
    ]
    checks += [
        CheckResult(check=f"does not contain {term!r}", passed=term.casefold() not in lowered)
        for term in expect.not_contains
    ]
    if expect.regex is not None:
        found = re.search(expect.regex, text) is not None
        checks.append(CheckResult(check=f"matches /{expect.regex}/", passed=found))
    if expect.min_words is not None:
        checks.append(
            CheckResult(
                check=f"at least {expect.min_words} words (has {words})",
                passed=words >= expect.min_words,
            )
        )
    if expect.max_words is not None:
        checks.append(
            CheckResult(
                check=f"at most {expect.max_words} words (has {words})",
                passed=words <= expect.max_words,
            )
        )
    if expect.json_:
        checks.append(CheckResult(check="parses as JSON", passed=parses_as_json(text)))
    return checks


def parses_as_json(text: str) -> bool:
    """The whole output is JSON, bare or as the only content of one ``` fenced block."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    try:
        json.loads(fenced.group(1) if fenced else stripped)
    except ValueError:
        return False
    return True


def rule_score(checks: Sequence[CheckResult]) -> float:
    """1 + 4 x the share of checks passed, rounded to two decimals."""
    if not checks:
        raise ValueError("no checks, no rule score")
    passed = sum(check.passed for check in checks)
    return round(1 + 4 * passed / len(checks), 2)


def score_rules(outputs: Sequence[Output]) -> list[Score]:
    """A rule score for each output whose prompt has checks."""
    scores = []
    for output in outputs:
        expect = output.prompt.expect
        if expect is None or expect.is_empty:
            continue
        checks = run_checks(expect, output.text)
        scores.append(new_score(output, "rules", rule_score(checks), checks=tuple(checks)))
    return scores
