"""`assay serve`'s options are generated from ServerSettings: one list, not two."""

from __future__ import annotations

from typing import Any

from assay.cli.main import load_command
from assay.cli.serve import _server_settings
from assay.config import Settings
from assay.server.settings import ServerSettings


def _options() -> dict[str, Any]:
    return {param.name: param for param in load_command("serve").params}


def test_every_server_setting_is_an_option_with_its_help_default_and_bounds() -> None:
    options = _options()
    for name, field in ServerSettings.model_fields.items():
        option = options[name]
        assert option.help == field.description, name
        if not isinstance(field.default, tuple):
            assert option.default == field.default, name
    assert (
        "--ctx" in options["context_size"].opts
        and "--memory-budget" in options["memory_budget_bytes"].opts
    )
    assert (options["port"].min, options["port"].max) == (0, 65535)
    assert options["max_body_bytes"].min == 1024


def test_repeated_and_comma_separated_values_both_count() -> None:
    options = {name: field.default for name, field in ServerSettings.model_fields.items()}
    options |= {"models": ["a,b", " c "], "cors_origins": None, "api_key": None}
    settings = _server_settings(options, Settings(api_key="from-env"))
    assert settings.models == ("a", "b", "c") and settings.cors_origins == ()
    assert settings.api_key == "from-env"  # the option wins; the environment fills in
