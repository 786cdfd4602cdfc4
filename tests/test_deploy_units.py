"""The systemd units of docs/deploy.md §4, checked by systemd itself.

Every fenced block of docs/deploy.md whose first line is `# /etc/systemd/system/NAME`
is a unit. Each is written to a temporary folder, with the virtual environment's path
of the documentation (/srv/aftercare/venv/bin/) pointed at this one's, since `verify`
checks that the command exists; then `systemd-analyze verify` (the real one) must find
nothing to say: it exits 0 even for an unknown key or section, so any line it prints
about a unit is a failure. The same check must refuse broken copies. And the command
lines must be ones the `aftercare` command accepts.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"
UNIT_DIR = "/etc/systemd/system/"
DOC_BIN = "/srv/aftercare/venv/bin/"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "RestrictSUIDSGID": "yes",
    "CapabilityBoundingSet": "",
}


def _analyze() -> str:
    found = shutil.which("systemd-analyze") or (
        "/usr/bin/systemd-analyze" if Path("/usr/bin/systemd-analyze").exists() else None
    )
    if found is None:
        pytest.fail(
            "systemd-analyze is not installed, and the systemd units of docs/deploy.md §4 "
            "cannot be checked without it. Install it: `apt-get install systemd` on Debian "
            "or Ubuntu, `dnf install systemd` on Fedora (no running systemd is needed)."
        )
    return found


def _units() -> dict[str, str]:
    """Name -> text of every unit in docs/deploy.md."""
    text = DEPLOY.read_text(encoding="utf-8")
    units: dict[str, str] = {}
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S):
        first = block.split("\n", 1)[0]
        if first.startswith("# " + UNIT_DIR):
            name = first.removeprefix("# " + UNIT_DIR).strip()
            assert name not in units, f"{name} is given twice"
            units[name] = block
    return units


def _instance(name: str) -> str:
    """A template is verified as one of its instances (the web one's is its port)."""
    if "@." not in name:
        return name
    prefix, suffix = name.split("@.")
    return f"{prefix}@{'8001' if 'web' in prefix else '1'}.{suffix}"


def _install(folder: Path, units: dict[str, str]) -> Path:
    folder.mkdir()
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "aftercare").exists(), f"no aftercare command in {venv_bin}"
    for name, text in units.items():
        (folder / name).write_text(text.replace(DOC_BIN, f"{venv_bin}/"), encoding="utf-8")
    return folder


def _verify(folder: Path, name: str) -> list[str]:
    """What systemd-analyze says is wrong with the unit; empty when nothing."""
    result = subprocess.run(
        [_analyze(), "verify", "--man=no", "--generators=no", str(folder / _instance(name))],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    said = (result.stdout + result.stderr).splitlines()
    problems = [line for line in said if "aftercare" in line]
    if result.returncode != 0:
        problems.append(f"exit code {result.returncode}: {said}")
    return problems


def _settings(text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_units_of_deploy_md_pass_systemd_analyze_verify(tmp_path):
    units = _units()
    assert {"aftercare-web@.service", "aftercare-worker@.service"} <= set(units), set(units)
    folder = _install(tmp_path / "units", units)
    for name in units:
        assert _verify(folder, name) == [], name

    # The same check refuses a unit with an error; each copy is broken in one way.
    web = units["aftercare-web@.service"]
    broken = {  # what is wrong -> (the copy, a word systemd-analyze must say)
        "unknown key": (
            web.replace("Restart=always\n", "Restart=always\nRestartSecs=2\n"),
            "RestartSecs",
        ),
        "unknown section": (web.replace("[Service]\n", "[Servce]\n"), "Servce"),
        "bad value": (web.replace("Restart=always\n", "Restart=sometimes\n"), "sometimes"),
        "unknown command": (
            web.replace(f"{DOC_BIN}aftercare ", f"{DOC_BIN}aftercar "),
            "aftercar is not",
        ),
    }
    for number, (how, (text, word)) in enumerate(broken.items()):
        assert text != web, how
        copy = _install(tmp_path / f"broken-{number}", {"aftercare-web@.service": text})
        problems = _verify(copy, "aftercare-web@.service")
        assert any(word in line for line in problems), f"verify missed the {how}: {problems}"


def test_the_services_run_aftercare_as_its_own_user_restarted_and_confined():
    units = _units()
    services = {name: _settings(text) for name, text in units.items() if ".service" in name}
    for name, settings in services.items():
        assert settings["User"] == ["aftercare"], name
        assert settings["EnvironmentFile"] == ["/etc/aftercare/env"], name
        for key, value in HARDENING.items():
            assert settings.get(key) == [value], (name, key)
    for name in ("aftercare-web@.service", "aftercare-worker@.service"):
        assert services[name]["Restart"] == ["always"], name
    web = services["aftercare-web@.service"]["ExecStart"]
    assert web == [f"{DOC_BIN}aftercare serve --no-jobs --host 127.0.0.1 --port %i"]
    assert services["aftercare-worker@.service"]["ExecStart"] == [f"{DOC_BIN}aftercare worker"]


def test_the_units_command_lines_are_ones_aftercare_accepts():
    """Each ExecStart, %i filled in, with --help added: the options parse (an unknown
    one exits 2), and nothing is started."""
    for name, text in _units().items():
        for command in _settings(text).get("ExecStart", []):
            args = command.replace("%i", "8001").split()
            assert args[0] == f"{DOC_BIN}aftercare", name
            result = subprocess.run(
                [sys.executable, "-m", "aftercare", *args[1:], "--help"],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert result.returncode == 0, (name, result.stdout + result.stderr)
