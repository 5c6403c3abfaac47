"""The `assay` command as a user runs it: a real process, real models, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

ASSAY = [sys.executable, "-m", "assay"]


def assay(
    *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ASSAY, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


def test_help_does_not_import_the_engine() -> None:
    code = "import sys; import assay.cli.main; assert 'llama_cpp' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    result = assay("--help")
    assert result.returncode == 0
    for command in ("run", "models"):
        assert command in result.stdout


def test_top_level_help_loads_no_command_module() -> None:
    # `assay --help` lists the commands from cli/main.COMMANDS: no command module, no pydantic,
    # no registry is imported (benchmarks/cli_startup.py measures what that saves).
    code = (
        "import sys\n"
        "from assay.cli.main import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit as exit:\n    assert exit.code == 0\n"
        "prefixes = ('assay.cli.', 'pydantic', 'assay.registry', 'assay.config')\n"
        "loaded = [m for m in sys.modules if m.startswith(prefixes) and m != 'assay.cli.main']\n"
        "assert loaded == [], loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "bench" in result.stdout and "Did you mean" not in result.stdout


def test_the_listing_says_what_each_command_says_of_itself() -> None:
    from assay.cli.main import COMMANDS, load_command

    for name, (_, line) in COMMANDS.items():
        command = load_command(name)
        first_paragraph = " ".join((command.help or "").split("\n\n")[0].split())
        assert first_paragraph == " ".join(line.split()), name


def test_a_misspelt_command_gets_a_suggestion() -> None:
    result = assay("bnch")
    assert result.returncode == 2 and "Did you mean 'bench'?" in result.stderr


def test_help_keeps_extras_in_brackets() -> None:
    result = assay("convert", "--help")
    assert result.returncode == 0 and "needs assay[convert]." in result.stdout


def test_models_list_shows_the_catalog_with_cached_state() -> None:
    result = assay("models", "list")
    assert result.returncode == 0
    for column in ("Alias", "Variant", "Engine", "Device", "Size", "Params", "License", "Cached"):
        assert column in result.stdout
    assert "smollm2-135m" in result.stdout and "mistral-7b" in result.stdout


def test_models_list_filters_and_json() -> None:
    result = assay("models", "list", "--json", "--filter", "cached=yes")
    rows = json.loads(result.stdout)
    assert {row["alias"] for row in rows} == {"smollm2-135m", "gemma3-270m"}
    result = assay("models", "list", "--json", "--filter", "license=mit")
    assert {row["alias"] for row in json.loads(result.stdout)} == {
        "deepseek-r1-distill-qwen-1.5b",
        "phi-3.5-mini",
    }
    assert_one_line_error(assay("models", "list", "--filter", "colour=red"), "bad filter")


def test_models_show_names_the_chat_template_source() -> None:
    result = assay("models", "show", "gemma3-270m")
    assert result.returncode == 0
    assert "falls back to the gemma format" in result.stdout
    assert "Gemma" in result.stdout
    result = assay("models", "show", "smollm2-135m")
    assert "from the GGUF metadata" in result.stdout
    assert "b179c9523d0e6a0f" in result.stdout


@pytest.mark.slow
def test_run_streams_the_answer_and_prints_one_timing_line() -> None:
    result = assay(
        "run",
        "smollm2-135m",
        "--temperature",
        "0",
        "--max-tokens",
        "24",
        "--prompt",
        "List 3 privacy benefits of local inference.",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    timing = result.stderr.strip().splitlines()
    assert len(timing) == 1
    for part in ("ttft", "decode", "tok/s", "24 tokens", "threads"):
        assert part in timing[0]


@pytest.mark.slow
def test_run_reads_the_prompt_from_stdin_and_is_deterministic() -> None:
    args = ("run", "gemma3-270m", "--temperature", "0", "--seed", "1", "--max-tokens", "16")
    first = assay(*args, stdin="The capital of France is")
    second = assay(*args, stdin="The capital of France is")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and first.stdout.strip()


def test_unknown_model_exits_2_with_a_suggestion() -> None:
    assert_one_line_error(
        assay("run", "smollm", "--prompt", "hi"), "unknown model 'smollm'", "did you mean"
    )


@pytest.mark.slow
def test_a_truncated_gguf_exits_2(
    tmp_path: Path, smollm_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(smollm_path.read_bytes()[:3_000_000])
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"broken": {"path": str(broken), "capabilities": ["chat"]}}))
    monkeypatch.setenv("ASSAY_MODELS_FILE", str(models))
    assert_one_line_error(assay("run", "broken", "--prompt", "hi"), "truncated or corrupt")


def test_a_bad_models_json_entry_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"mine": {"path": "/x.gguf", "size_mb": "huge"}}))
    monkeypatch.setenv("ASSAY_MODELS_FILE", str(models))
    assert_one_line_error(assay("models", "list"), str(models), "'mine'", "'size_mb'")


@pytest.mark.slow
def test_a_prompt_longer_than_the_context_exits_2() -> None:
    result = assay("run", "smollm2-135m", "--ctx", "256", "--prompt", "word " * 600)
    assert_one_line_error(result, "context holds 256")


def test_an_empty_prompt_exits_2() -> None:
    assert_one_line_error(assay("run", "smollm2-135m", stdin="   \n"), "the prompt is empty")


@pytest.mark.slow
def test_interactive_chat_keeps_history_resets_and_survives_ctrl_c() -> None:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "assay", "run", "smollm2-135m", "--temperature", "0", "--max-tokens", "400"],
        env=os.environ.copy(),
        encoding="utf-8",
        timeout=60,
    )
    try:
        child.expect_exact(">>> ")
        child.sendline("Write a long story about a lighthouse keeper.")
        child.expect_exact("keeper.\r\n")  # the terminal's echo of the line
        child.expect(r"\w+ \w+ \w+")  # the answer has begun streaming
        child.sendintr()
        child.expect_exact("[stopped]")
        child.expect_exact(">>> ")
        child.sendline("Say hello.")
        child.expect("tok/s")
        child.expect_exact(">>> ")
        child.sendline("/reset")
        child.expect_exact("history cleared")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


@pytest.mark.slow
def test_llama_log_is_a_setting_off_by_default() -> None:
    command = [*ASSAY, "run", "smollm2-135m", "--prompt", "hi", "--max-tokens", "2"]
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=120)
    env = os.environ | {"ASSAY_LLAMA_LOG": "1"}
    loud = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert quiet.returncode == loud.returncode == 0, loud.stderr
    assert "llama_context" not in quiet.stderr and len(quiet.stderr.splitlines()) == 1
    assert "llama_context" in loud.stderr


@pytest.mark.slow
def test_run_with_a_json_schema_answers_json_that_matches_it(tmp_path: Path) -> None:
    import jsonschema

    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    path = tmp_path / "cat.json"
    path.write_text(json.dumps(schema))
    result = assay("run", "smollm2-135m", "-p", "Describe a cat.", "--json-schema", str(path))
    assert result.returncode == 0, result.stderr
    jsonschema.validate(json.loads(result.stdout), schema)
    path.write_text(json.dumps({"type": "integer", "minimum": 1}))
    refused = assay("run", "smollm2-135m", "-p", "hi", "--json-schema", str(path))
    assert_one_line_error(refused, "'minimum' at #", "cannot enforce")
