"""Read and check procedure files; every problem is reported as `file:line: what is wrong`."""

import hashlib
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from aftercare.protocols.schema import ProcedureFile, RuleChange, RulesFile, RuleSpec
from aftercare.protocols.source import Location, SourceDocument, SourceError, parse_yaml

RULES_FILE = "_rules.yaml"
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ProtocolFilesInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True)
class Protocol:
    """A checked procedure with the shared rules merged in: what the engines use."""

    spec: ProcedureFile
    rules: tuple[RuleSpec, ...]
    reassurance: Mapping[str, str]
    digest: str

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def version(self) -> int:
        return self.spec.version

    @property
    def days(self) -> int:
        return self.spec.days

    def name(self, language: str) -> str:
        return self.spec.name.get(language) or self.spec.name[self.spec.languages[0]]


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    where = error["loc"]
    last = where[-1] if where else ""
    if kind == "extra_forbidden":
        return f"unknown key '{last}'"
    if kind == "missing":
        return f"'{last}' is missing"
    if kind in ("value_error", "assertion_error"):
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"'{error['input']}' is not allowed here; expected {expected}"
    if kind == "string_pattern_mismatch":
        return f"'{error['input']}' must be lower-case letters, digits and '-'"
    label = f"'{last}'" if isinstance(last, str) and last else "this value"
    return f"{label}: {error['msg'][0].lower()}{error['msg'][1:]}"


def _clean_location(location: tuple[Any, ...]) -> Location:
    # Pydantic adds the validator's own name for some errors; keep the file's path.
    return tuple(
        part
        for part in location
        if isinstance(part, int) or not str(part).startswith(("function-", "tuple[", "literal["))
    )


def _validate(
    model: type[ModelT], path: Path, document: SourceDocument, problems: list[Problem]
) -> ModelT | None:
    for line, message in document.duplicate_keys:
        problems.append(Problem(path, line, message))
    if not isinstance(document.value, dict):
        problems.append(Problem(path, 1, "the file must hold a mapping of keys (id, version, ...)"))
        return None
    try:
        result = model.model_validate(document.value)
    except ValidationError as exc:
        for error in exc.errors():
            location = _clean_location(error["loc"])
            line = document.line_of(location)
            problems.append(Problem(path, line, _describe(error)))
        return None
    return result if not document.duplicate_keys else None


def _read(path: Path, problems: list[Problem]) -> SourceDocument | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(path, 1, f"cannot read the file: {exc}"))
        return None
    try:
        return parse_yaml(text)
    except SourceError as exc:
        problems.append(Problem(path, exc.line, exc.message))
        return None


def _texts(value: Any, location: Location) -> Iterable[tuple[Location, dict[str, str]]]:
    """Every per-language text mapping in a validated model, with its location."""
    if isinstance(value, BaseModel):
        for name, field_info in type(value).model_fields.items():
            key = field_info.alias or name
            yield from _texts(getattr(value, name), (*location, key))
    elif isinstance(value, tuple):
        for index, element in enumerate(value):
            yield from _texts(element, (*location, index))
    elif isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        yield location, value


def _check_texts(
    model: BaseModel, languages: tuple[str, ...], path: Path, doc: SourceDocument
) -> list[Problem]:
    problems = []
    for location, text in _texts(model, ()):
        missing = [lang for lang in languages if lang not in text]
        extra = [lang for lang in text if lang not in languages]
        line = doc.line_of(location)
        if missing:
            problems.append(Problem(path, line, f"missing translation: {', '.join(missing)}"))
        if extra:
            problems.append(
                Problem(
                    path, line, f"translation {', '.join(extra)} is not in this file's languages"
                )
            )
        for lang, words in text.items():
            names = {name for _, name, _, _ in string.Formatter().parse(words) if name is not None}
            unknown = names - {"value", "previous", "clinic_phone", "emergency_number"}
            if unknown:
                problems.append(
                    Problem(
                        path,
                        line,
                        f"unknown placeholder {{{', '.join(sorted(unknown))}}} in {lang}",
                    )
                )
    return problems


def _check_rules(
    rules: Iterable[tuple[Location, RuleSpec]], path: Path, doc: SourceDocument
) -> list[Problem]:
    problems = []
    for location, rule in rules:
        if rule.severity != "red" or not rule.enabled:
            continue
        for lang, advice in rule.advice.items():
            for needed in ("{clinic_phone}", "{emergency_number}"):
                if needed not in advice:
                    line = doc.line_of((*location, "advice"))
                    problems.append(
                        Problem(path, line, f"red advice ({lang}) must mention {needed}")
                    )
    return problems


def _load(
    model: type[ModelT], path: Path, problems: list[Problem]
) -> tuple[ModelT, SourceDocument] | None:
    document = _read(path, problems)
    if document is None:
        return None
    result = _validate(model, path, document, problems)
    return None if result is None else (result, document)


