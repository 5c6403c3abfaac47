"""A fake model behind a real server, as a user testing client code sees it with the official
openai client: the same reply every time, streamed as it is whole, and counted in words."""

from __future__ import annotations

import openai
from openai.types.chat import ChatCompletionMessageParam

from tests.server.conftest import RunningServer

HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hi."}]


def client(server: RunningServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def test_a_reply_is_the_same_every_time_and_streams_as_it_is_whole(
    fake_server: RunningServer,
) -> None:
    api = client(fake_server)
    whole = api.chat.completions.create(model="fake", messages=HI, seed=3)
    assert (
        whole.model_dump()["choices"][0]
        == api.chat.completions.create(model="fake", messages=HI, seed=3).model_dump()["choices"][0]
    )
    content = whole.choices[0].message.content or ""
    assert len(content.split()) == 16 and whole.choices[0].finish_reason == "stop"
    assert whole.usage is not None
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (4, 16)
    stream = api.chat.completions.create(
        model="fake", messages=HI, seed=3, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == content
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 16
    other = api.chat.completions.create(model="fake", messages=HI, seed=4)
    assert other.choices[0].message.content != content


def test_max_tokens_and_stop_end_a_reply_as_on_a_real_model(fake_server: RunningServer) -> None:
    api = client(fake_server)
    cut = api.completions.create(model="fake", prompt="Once upon", max_tokens=5)
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None and cut.usage.completion_tokens == 5
    word = cut.choices[0].text.split()[2]
    stopped = api.completions.create(model="fake", prompt="Once upon", stop=[word])
    assert stopped.choices[0].finish_reason == "stop"
    assert word not in stopped.choices[0].text
    assert cut.choices[0].text.startswith(stopped.choices[0].text)
