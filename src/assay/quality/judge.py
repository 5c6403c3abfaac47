"""The judge: a model that grades each output 1-5 with the versioned rubric.

A judge is a catalog model loaded in this process, whose replies a grammar constrains to
`{"reasoning": "...", "score": 1..5}`, or an OpenAI-compatible endpoint, asked for JSON mode
where it offers it and otherwise for a closing `SCORE: N` line. Both run at temperature 0.
A reply that does not parse is recorded as invalid, with the reply, never as a score.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from assay import openai_wire as wire
from assay.engines import LoadedModel, SamplingParams, collect
from assay.errors import AssayError
from assay.quality.outputs import Output
from assay.quality.rubric import (
    MAX_REPLY_TOKENS,
    NOTES_RUBRIC_VERSION,
    RUBRIC_VERSION,
    JudgePrompt,
    Parsed,
    notes_prompt,
    parse_notes,
    parse_score,
    score_prompt,
)
from assay.quality.scores import Score, new_score
from assay.registry import ModelRegistry


class JudgeError(AssayError):
    pass


class Judge(Protocol):
    """Anything that answers a judge prompt with the text of its reply."""

    name: str

    def reply(self, prompt: JudgePrompt) -> str:
        """The judge's reply; an AssayError when it could not give one."""
        ...

    def close(self) -> None: ...


class ModelJudge:
    """A model in this process, greedy, its reply constrained by the prompt's grammar; a
    model that takes no grammar (ONNX Runtime GenAI, Foundry Local) is asked, as a server
    without JSON mode is, for a closing `SCORE: N` line."""

    def __init__(self, name: str, model: LoadedModel) -> None:
        self.name = name
        self._model = model

    def reply(self, prompt: JudgePrompt) -> str:
        held = self._model.grammar
        params = SamplingParams(
            temperature=0.0,
            seed=0,
            max_tokens=MAX_REPLY_TOKENS,
            repeat_penalty=1.0,
            grammar=prompt.grammar if held else None,
        )
        text, _ = collect(self._model.chat(prompt.messages(json_mode=held), params))
        return text

    def close(self) -> None:
        self._model.close()


class EndpointJudge:
    """An OpenAI-compatible server. JSON mode first; a server that refuses it (HTTP 400 or
    422) is asked again without it, and from then on for a closing `SCORE: N` line."""

    def __init__(
        self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 300.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"{model} @ {self.base_url}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # httpx, as the remote engine and Manager use; one connection kept for every grade.
        self._client = httpx.Client(timeout=timeout_s, headers=headers)
        self.json_mode = True

    def reply(self, prompt: JudgePrompt) -> str:
        if self.json_mode:
            status, body = self._post(prompt, json_mode=True)
            if status not in (400, 422):
                return _content(status, body)
            status, body = self._post(prompt, json_mode=False)
            if status == 200:
                self.json_mode = False
            return _content(status, body)
        return _content(*self._post(prompt, json_mode=False))

    def close(self) -> None:
        self._client.close()

    def _post(self, prompt: JudgePrompt, json_mode: bool) -> tuple[int, bytes]:
        body = wire.request_body(
            self.model,
            messages=prompt.messages(json_mode),
            stream=False,
            max_tokens=MAX_REPLY_TOKENS,
            temperature=0.0,
            seed=0,
            json_mode=json_mode,
        )
        return self._request("/chat/completions", body)

    def _request(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        url = self.base_url + path
        try:
            request = self._client.build_request("GET" if body is None else "POST", url, json=body)
            response = self._client.send(request)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise JudgeError(f"cannot reach the judge at {self.base_url}: {reason}") from None
        return response.status_code, response.content

    def listed_models(self) -> list[str]:
        """The ids the server lists at /models (none if it lists none, or no such route);
        a JudgeError when nothing answers at all."""
        _, body = self._request("/models")
        return wire.model_ids(_json(body))


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _content(status: int, body: bytes) -> str:
    if status != 200:
        message = wire.parse_error(body).message
        raise JudgeError(f"the judge answered HTTP {status}: {message}")
    text = wire.parse_completion(_json(body)).text
    if text is None:
        raise JudgeError("the judge's answer has no choices[0].message.content")
    return text


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def open_judge(
    spec: str,
    registry: ModelRegistry,
    judge_model: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 300.0,
) -> Judge:
    """A judge from `--judge`: a catalog alias loaded here, or an endpoint URL."""
    if is_url(spec):
        # Asking for the model list also fails fast when nothing answers at the URL.
        judge = EndpointJudge(spec, judge_model or "", api_key, timeout_s)
        try:
            listed = judge.listed_models()
            if judge_model is None and not listed:
                raise JudgeError(f"{spec} lists no model; name one with --judge-model")
        except JudgeError:
            judge.close()
            raise
        judge.model = judge_model or listed[0]
        judge.name = f"{judge.model} @ {judge.base_url}"
        return judge
    if judge_model is not None:
        raise JudgeError("--judge-model names the model of a judge URL; for an alias, omit it")
    loaded = registry.load(spec)
    return ModelJudge(loaded.resolved.name, loaded.model)


@dataclass(frozen=True)
class Answer:
    """What the judge said: a parsed value (None: invalid) and why."""

    value: Any
    reasoning: str | None = None
    reply: str | None = None
    error: str | None = None


def ask(judge: Judge, prompt: JudgePrompt, parse: Callable[[str], Parsed]) -> Answer:
    """Ask once; a failed request or an unparseable reply is an invalid answer, not a stop."""
    try:
        reply = judge.reply(prompt)
    except AssayError as exc:
        return Answer(None, error=exc.message)
    parsed = parse(reply)
    if parsed.value is None:
        return Answer(None, reply=reply, error="the reply did not parse")
    return Answer(parsed.value, reasoning=parsed.reasoning)


def grade_outputs(
    outputs: Sequence[Output],
    judge: Judge,
    on_output: Callable[[Output, Score], None] | None = None,
    notes: bool = False,
) -> list[Score]:
    """A judge score for each output. Outputs with the same prompt and text are graded once:
    at temperature 0 the judge would only repeat itself. NOTES: meeting notes, graded by the
    assay-notes-1 rubric (faithfulness and coverage; the score is their mean)."""
    answers: dict[tuple[str, str], Answer] = {}
    scores = []
    for output in outputs:
        cache_key = (output.prompt.id, output.text)
        if cache_key not in answers:
            if notes:
                answers[cache_key] = ask(
                    judge, notes_prompt(output.prompt, output.text), parse_notes
                )
            else:
                answers[cache_key] = ask(
                    judge, score_prompt(output.prompt, output.text), parse_score
                )
        answer = answers[cache_key]
        value, criteria = answer.value, None
        if notes and value is not None:
            criteria = {"faithfulness": value[0], "coverage": value[1]}
            value = (value[0] + value[1]) / 2
        score = new_score(
            output,
            "judge",
            value,
            reasoning=answer.reasoning,
            reply=answer.reply,
            error=answer.error,
            judge=judge.name,
            rubric_version=NOTES_RUBRIC_VERSION if notes else RUBRIC_VERSION,
            criteria=criteria,
        )
        scores.append(score)
        if on_output is not None:
            on_output(output, score)
    return scores
