"""logprobs / top_logprobs in chat and logprobs in completions, streamed and not, on the
batched and the unbatched llama.cpp path; echo. The official openai client, a real server."""

from __future__ import annotations

import math

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.server.conftest import RunningServer, ServerFactory

pytestmark = pytest.mark.slow

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hi."}]


def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


@pytest.mark.parametrize("parallel", [1, 4], ids=["unbatched", "batched"])
def test_chat_logprobs_whole_and_streamed_agree(make_server: ServerFactory, parallel: int) -> None:
    with make_server(parallel=parallel) as running:
        api = client(running)
        common = {"model": "smollm2-135m", "messages": HI, "temperature": 0, "max_tokens": 8}
        whole = api.chat.completions.create(logprobs=True, top_logprobs=3, **common)  # type: ignore[call-overload]
        stream = api.chat.completions.create(
            logprobs=True,
            top_logprobs=3,
            stream=True,
            **common,  # type: ignore[call-overload]
        )
        streamed = [
            entry
            for chunk in stream
            if chunk.choices and chunk.choices[0].logprobs
            for entry in chunk.choices[0].logprobs.content or []
        ]
    choice = whole.choices[0]
    assert choice.logprobs is not None and choice.logprobs.content is not None
    entries = choice.logprobs.content
    assert whole.usage is not None and len(entries) == whole.usage.completion_tokens == 8
    assert "".join(e.token for e in entries) == choice.message.content
    for entry in entries:
        assert entry.logprob <= 0 and bytes(entry.bytes or []).decode() == entry.token
        assert len(entry.top_logprobs) == 3
        # Greedy: the token taken is the most likely one; alternatives come best first.
        assert entry.top_logprobs[0].token == entry.token
        assert math.isclose(entry.top_logprobs[0].logprob, entry.logprob)
        values = [t.logprob for t in entry.top_logprobs]
        assert values == sorted(values, reverse=True)
    assert [(e.token, round(e.logprob, 4)) for e in streamed] == [
        (e.token, round(e.logprob, 4)) for e in entries
    ]


def test_batched_and_unbatched_give_the_same_numbers(
    server: RunningServer, make_server: ServerFactory
) -> None:
    def first_entries(running: RunningServer) -> list[tuple[str, float]]:
        reply = client(running).chat.completions.create(
            model="smollm2-135m", messages=HI, temperature=0, max_tokens=4, logprobs=True
        )
        assert reply.choices[0].logprobs is not None
        return [(e.token, e.logprob) for e in reply.choices[0].logprobs.content or []]

    with make_server(parallel=1) as alone:
        unbatched = first_entries(alone)
    batched = first_entries(server)
    assert [t for t, _ in batched] == [t for t, _ in unbatched]
    assert all(
        math.isclose(a, b, abs_tol=1e-3) for (_, a), (_, b) in zip(batched, unbatched, strict=True)
    )


def test_completion_logprobs_and_echo(server: RunningServer) -> None:
    api = client(server)
    reply = api.completions.create(
        model="smollm2-135m", prompt="The sky is", max_tokens=5, temperature=0, logprobs=2
    )
    scores = reply.choices[0].logprobs
    assert scores is not None and scores.tokens and scores.token_logprobs and scores.top_logprobs
    assert "".join(scores.tokens) == reply.choices[0].text
    assert len(scores.top_logprobs) == len(scores.tokens) == 5
    assert all(len(top) == 2 for top in scores.top_logprobs)
    assert scores.text_offset == [
        sum(len(t) for t in scores.tokens[:i]) for i in range(len(scores.tokens))
    ]
    echoed = api.completions.create(
        model="smollm2-135m", prompt="The sky is", max_tokens=5, temperature=0, echo=True
    )
    assert echoed.choices[0].text == "The sky is" + reply.choices[0].text
    streamed = api.completions.create(
        model="smollm2-135m", prompt="The sky is", max_tokens=5, temperature=0, echo=True,
        stream=True,
    )  # fmt: skip
    assert "".join(c.choices[0].text for c in streamed if c.choices) == echoed.choices[0].text


def test_top_logprobs_without_logprobs_and_echo_with_logprobs_are_400s(
    server: RunningServer,
) -> None:
    api = client(server)
    with pytest.raises(openai.BadRequestError, match="top_logprobs needs logprobs: true"):
        api.chat.completions.create(model="smollm2-135m", messages=HI, top_logprobs=2)
    with pytest.raises(openai.BadRequestError, match="echo with logprobs"):
        api.completions.create(model="smollm2-135m", prompt="Hi", echo=True, logprobs=1)
    with pytest.raises(openai.BadRequestError):
        api.chat.completions.create(
            model="smollm2-135m", messages=HI, logprobs=True, top_logprobs=21
        )
