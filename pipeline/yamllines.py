"""YAML → plain data, with the line of every key and item, straight from libyaml's events.

sources.yaml's errors name lines, so config.py needs to know where each value came from. PyYAML
can give that only through its node tree, which costs ~35 times the file in memory (a node, two
marks and their strings per scalar): 160 MB at the peak for a desk with 10,000 sources. Here the
data is built from the event stream instead; each scalar is typed by PyYAML's own resolver and
constructors, so values come out exactly as `yaml.safe_load` gives them. Anchors, aliases and
`<<` merge keys work; duplicate keys are reported (YAML would silently keep the last one).

An alias is the anchored value itself, not a copy, but whoever walks the data meets it once per
alias: nested aliases ("billion laughs") make a kilobyte walk as a billion values. So aliases
may add at most `ALIAS_ALLOWANCE` values more than the file holds itself, and an alias inside
the node it names (a loop) is refused.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

Path_ = tuple[str | int, ...]
# libyaml's loader when PyYAML was built with it: ten times faster on a desk's thousands of sources
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"
_STR = "tag:yaml.org,2002:str"
# values aliases may add beyond the file's own: `<<: *defaults` on 10,000 sources adds ~50,000
ALIAS_ALLOWANCE = 100_000
MAX_DEPTH = 100  # sources.yaml needs 8; each level is two Python frames here


def load(text: str) -> tuple[Any, dict[Path_, int], list[tuple[int, str]], dict[Path_, str]]:
    """The document's data (None when empty), the line of each path in it, duplicate keys as
    (line, message), and the text of each scalar read as something other than a string or null
    (`True`, `1.0`, `2026-01-31`) as written. Raises yaml.YAMLError on malformed YAML, like
    PyYAML, and on aliases that expand too far."""
    reader = _Reader(_Loader(text))
    try:
        return reader.document()
    finally:
        reader.loader.dispose()


class _Reader:
    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.lines: dict[Path_, int] = {}
        self.problems: list[tuple[int, str]] = []
        self.texts: dict[Path_, str] = {}
        self.anchors: dict[str, Any] = {}
        # values each anchored node stands for, aliases inside counted (absent while it is read)
        self.sizes: dict[str, int] = {}
        self.aliased = 0  # values added by aliases; the file's own are about len(self.lines)

    def document(self) -> tuple[Any, dict[Path_, int], list[tuple[int, str]], dict[Path_, str]]:
        get, check = self.loader.get_event, self.loader.check_event
        get()  # StreamStart
        data = None
        if not check(yaml.StreamEndEvent):
            get()  # DocumentStart
            data = self.value(())
            get()  # DocumentEnd
            if not check(yaml.StreamEndEvent):
                event = get()
                raise ComposerError("expected a single document in the stream", None,
                                    "but found another document", event.start_mark)
        return data, self.lines, self.problems, self.texts

    def value(self, path: Path_) -> Any:
        event = self.loader.get_event()
        self.lines[path] = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            return self.alias(event)
        if isinstance(event, yaml.ScalarEvent):
            result = self.scalar(event)
            if result is not None and not isinstance(result, str):
                self.texts[path] = event.value
            if event.anchor is not None:
                self.anchors[event.anchor], self.sizes[event.anchor] = result, 1
            return result
        if len(path) >= MAX_DEPTH:  # before Python's recursion limit is
            raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                event.start_mark)
        start = len(self.lines) + self.aliased
        if isinstance(event, yaml.SequenceStartEvent):
            result: Any = []
            if event.anchor is not None:  # known from here on, to refuse aliases inside it
                self.anchors[event.anchor] = result
                self.sizes.pop(event.anchor, None)
            while not self.loader.check_event(yaml.SequenceEndEvent):
                result.append(self.value((*path, len(result))))
            self.loader.get_event()
        else:  # MappingStartEvent
            result = self.mapping(event, path)
        if event.anchor is not None:
            self.anchors[event.anchor] = result
            self.sizes[event.anchor] = len(self.lines) + self.aliased - start + 1
        return result

    def alias(self, event: Any) -> Any:
        if event.anchor not in self.anchors:
            raise ComposerError(None, None, f"found undefined alias {event.anchor!r}",
                                event.start_mark)
        if event.anchor not in self.sizes:
            raise ComposerError(None, None, f"alias {event.anchor!r} is inside the node it "
                                "names: a loop", event.start_mark)
        self.aliased += self.sizes[event.anchor]
        if self.aliased > len(self.lines) + ALIAS_ALLOWANCE:
            raise ComposerError(None, None, f"aliases expand the file to over "
                                f"{self.aliased:,} values, against {len(self.lines):,} of its "
                                "own: refused (aliases of aliases multiply, as in a "
                                "\"billion laughs\")", event.start_mark)
        return self.anchors[event.anchor]

    def mapping(self, start: Any, path: Path_) -> dict[Any, Any]:
        own: dict[Any, Any] = {}
        merged: list[dict[Any, Any]] = []
        while not self.loader.check_event(yaml.MappingEndEvent):
            key_event = self.loader.get_event()
            if not isinstance(key_event, yaml.ScalarEvent):
                raise ConstructorError("while constructing a mapping", start.start_mark,
                                       "found a key that is not a plain value",
                                       key_event.start_mark)
            key_line = key_event.start_mark.line + 1
            tag = self.tag(key_event)
            if tag == _MERGE:
                value = self.value((*path, "<<"))
                for source in value if isinstance(value, list) else [value]:
                    if not isinstance(source, dict):
                        raise ConstructorError("while constructing a mapping", start.start_mark,
                                               "'<<' must merge a mapping or a list of them",
                                               key_event.start_mark)
                    merged.append(source)
                continue
            key = self.scalar(key_event, tag)
            if key in own:
                self.problems.append((key_line, f"duplicate key {key_event.value!r}"))
            own[key] = self.value((*path, key_event.value))
            self.lines[(*path, key_event.value)] = key_line
        self.loader.get_event()
        if not merged:
            return own
        result: dict[Any, Any] = {}
        for source in reversed(merged):  # the first merged mapping wins, own keys over all
            result.update(source)
        result.update(own)
        return result

    def scalar(self, event: Any, tag: str | None = None) -> Any:
        tag = tag or self.tag(event)
        if tag == _STR:  # what PyYAML's str constructor returns, without building a node
            return event.value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark,
                               style=event.style)
        constructors = self.loader.yaml_constructors
        construct = constructors.get(node.tag) or constructors[None]  # None: "unknown tag"
        return construct(self.loader, node)

    def tag(self, event: Any) -> str:
        if event.tag and event.tag != "!":
            return str(event.tag)
        return str(self.loader.resolve(yaml.ScalarNode, event.value, event.implicit))

