"""hub/*.yml: Meltano Hub plugin definitions that agree with the plugins and pass the Hub's rules.

The rules below are the Meltano Hub's own, taken from the meltano/hub repository's JSON schemas
that its CI validates every definition with (schemas/plugin_definitions/{extractors,loaders}
.schema.json, which combine schemas/common/common.schema.json, base_setting.schema.json,
{extractors,loaders}_specific.schema.json and plugin_definitions/hub_metadata.schema.json;
`structured-logging` joined both capability lists in meltano/hub pull request 2114). A key or
value outside them makes the Hub reject the file — `env_aliases`, for instance, is not a key a
Hub setting may have.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml
from meltano.core.plugin import PluginType
from meltano.core.plugin.base import PluginDefinition

from tests.hub import PLUGIN_TYPES, about, hub_path, project_plugin, project_urls, render
from tests.test_project_files import KIND_TYPES, schema_type

_COMMON_KEYS = {
    "name", "namespace", "variant", "label", "description", "logo_url", "pip_url", "executable",
    "repo", "docs", "python", "settings", "settings_group_validation", "commands", "hidden",
    "requires", "maintenance_status", "quality", "domain_url", "keywords", "definition",
    "next_steps", "settings_preamble", "usage", "prereq", "supported_python_versions",
    "log_parser", "capabilities",
}  # fmt: skip
ALLOWED_KEYS = {
    "extractors": _COMMON_KEYS | {"metadata", "schema", "select"},
    "loaders": _COMMON_KEYS | {"dialect", "target_schema"},
}
REQUIRED_KEYS = ["name", "namespace", "variant", "quality"]
CAPABILITIES = {
    "extractors": [
        "properties", "catalog", "discover", "state", "about", "stream-maps", "schema-flattening",
        "activate-version", "batch", "test", "log-based", "structured-logging",
    ],
    "loaders": [
        "about", "stream-maps", "activate-version", "batch", "soft-delete", "hard-delete",
        "datatype-failsafe", "schema-flattening", "target-schema", "validate-records",
        "structured-logging",
    ],
}  # fmt: skip
SETTING_KINDS = [
    "oauth", "hidden", "password", "date_iso8601", "file", "email", "integer", "options",
    "object", "array", "boolean", "string", "decimal",
]  # fmt: skip
SETTING_KEYS = [
    "name", "aliases", "label", "value", "placeholder", "kind", "description", "tooltip",
    "documentation", "env", "value_processor", "value_post_processor", "oauth", "options",
    "docs", "hidden", "sensitive",
]  # fmt: skip
STRING_KEYS = ["name", "namespace", "variant", "label", "description", "pip_url", "executable",
               "repo", "docs"]  # fmt: skip
STRINGS = {"type": "array", "items": {"type": "string"}}


def hub_schema(plugin_type: str) -> dict[str, Any]:
    """The Hub's rules for one plugin type as a JSON schema (draft 7, as the Hub's own)."""
    setting = {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            **{key: {} for key in SETTING_KEYS},
            "name": {"type": "string"},
            "kind": {"enum": SETTING_KINDS},
            "options": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"label": {"type": "string"}, "value": {"type": "string"}},
                },
            },
            "sensitive": {"type": "boolean"},
        },
    }
    return {
        "type": "object",
        "required": REQUIRED_KEYS,
        "additionalProperties": False,
        "properties": {
            **{key: {} for key in ALLOWED_KEYS[plugin_type]},
            **{key: {"type": "string"} for key in STRING_KEYS},
            "capabilities": {"type": "array", "items": {"enum": CAPABILITIES[plugin_type]}},
            "keywords": STRINGS,
            "maintenance_status": {
                "enum": ["active", "beta", "development", "inactive", "unknown"]
            },
            "quality": {"enum": ["gold", "silver", "bronze", "unknown"]},
            "domain_url": {"type": ["string", "null"], "format": "uri"},
            "commands": {"type": "object"},
            "settings": {"type": "array", "items": setting},
            "settings_group_validation": {"type": "array", "items": STRINGS},
            "supported_python_versions": {
                "type": "array",
                "items": {"type": "string", "pattern": r"^3\.\d+$"},
            },
            "log_parser": {"enum": ["singer-sdk"]},
        },
    }


def hub_definition(name: str) -> dict[str, Any]:
    return yaml.safe_load(hub_path(name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", list(PLUGIN_TYPES))
def test_hub_definition_is_generated_from_the_plugin(name):
    assert hub_path(name).read_text(encoding="utf-8") == render(name), (
        "run `uv run python -m tests.hub` to update hub/"
    )


@pytest.mark.parametrize("name", list(PLUGIN_TYPES))
def test_hub_definition_follows_the_hubs_rules(name):
    definition = hub_definition(name)
    plugin_type = PLUGIN_TYPES[name]
    errors = [
        f"{'/'.join(map(str, e.path))}: {e.message}"
        for e in jsonschema.Draft7Validator(hub_schema(plugin_type)).iter_errors(definition)
    ]
    assert errors == []
    assert "meltano_sdk" in definition["keywords"]
    declared = {s["name"] for s in definition["settings"]}
    assert all(set(group) <= declared for group in definition["settings_group_validation"])
    folder = definition["pip_url"].split("#subdirectory=")[1]
    assert definition["pip_url"] == f"git+{definition['repo']}.git#subdirectory={folder}"
    assert folder == name
    # Meltano itself reads it as a plugin definition.
    parsed = PluginDefinition.parse({"plugin_type": PluginType(plugin_type), **definition})
    assert parsed.name == name
    assert parsed.variants[0].pip_url == definition["pip_url"]


@pytest.mark.parametrize("name", list(PLUGIN_TYPES))
def test_hub_definition_agrees_with_about(name):
    definition = hub_definition(name)
    described = about(name)
    properties = described["settings"]["properties"]
    assert [s["name"] for s in definition["settings"]] == list(properties)
    for setting in definition["settings"]:
        schema = properties[setting["name"]]
        assert setting["label"] == schema["title"], setting["name"]
        assert setting["description"] == schema["description"], setting["name"]
        assert setting.get("value") == schema.get("default"), setting["name"]
        assert setting.get("sensitive", False) == bool(schema.get("secret")), setting["name"]
        assert KIND_TYPES[setting["kind"]] & schema_type(schema), setting["name"]
        if "options" in setting:
            assert [o["value"] for o in setting["options"]] == schema["enum"], setting["name"]
    assert definition["capabilities"] == sorted(described["capabilities"])
    assert definition["supported_python_versions"] == described["supported_python_versions"]
    required = set(described["settings"].get("required", []))
    assert all(required <= set(group) for group in definition["settings_group_validation"])
    assert definition["repo"] == project_urls(name)["Repository"]
    declared = project_plugin(name)
    assert definition["executable"] == declared["executable"]
    assert definition.get("commands") == declared.get("commands")