def _twice(
    ids: Iterable[str], what: str, key: str, path: Path, document: SourceDocument
) -> list[Problem]:
    """An id used twice in one list (items, rules) is a mistake, not an override."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, value in enumerate(ids):
        line = document.line_of((key, index))
        if value in seen:
            message = f"{what} '{value}' is given twice (first at line {seen[value]})"
            problems.append(Problem(path, line, message))
        seen.setdefault(value, line)
    return problems


def load_rules_file(path: Path, problems: list[Problem]) -> RulesFile | None:
    loaded = _load(RulesFile, path, problems)
    if loaded is None:
        return None
    rules_file, document = loaded
    found = _check_texts(rules_file, rules_file.languages, path, document)
    found += _twice((rule.code for rule in rules_file.rules), "rule", "rules", path, document)
    found += _check_rules(
        ((("rules", i), r) for i, r in enumerate(rules_file.rules)), path, document
    )
    problems.extend(found)
    return None if found else rules_file


def _merge_rules(
    shared: RulesFile, changes: tuple[RuleChange, ...], path: Path, doc: SourceDocument
) -> tuple[tuple[RuleSpec, ...], list[Problem]]:
    merged = {rule.code: rule for rule in shared.rules}
    problems = []
    for index, change in enumerate(changes):
        given = change.model_dump(exclude_none=True, by_alias=True, exclude={"code"})
        base = merged.get(change.code)
        if base is None:
            missing = [
                name for name in ("severity", "when", "message", "advice") if name not in given
            ]
            if missing:
                line = doc.line_of(("rules", index))
                problems.append(
                    Problem(path, line, f"new rule '{change.code}' needs {', '.join(missing)}")
                )
                continue
            merged[change.code] = RuleSpec.model_validate({"code": change.code, **given})
        else:
            updates = {name: getattr(change, name) for name in change.model_fields_set - {"code"}}
            merged[change.code] = base.model_copy(update=updates)
    return tuple(merged.values()), problems


def load_procedure_file(
    path: Path, shared: RulesFile | None, problems: list[Problem]
) -> Protocol | None:
    loaded = _load(ProcedureFile, path, problems)
    if loaded is None:
        return None
    spec, document = loaded
    found = _check_texts(spec, spec.languages, path, document)
    found += _twice((item.id for item in spec.items), "item", "items", path, document)
    if spec.id != path.stem:
        found.append(
            Problem(
                path,
                document.line_of(("id",)),
                f"id '{spec.id}' must match the file name '{path.stem}'",
            )
        )
    for index, item in enumerate(spec.items):
        if item.days != "all":
            outside = [day for day in item.days if day > spec.days]
            if outside:
                found.append(
                    Problem(
                        path,
                        document.line_of(("items", index, "days")),
                        f"Day {outside[0]} is outside the plan (Day 1 to Day {spec.days})",
                    )
                )
    if shared is None:
        problems.extend(found)
        return None
    missing_langs = [lang for lang in spec.languages if lang not in shared.languages]
    if missing_langs:
        found.append(
            Problem(
                path,
                document.line_of(("languages",)),
                f"the shared rules have no {', '.join(missing_langs)} texts",
            )
        )
    rules, merge_problems = _merge_rules(shared, spec.rules, path, document)
    found += merge_problems
    found += _check_rules(
        ((("rules", i), r) for i, r in enumerate(rules) if r.code in {c.code for c in spec.rules}),
        path,
        document,
    )
    problems.extend(found)
    if found:
        return None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return Protocol(
        spec=spec,
        rules=tuple(rule for rule in rules if rule.enabled),
        reassurance=shared.reassurance,
        digest=digest,
    )


def procedure_paths(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.yaml") if not p.name.startswith("_"))


def check_files(
    paths: Iterable[Path], rules_path: Path
) -> tuple[dict[str, Protocol], list[Problem]]:
    """Check procedure files against the shared rules; return the valid ones and every problem."""
    problems: list[Problem] = []
    shared = load_rules_file(rules_path, problems) if rules_path.is_file() else None
    if shared is None and not problems:
        problems.append(Problem(rules_path, 1, "the shared rules file is missing"))
    protocols: dict[str, Protocol] = {}
    for path in paths:
        if path.name.startswith("_"):
            continue
        protocol = load_procedure_file(path, shared, problems)
        if protocol is not None:
            protocols[protocol.id] = protocol
    return protocols, problems


def load_protocols(folder: Path) -> dict[str, Protocol]:
    """Every procedure in a folder, or ProtocolFilesInvalid listing every problem."""
    if not folder.is_dir():
        raise ProtocolFilesInvalid([Problem(folder, 1, "the schedules folder does not exist")])
    protocols, problems = check_files(procedure_paths(folder), folder / RULES_FILE)
    if problems:
        raise ProtocolFilesInvalid(problems)
    if not protocols:
        raise ProtocolFilesInvalid([Problem(folder, 1, "no procedure file (*.yaml) found")])
    return protocols
