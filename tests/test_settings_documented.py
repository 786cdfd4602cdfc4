"""Every setting is written down where a clinic's IT person looks: the README's Settings
table or docs/deploy.md. A field added to `Settings` without a word fails here."""

from pathlib import Path

from aftercare.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented_by_its_variable_name():
    written = (ROOT / "README.md").read_text() + (ROOT / "docs" / "deploy.md").read_text()
    prefix = Settings.model_config.get("env_prefix", "")
    assert prefix == "AFTERCARE_"
    missing = [
        f"{prefix}{name.upper()}"
        for name in Settings.model_fields
        if f"`{prefix}{name.upper()}`" not in written
    ]
    assert missing == [], f"document these in the README's Settings table: {missing}"
