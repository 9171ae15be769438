"""What HA and HACS check before they load or list the integration."""

from __future__ import annotations

import json
from pathlib import Path
import struct

from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_custom_components

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "custom_components" / "dell_fan_control"


def test_manifest_keys_sorted_and_complete() -> None:
    manifest = json.loads((PACKAGE / "manifest.json").read_text(encoding="utf-8"))
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    for key in ("version", "documentation", "issue_tracker", "codeowners"):
        assert manifest[key]
    assert manifest["requirements"] == ["python-ipmi==0.6.1"]
    assert manifest["after_dependencies"] == ["mqtt"]


def test_hacs_json_has_only_known_keys() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text(encoding="utf-8"))
    known = {
        "name", "content_in_root", "zip_release", "filename", "hide_default_branch",
        "country", "homeassistant", "hacs", "persistent_directory", "render_readme",
    }  # fmt: skip
    assert set(hacs) <= known
    assert hacs["homeassistant"] == "2026.10.0"


def test_brand_icons_are_square_pngs() -> None:
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        data = (PACKAGE / "brand" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", data[16:24]) == (size, size)


def test_strings_and_translation_match() -> None:
    strings = (PACKAGE / "strings.json").read_text(encoding="utf-8")
    english = (PACKAGE / "translations" / "en.json").read_text(encoding="utf-8")
    assert json.loads(strings) == json.loads(english)


async def test_home_assistant_finds_the_integration(hass: HomeAssistant) -> None:
    integrations = await async_get_custom_components(hass)
    integration = integrations["dell_fan_control"]
    assert integration.config_flow
    assert str(integration.version) == "0.1.0"
    assert integration.has_branding
