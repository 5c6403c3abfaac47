"""The server's /metrics as the bench reads them: the names of llama.cpp's server and vLLM."""

from __future__ import annotations

from assay.bench.server_metrics import ServerSample, metrics_url, parse_sample

LLAMA_SERVER = """\
# HELP llamacpp:kv_cache_usage_ratio KV-cache usage. 1 means 100 percent usage.
# TYPE llamacpp:kv_cache_usage_ratio gauge
llamacpp:kv_cache_usage_ratio 0.25
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 3
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 1
"""

VLLM = """\
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="a"} 2.0
vllm:num_requests_running{model_name="b"} 1.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="a"} 4.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="a"} 0.5
vllm:kv_cache_usage_perc{model_name="b"} 0.75
"""


def test_each_servers_names_give_the_same_three_figures() -> None:
    assert parse_sample(LLAMA_SERVER, 7, "m") == ServerSample(
        t_ns=7, model="m", waiting=1, running=3, kv_cache_usage=0.25
    )
    # Counts add up over label sets; the cache's use is the fullest one.
    assert parse_sample(VLLM, 7, "m") == ServerSample(
        t_ns=7, model="m", waiting=4, running=3, kv_cache_usage=0.75
    )


def test_a_page_without_them_says_whether_it_knows_them() -> None:
    declared = "# HELP assay_queue_depth Requests waiting\n# TYPE assay_queue_depth gauge\n"
    assert parse_sample(declared, 0, "m") is True  # assay serve before its model loads
    assert parse_sample("# TYPE other gauge\nother 1\n", 0, "m") is False
    assert metrics_url("http://127.0.0.1:5273/v1") == "http://127.0.0.1:5273/metrics"
    assert metrics_url("http://host:8000/v1/") == "http://host:8000/metrics"
