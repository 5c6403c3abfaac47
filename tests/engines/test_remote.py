"""A remote upstream as a model of assay: loaded, proxied by assay serve, benchmarked."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from assay import openai_wire as wire
from assay.catalog import ModelEntry, Variant
from assay.config import Settings
from assay.engines import Message, SamplingParams, Usage, collect
from assay.engines.timing import StreamTimer
from assay.errors import EngineError, ModelFileError
from assay.registry import ModelRegistry
from tests.bench.conftest import mock_server
from tests.server.conftest import running_server

pytestmark = pytest.mark.slow


def registry_with(tmp_path: Path, entries: Mapping[str, Mapping[str, object]]) -> ModelRegistry:
    models = tmp_path / "models.json"
    models.write_text(json.dumps(entries))
    return ModelRegistry(Settings(models_file=models))


def test_an_upstream_streams_through_assay_and_serve_proxies_it(tmp_path: Path) -> None:
    with mock_server("--ttft-ms", "50", "--itl-ms", "10", "--output-tokens", "12") as url:
        registry = registry_with(tmp_path, {"upstream": {"endpoint": url, "model": "mock"}})
        assert registry.is_cached(*_entry(registry, "upstream"))
        model = registry.load("upstream").model
        chunks = list(model.chat([Message("user", "hi")], SamplingParams(max_tokens=12)))
        text = "".join(c.text for c in chunks)
        assert len(text.split()) == 12 and chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens == 12 and chunks[-1].usage.source == "engine"
        assert model.info.engine == "remote" and model.info.engine_version == url

        with running_server(registry) as server:
            api = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)

            async def many() -> list[str]:
                async def one() -> str:
                    reply = await api.chat.completions.create(
                        model="upstream",
                        messages=[{"role": "user", "content": "hi"}],
                        max_tokens=12,
                    )
                    return reply.choices[0].message.content or ""

                return await asyncio.gather(*(one() for _ in range(8)))

            # Loaded first, so the time below is the 8 requests' alone.
            httpx.post(f"{server.base_url}/models/upstream/load", timeout=30).raise_for_status()
            started = time.perf_counter()
            replies = asyncio.run(many())
            elapsed = time.perf_counter() - started
            assert all(len(r.split()) == 12 for r in replies)
            # Side by side through the proxy, not one by one: one by one, 8 requests could not
            # take less than 8 times the upstream's own time for one (50 ms to the first token,
            # 10 between tokens: 160 ms). Long upstream requests keep the client's and the
            # server's own work on 2 busy cores well inside that bound.
            assert elapsed < 8 * (0.050 + 11 * 0.010)
        model.close()


def test_chunks_of_several_tokens_add_up_to_the_upstream_count(tmp_path: Path) -> None:
    """Each chunk of 3 tokens passes as it arrives; the usage at the end says 12, and the
    chunks' counts add up to it, as the bench's endpoint target spreads the same stream."""
    args = ("--ttft-ms", "5", "--itl-ms", "1", "--tokens-per-chunk", "3", "--output-tokens", "12")
    with mock_server(*args) as url:
        registry = registry_with(tmp_path, {"upstream": {"endpoint": url, "model": "mock"}})
        model = registry.load("upstream").model
        timer = StreamTimer()
        chunks = list(timer.watch(model.chat([Message("user", "hi")], SamplingParams())))
        model.close()
    texts = [c.text for c in chunks if c.text]
    assert len(texts) == 4 and chunks[-1].usage == Usage(10, 12)
    assert sum(c.tokens for c in chunks) == 12 == sum(wire.spread_tokens(texts, 12))
    assert timer.tokens == 12  # `assay run`'s decode rate counts every token


def test_an_upstream_error_is_one_line_with_its_message(tmp_path: Path) -> None:
    with mock_server("--ttft-ms", "0", "--failure-rate", "1") as url:
        registry = registry_with(tmp_path, {"upstream": {"endpoint": url, "model": "mock"}})
        model = registry.load("upstream").model
        with pytest.raises(EngineError) as failed:
            collect(model.chat([Message("user", "hi")], SamplingParams(max_tokens=4)))
        model.close()
    assert failed.value.message == f"upstream {url}/chat/completions answered 500: mock failure"


def _entry(registry: ModelRegistry, name: str) -> tuple[ModelEntry, Variant]:
    resolved = registry.resolve(name)
    return resolved.entry, resolved.variant


def test_a_keyed_upstream_and_the_errors(
    tmp_path: Path, registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_server(registry, api_key="upstream-key") as upstream:
        entries = {
            "keyed": {
                "endpoint": upstream.base_url,
                "model": "smollm2-135m",
                "api_key_env": "UPSTREAM_KEY",
            },
            "down": {"endpoint": "http://127.0.0.1:9/v1", "model": "x"},
        }
        remote = registry_with(tmp_path, entries)
        with pytest.raises(ModelFileError, match=r"needs the key in \$UPSTREAM_KEY"):
            remote.load("keyed")
        monkeypatch.setenv("UPSTREAM_KEY", "upstream-key")
        model = remote.load("keyed").model
        text, final = collect(
            model.chat([Message("user", "Say hello.")], SamplingParams(temperature=0, max_tokens=8))
        )
        assert text.strip() and final.usage is not None and final.usage.completion_tokens == 8
        model.close()
        with pytest.raises(
            ModelFileError, match=r"upstream http://127\.0\.0\.1:9/v1 cannot be reached"
        ):
            remote.load("down")


def test_bench_measures_an_upstream_beside_a_local_model(tmp_path: Path) -> None:
    with mock_server("--ttft-ms", "30", "--itl-ms", "3", "--output-tokens", "16") as url:
        models = tmp_path / "models.json"
        models.write_text(json.dumps({"upstream": {"endpoint": url, "model": "mock"}}))
        out = tmp_path / "runs"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "assay",
                "bench",
                "--models",
                "upstream,smollm2-135m",
                "--rounds",
                "1",
                "--warmup",
                "1",
                "--max-tokens",
                "16",
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "ASSAY_MODELS_FILE": str(models)},
        )
    assert result.returncode == 0, result.stderr
    (run,) = list(out.iterdir())
    upstream, local = json.loads((run / "summary.json").read_text())["models"]
    assert upstream["status"] == local["status"] == "ok"
    level = upstream["levels"][0]
    assert abs(level["ttft_s"]["p50"] * 1000 - 30) < 5  # the upstream's 30 ms, through assay
    assert upstream["info"]["engine"] == "remote"


def test_what_an_engine_cannot_do_is_a_400_naming_the_field(tmp_path: Path) -> None:
    with mock_server("--ttft-ms", "1", "--itl-ms", "1") as url:
        registry = registry_with(tmp_path, {"upstream": {"endpoint": url, "model": "mock"}})
        with running_server(registry) as server:
            api = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
            hi: Any = [{"role": "user", "content": "hi"}]
            with pytest.raises(openai.BadRequestError) as constrained:
                api.chat.completions.create(
                    model="upstream", messages=hi, response_format={"type": "json_object"}
                )
            with pytest.raises(openai.BadRequestError) as scored:
                api.chat.completions.create(model="upstream", messages=hi, logprobs=True)
            tool: Any = {"type": "function", "function": {"name": "now"}}
            with pytest.raises(openai.BadRequestError) as tooled:
                api.chat.completions.create(model="upstream", messages=hi, tools=[tool])
    assert constrained.value.param == "response_format" and scored.value.param == "logprobs"
    assert tooled.value.param == "tools" and "remote engine, which cannot" in tooled.value.message
    assert "upstream runs on the remote engine, which cannot" in constrained.value.message
    assert "logprobs needs a model that gives log probabilities" in scored.value.message
