"""YAML for trial files: ``yaml.safe_load`` that refuses a key given twice in one mapping.

PyYAML keeps the last of two equal keys without a word, so a trial file with ``effect:`` written
twice would run with whichever came last. The loader below raises instead, naming the key and
both lines.
"""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKeyError(yaml.YAMLError):
    """A mapping gives the same key twice."""


class UniqueKeySafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (no tags, nothing executed) that refuses duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: let SafeLoader report it
                break
            if first is not None:
                raise DuplicateKeyError(f"key {key!r} given twice (lines {first} and {line})")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_unique(text: str) -> Any:
    """Parse YAML safely, refusing duplicate keys (raises :class:`yaml.YAMLError`)."""
    return yaml.load(text, Loader=UniqueKeySafeLoader)  # a SafeLoader subclass
