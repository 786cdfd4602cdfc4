"""`aftercare protocol check`: every shipped file is valid; every mistake names file and line."""

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from aftercare.cli import app
from aftercare.protocols.loader import RULES_FILE, ProtocolFilesInvalid, load_protocols
from aftercare.settings import SHIPPED_SCHEDULES_DIR

runner = CliRunner()

VALID = """\
id: sample
version: 1
languages: [en, fr]
name:
  en: Sample
  fr: Exemple
days: 5
items:
  - id: rest
    kind: rest
    days: 1-3
    time: all-day
    title:
      en: Rest
      fr: Repos
  - id: check-in
    kind: check-in
    days: [1, {from: 2, to: 5, every: 2}]
    time: "19:00"
    reminder: true
    title:
      en: Check-in
      fr: Point du jour
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(SHIPPED_SCHEDULES_DIR / RULES_FILE, tmp_path / RULES_FILE)
    (tmp_path / "sample.yaml").write_text(VALID)
    return tmp_path


def check(*files: Path, env_folder: Path | None = None) -> tuple[int, str]:
    env = {"AFTERCARE_SCHEDULES_DIR": str(env_folder)} if env_folder else {}
    result = runner.invoke(app, ["protocol", "check", *map(str, files)], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_every_shipped_procedure_file_is_valid():
    code, output = check()
    assert code == 0, output
    for procedure in ("hymenoplasty", "labiaplasty", "day-surgery"):
        assert procedure in output


def test_shipped_procedures_speak_the_four_languages():
    protocols = load_protocols(SHIPPED_SCHEDULES_DIR)
    assert set(protocols) >= {"hymenoplasty", "labiaplasty", "day-surgery"}
    for protocol in protocols.values():
        assert set(protocol.spec.languages) == {"en", "fr", "ar", "tr"}
    assert protocols["hymenoplasty"].days == 28
    assert protocols["labiaplasty"].days == 21


def test_every_flag_rule_of_clinical_md_is_shipped_with_its_severity():
    expected = {
        "fever": "red", "low-grade-fever": "amber", "low-temperature": "amber",
        "heavy-bleeding": "red", "moderate-bleeding": "amber", "foul-discharge": "amber",
        "urinary-retention": "red", "painful-urination": "amber", "allergy-breathing": "red",
        "allergy-rash": "amber", "severe-pain": "red", "high-pain": "amber",
        "pain-rising": "amber", "contact-requested": "amber", "no-check-in": "amber",
    }  # fmt: skip
    for protocol in load_protocols(SHIPPED_SCHEDULES_DIR).values():
        assert {rule.code: rule.severity for rule in protocol.rules} == expected


def test_a_valid_file_passes(folder: Path):
    code, output = check(folder / "sample.yaml")
    assert code == 0, output


def _broken(folder: Path, old: str, new: str) -> Path:
    path = folder / "sample.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("    kind: rest\n", "    kind: rest\n    colour: blue\n", 11, "unknown key 'colour'"),
        ("days: 5", "days: five", 7, "'days'"),
        ("    days: 1-3", "    days: 1-9", 11, "Day 6 is outside the plan"),
        ("      fr: Repos\n", "      fr: Repos\n      fr: Sommeil\n", 16, "'fr' is given twice"),
        ("      fr: Repos\n", "", 13, "missing translation: fr"),
        ("      fr: Repos\n", "      fr: Repos\n      de: Ruhe\n", 13, "de is not in this file's"),
        ("kind: rest", "kind: nap", 10, "'nap' is not allowed here"),
        ('time: "19:00"', "time: 19:00", 19, "in quotes"),
        ('time: "19:00"', 'time: "7pm"', 19, '"7pm" is not a time'),
        ("days: [1, {from: 2", "days: [1, 1, {from: 2", 18, "Day 1 is listed twice"),
        ("  - id: check-in", "  - id: rest", 16, "item 'rest' is given twice"),
        ("id: sample", "id: other", 1, "must match the file name"),
        ("    time: all-day\n", "    time: all-day\n    reminder: true\n", 9, "needs a time"),
        ("languages: [en, fr]", "languages: [en, xx]", 3, "unknown language xx"),
        ("name:\n", "name: [\n", 6, "not valid YAML"),
    ],
)
def test_each_mistake_is_reported_with_file_and_line(folder, old, new, line, words):
    path = _broken(folder, old, new)
    code, output = check(path)
    assert code == 1
    assert f"{path}:{line}: " in output, output
    assert words in output, output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("rules", "line", "words"),
    [
        ("  - code: fever\n    colour: red\n", 3, "unknown key 'colour'"),
        (
            "  - code: fever\n    when: {field: mood, at_least: 3}\n",
            3,
            "'mood' is not a number field",
        ),
        ("  - code: fever\n    when: {field: bleeding, in: [lots]}\n", 3, "bleeding can be none"),
        ("  - code: fever\n    when: {field: pain, over: 3}\n", 3, "unknown key 'over'"),
        ("  - code: new-rule\n    severity: amber\n", 2, "new rule 'new-rule' needs when"),
        (
            "  - code: fever\n    advice:\n      en: Rest.\n      fr: Repos.\n"
            "      ar: راحة\n      tr: Dinlenin.\n",
            3,
            "red advice (en) must mention {clinic_phone}",
        ),
    ],
)
def test_rule_mistakes_in_a_procedure_are_reported_with_their_line(folder, rules, line, words):
    path = folder / "sample.yaml"
    text = path.read_text().replace("languages: [en, fr]", "languages: [en, fr, ar, tr]")
    text = text.replace(
        "      fr: Repos\n", "      fr: Repos\n      ar: راحة\n      tr: Dinlenme\n"
    )
    text = text.replace(
        "      fr: Point du jour\n", "      fr: Point\n      ar: تسجيل\n      tr: Kontrol\n"
    )
    text = text.replace("  fr: Exemple\n", "  fr: Exemple\n  ar: مثال\n  tr: Örnek\n")
    lines_before = text.count("\n")
    path.write_text(text + "rules:\n" + rules)
    code, output = check(path)
    assert code == 1, output
    assert f"{path}:{lines_before + line}: " in output, output
    assert words in output, output


def test_a_broken_shared_rules_file_is_reported(folder: Path):
    rules = folder / RULES_FILE
    data = yaml.safe_load(rules.read_text())
    data["rules"][0]["when"] = {"field": "temperature_c", "at_least": 38, "below": 37}
    rules.write_text(yaml.safe_dump(data, allow_unicode=True))
    code, output = check(rules)
    assert code == 1
    assert f"{rules}:" in output and "'below' must be greater than 'at_least'" in output


def test_a_missing_file_is_an_error_not_a_traceback(folder: Path):
    code, output = check(folder / "nope.yaml")
    assert code == 1
    assert "nope.yaml:1: no such file" in output


def test_the_app_refuses_to_load_an_invalid_folder(folder: Path):
    _broken(folder, "days: 5", "days: 0")
    with pytest.raises(ProtocolFilesInvalid) as caught:
        load_protocols(folder)
    assert "sample.yaml:7:" in str(caught.value)


def test_the_default_folder_comes_from_the_settings(folder: Path):
    _broken(folder, "kind: rest", "kind: nap")
    code, output = check(env_folder=folder)
    assert code == 1 and "sample.yaml:10:" in output
