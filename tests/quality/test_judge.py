"""The judge: a bundled model under a grammar (slow), a fake model for its error paths, and
OpenAI-compatible endpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assay.config import Settings
from assay.engines import LoadedModel
from assay.quality.judge import EndpointJudge, JudgeError, ModelJudge, grade_outputs, open_judge
from assay.quality.outputs import load_outputs
from assay.quality.rubric import RUBRIC_VERSION
from assay.registry import ModelRegistry
from tests.bench.conftest import free_port
from tests.quality.conftest import Req, chat_reply, judge_server, make_run


@pytest.mark.slow
@pytest.mark.parametrize("model_name", ["smollm", "gemma"])
def test_a_bundled_model_gives_a_valid_1_to_5_for_every_output(
    tiny_run: Path, model_name: str, request: pytest.FixtureRequest
) -> None:
    model: LoadedModel = request.getfixturevalue(model_name)
    outputs = load_outputs(tiny_run)
    assert len(outputs) == 4
    scores = grade_outputs(outputs, ModelJudge(model_name, model))
    assert len(scores) == len(outputs)
    for score, output in zip(scores, outputs, strict=True):
        assert score.score in (1, 2, 3, 4, 5), score
        assert isinstance(score.reasoning, str) and score.error is None
        assert score.key == output.key and score.judge == model_name
        assert score.rubric_version == RUBRIC_VERSION


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(
        tmp_path, [Req("m1", 0, "retrieval"), Req("m1", 1, "x"), Req("m2", 0, "retrieval")]
    )


def test_a_judge_model_that_cannot_answer_gives_invalid_scores_not_a_stop(
    run: Path, fake_registry: ModelRegistry
) -> None:
    judge = open_judge("fake", fake_registry)
    assert isinstance(judge, ModelJudge) and judge.name == "fake:user"
    graded: list[str] = []
    scores = grade_outputs(load_outputs(run), judge, lambda output, score: graded.append(score.key))
    judge.close()
    assert graded == [s.key for s in scores] and len(scores) == 3  # every output, in order
    assert [s.score for s in scores] == [None, None, None]
    # A model without grammar answers in free text; words without a SCORE line do not parse.
    assert all(not s.valid and s.error and s.judge == "fake:user" for s in scores)
    assert all(s.reply for s in scores)  # the reply that did not parse is kept


def test_a_judge_model_without_grammar_is_asked_for_a_score_line(run: Path, tmp_path: Path) -> None:
    # ONNX Runtime GenAI and Foundry Local models take no GBNF grammar: the judge asks them,
    # as a server without JSON mode, for a closing SCORE line (it refused every reply before).
    models = tmp_path / "judges.json"
    reply = "Clear and mostly correct.\nSCORE: 4"
    models.write_text(json.dumps({"scorer": {"engine": "fake", "fake": {"reply": reply}}}))
    judge = open_judge("scorer", ModelRegistry(Settings(home=tmp_path, models_file=models)))
    scores = grade_outputs(load_outputs(run), judge, lambda output, score: None)
    judge.close()
    assert [s.score for s in scores] == [4, 4, 4] and all(s.valid for s in scores)


def test_a_judge_alias_takes_no_judge_model(fake_registry: ModelRegistry) -> None:
    with pytest.raises(JudgeError, match="--judge-model names the model of a judge URL"):
        open_judge("fake", fake_registry, judge_model="other")


def test_an_endpoint_in_json_mode(run: Path, registry: ModelRegistry) -> None:
    with judge_server(lambda body: chat_reply('{"reasoning": "ok", "score": 4}')) as (url, got):
        judge = open_judge(url, registry)
        scores = grade_outputs(load_outputs(run), judge)
    assert judge.name == f"stub-judge @ {url}"
    assert [s.score for s in scores] == [4, 4, 4]
    assert [s.reasoning for s in scores] == ["ok", "ok", "ok"]
    # "retrieval" for rag was asked once: the same prompt and text give the same grade
    assert len(got) == 2
    for body in got:
        assert body["response_format"] == {"type": "json_object"}
        assert body["temperature"] == 0 and body["model"] == "stub-judge"


def test_an_endpoint_without_json_mode_is_asked_for_a_score_line(run: Path) -> None:
    def reply(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if "response_format" in body:
            return 400, {"error": {"message": "response_format is not supported"}}
        assert body["messages"][-1]["content"].endswith(
            '"SCORE: N", where N is a whole number from 1 to 5.'
        )
        return chat_reply("Correct but thin.\nSCORE: 3")

    with judge_server(reply) as (url, got):
        judge = EndpointJudge(url, "any")
        scores = grade_outputs(load_outputs(run), judge)
    assert [s.score for s in scores] == [3, 3, 3]
    assert judge.json_mode is False
    assert ["response_format" in body for body in got] == [True, False, False]


@pytest.mark.parametrize(
    ("status", "payload", "error"),
    [
        (*chat_reply("It is good, I think four."), "the reply did not parse"),
        (
            500,
            {"error": {"message": "out of memory"}},
            "the judge answered HTTP 500: out of memory",
        ),
        (200, {"choices": []}, "the judge's answer has no choices[0].message.content"),
    ],
)
def test_a_reply_that_does_not_parse_is_invalid_never_a_score(
    run: Path, status: int, payload: dict[str, Any], error: str
) -> None:
    with judge_server(lambda body: (status, payload)) as (url, _):
        scores = grade_outputs(load_outputs(run), EndpointJudge(url, "any"))
    assert [s.score for s in scores] == [None, None, None]
    assert all(s.error == error and not s.valid for s in scores)
    if error == "the reply did not parse":
        assert scores[0].reply == "It is good, I think four."


def test_an_unreachable_judge_is_a_clear_error(registry: ModelRegistry) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(JudgeError, match=f"cannot reach the judge at {url}"):
        open_judge(url, registry)


def test_a_judge_url_with_a_named_model_is_checked_first(registry: ModelRegistry) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(JudgeError, match="cannot reach the judge"):
        open_judge(url, registry, judge_model="named")
    with judge_server(lambda body: chat_reply("SCORE: 1")) as (url, _):
        judge = open_judge(url, registry, judge_model="named")
    assert judge.name == f"named @ {url}"
