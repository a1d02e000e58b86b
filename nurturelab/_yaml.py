"""Reading the project's YAML files (a leaf: imports nothing of ours).

Each kind of file (cadences, point rules) still has exactly one reader in its own module; this
is the part they share: a safe loader that refuses a key given twice (PyYAML keeps the last one
silently) and a document whose aliases expand past :data:`MAX_NODES` values (a few hundred bytes
of nested aliases otherwise expand to gigabytes when a value is copied or printed), and messages
that start with the file name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_NODES = 100_000
"""The most values (scalars, lists and mappings, each alias counted as what it stands for) a
project YAML file may expand to; the largest the project writes hold a few thousand."""


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (PyYAML keeps the last) and
    a document that expands to more than :data:`MAX_NODES` values."""

    def compose_document(self):
        node = super().compose_document()
        _check_size(node)
        return node


def _check_size(root: yaml.Node) -> None:
    """Refuse a node graph whose expansion (aliases repeated) exceeds MAX_NODES values."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            kids = _children(node)
            sizes[key] = min(1 + sum(sizes[id(k)] for k in kids), MAX_NODES + 1)
            if sizes[key] > MAX_NODES:
                raise yaml.constructor.ConstructorError(
                    None, None, f"its aliases expand to more than {MAX_NODES:,d} values; a "
                    "project file never needs that many (write the values out, or use fewer "
                    "nested aliases)", node.start_mark)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise yaml.constructor.ConstructorError(
                None, None, "an alias refers to a node that contains it", node.start_mark)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


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


class Flow(list):
    """A list :func:`dump_yaml` writes in flow style (``[connect, reply]``, ``[9, 17]``)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    Flow, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data,
                                                         flow_style=True)
)


def dump_yaml(data: Any) -> str:
    """``data`` as YAML text in the order given, :class:`Flow` lists in flow style."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
