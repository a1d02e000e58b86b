"""Reading the project's YAML files (a leaf: imports nothing of ours).

Each kind of file (cadences, point rules) still has exactly one reader in its own module; this
is the part they share: a safe loader that refuses a key given twice (PyYAML keeps the last one
silently), and messages that start with the file name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (PyYAML keeps the last)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    keys = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path, what: str, needs: str | None) -> Any:
    """The parsed content of a YAML file of kind ``what`` (``"cadence"``), or an error that
    starts with the file name: missing (FileNotFoundError), unreadable, not YAML, a repeated key,
    or empty (ValueError, saying it ``needs`` something; with ``needs=None`` an empty file is
    an empty mapping)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what} file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the {what} file: {exc}") from None
    try:
        raw = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if raw is None and needs is None:
        return {}
    if raw is None:
        raise ValueError(f"{path}: the {what} file is empty; it needs {needs}.")
    return raw
