from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.bench.prompts import Prompt, PromptFileError, default_prompts, load_prompts


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps(data))
    return path


def test_the_default_set_is_the_workshops_four_prompts() -> None:
    prompts = default_prompts()
    assert [p.id for p in prompts] == ["p1", "p2", "p3", "p4"]
    assert prompts[1].prompt == "List 3 privacy benefits of local inference."


def test_the_default_set_carries_checks_facets_and_references() -> None:
    for prompt in default_prompts():
        assert prompt.expect is not None and not prompt.expect.is_empty
        assert prompt.facets and prompt.reference


def test_expectations_survive_the_round_trip_through_run_json(tmp_path: Path) -> None:
    prompts = load_prompts(
        write(tmp_path, [{"id": "j", "prompt": "JSON please", "expect": {"json": True}}])
    )
    assert prompts[0].expect is not None and prompts[0].expect.json_
    for prompt in [*prompts, *default_prompts()]:
        assert Prompt.model_validate_json(prompt.model_dump_json()) == prompt


def test_a_list_of_strings_and_of_objects(tmp_path: Path) -> None:
    prompts = load_prompts(write(tmp_path, ["one", "two"]))
    assert [(p.id, p.prompt) for p in prompts] == [("p1", "one"), ("p2", "two")]
    prompts = load_prompts(
        write(
            tmp_path,
            [
                {
                    "id": "rag",
                    "prompt": "Explain RAG.",
                    "system": "Be brief.",
                    "expect": {"contains": ["retriev"], "max_words": 80},
                    "facets": ["retrieval"],
                    "reference": "RAG retrieves...",
                }
            ],
        )
    )
    assert prompts[0].expect is not None and prompts[0].expect.contains == ("retriev",)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ([], "non-empty JSON list"),
        ([3], "prompt #1 must be a string or an object"),
        (["  "], "prompt #1 is empty"),
        ([{"id": "a", "prompt": "x", "colour": 1}], "prompt 'a', field 'colour'"),
        ([{"id": "a"}], "prompt 'a', field 'prompt'"),
        ([{"id": "a", "prompt": "x", "expect": {"min_words": -1}}], "field 'expect.min_words'"),
        ([{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}], "'a' appears twice"),
        (
            [{"id": "a", "prompt": "x", "expect": {"regex": "(unclosed"}}],
            "prompt 'a', field 'expect.regex': not a valid regular expression",
        ),
        (
            [{"id": "a", "prompt": "x", "expect": {"min_words": 9, "max_words": 3}}],
            "field 'expect': min_words (9) is above max_words (3)",
        ),
        ([{"id": "a", "prompt": "x", "expect": {"json": "maybe"}}], "field 'expect.json'"),
    ],
)
def test_errors_name_the_file_the_prompt_and_the_field(
    tmp_path: Path, data: object, needle: str
) -> None:
    path = write(tmp_path, data)
    with pytest.raises(PromptFileError) as info:
        load_prompts(path)
    assert str(path) in info.value.message and needle in info.value.message
