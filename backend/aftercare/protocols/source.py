"""YAML read with the line of every value, so errors can say `file:line`."""

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Location = tuple[str | int, ...]


@dataclass
class SourceDocument:
    """A parsed YAML document and where each of its values stands."""

    value: Any
    lines: dict[Location, int] = field(default_factory=dict)
    # (line, message) for each key written twice in one mapping: YAML would
    # silently keep the last one, which hides a pasted-over translation.
    duplicate_keys: list[tuple[int, str]] = field(default_factory=list)

    def line_of(self, location: Location) -> int:
        """The line of the value at `location`, or of its nearest parent that exists."""
        for end in range(len(location), -1, -1):
            line = self.lines.get(location[:end])
            if line is not None:
                return line
        return 1


class SourceError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def parse_yaml(text: str) -> SourceDocument:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise SourceError(line, f"not valid YAML: {exc.problem or exc.context}") from None
    finally:
        loader.dispose()
    document = SourceDocument(value=None)
    if root is not None:
        document.value = _build(loader, root, (), document)
    return document


def _build(loader: yaml.SafeLoader, node: Node, location: Location, doc: SourceDocument) -> Any:
    doc.lines[location] = node.start_mark.line + 1
    if isinstance(node, MappingNode):
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            key = loader.construct_object(key_node) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str | int):
                raise SourceError(key_line, "a key must be a plain word")
            child = (*location, key)
            if key in mapping:
                first = doc.lines.get(child, 0)
                doc.duplicate_keys.append(
                    (key_line, f"'{key}' is given twice (first at line {first})")
                )
                continue
            mapping[key] = _build(loader, value_node, child, doc)
            # Point at the key, not at the first line of a nested block below it.
            doc.lines[child] = key_line
        return mapping
    if isinstance(node, SequenceNode):
        return [
            _build(loader, item, (*location, index), doc) for index, item in enumerate(node.value)
        ]
    if isinstance(node, ScalarNode):
        return loader.construct_object(node, deep=True)
    raise SourceError(node.start_mark.line + 1, "unsupported YAML construct")
