"""Read YAML into nodes only as deep as dagrun's files go, from libyaml's event stream.

PyYAML's composers recurse once per nesting level: the C one crashes the interpreter on a few
thousand levels and the Python one raises RecursionError. Events come from libyaml's parser, which
keeps its own stack, so here any input is read in time and memory linear in its size: structure
deeper than `max_depth` becomes an empty placeholder node that still says what it was and where."""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_RESOLVER = yaml.resolver.Resolver()
Collection = Union[MappingNode, SequenceNode]

# libyaml's scanner does work proportional to the flow depth for every token, so `[[[[...` is
# quadratic: 30,000 levels take seconds, a million never end. dagrun's files need two levels.
MAX_FLOW_DEPTH = 100
# Brackets, and what to skip over: a comment (a `#` at a line's start or after a space) and a
# quoted string (a quote where a value can begin), where brackets are only text.
_BRACKETS = re.compile(
    r"""(?P<skip>(?:^|(?<=[ \t]))\#[^\n]*"""
    r"""|(?:^|(?<=[\s\[{,:]))"(?:[^"\\]|\\.)*"?"""
    r"""|(?:^|(?<=[\s\[{,:]))'(?:[^']|'')*'?)"""
    r"""|[\[\]{}]""",
    re.MULTILINE | re.DOTALL,
)


class TooDeepError(yaml.MarkedYAMLError):
    """Brackets nest deeper than any dagrun file needs; refused before parsing."""


def _mark(text: str, index: int) -> yaml.Mark:
    line = text.count("\n", 0, index)
    column = index - (text.rfind("\n", 0, index) + 1)
    return yaml.Mark("<text>", index, line, column, None, 0)


def _check_flow_depth(text: str) -> None:
    # Brackets in block scalars (`|`) are still counted: only a hundred unbalanced ones there could
    # be refused wrongly, and the message shows where.
    depth = 0
    for match in _BRACKETS.finditer(text):
        if match.group("skip") is not None:
            continue
        if match.group() in "[{":
            depth += 1
            if depth > MAX_FLOW_DEPTH:
                raise TooDeepError(
                    None, None, f"brackets nest more than {MAX_FLOW_DEPTH} levels deep", _mark(text, match.start())
                )
        elif depth:
            depth -= 1


_PLAIN: Dict[str, str] = {}  # plain scalar -> its tag; names repeat, so this saves most regex work
# The resolver tries only the patterns listed for a scalar's first character: the characters that
# begin a boolean, null, number or date. A word starting with another is a string without a try.
# (None: every word must be tried, should resolvers have been added for any first character or
# by path, before this module was imported.)
_IMPLICIT = _RESOLVER.yaml_implicit_resolvers
_MAY_RESOLVE = None if None in _IMPLICIT or _RESOLVER.yaml_path_resolvers else frozenset(_IMPLICIT)
_STR, _NULL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:null"


def resolve(kind: type, value: Optional[str], implicit: object) -> str:
    return str(_RESOLVER.resolve(kind, value, implicit))  # type: ignore[no-untyped-call]


def reads_as_string(value: str) -> bool:
    """Whether YAML reads `value`, written without quotes, as a string."""
    return _resolve_plain(value) == _STR


def _resolve_plain(value: str) -> str:
    if value and _MAY_RESOLVE is not None and value[0] not in _MAY_RESOLVE:
        return _STR
    tag = _PLAIN.get(value)
    if tag is None:
        tag = resolve(ScalarNode, value, (True, False))
        if len(_PLAIN) < 200_000:
            _PLAIN[value] = tag
    return tag


Entry = Tuple[str, int, List[Tuple[str, int]]]  # a name, its line, and its list's names and lines


def read_name_lists(text: str) -> Optional[List[Entry]]:
    """The entries of a document that is only a mapping of plain names to lists of plain names
    (or to nothing): most stages files, read without building nodes. None for anything else, or
    for any error: anchors, tags, quotes, option mappings, repeated names and bad syntax are left
    to `compose_shallow`, whose reader explains them."""
    entries = read_stage_lines(text) if len(text) >= LINE_READER_BYTES else None
    return entries if entries is not None else read_events(text)


# Below this size the parser reads a file about as fast as the line reader's expressions compile
# (half a millisecond, which `dagrun plan` on a small file would pay at every start).
LINE_READER_BYTES = 4096


# One stage per line, the way the seed and most people write them: `Docs: [Coverage, Lint]`.
# Only ASCII, with words made of Python identifier characters, spaces and no other blank or control
# character, and no brackets in comments: for such lines YAML's grammar leaves no choice, so matching
# them gives what the parser would. Words stop short of YAML's 1,024-character limit on keys. (A
# character class of everything YAML allows in a comment took milliseconds to compile: files with
# other characters go to the parser.)
_WORD = r"[A-Za-z_][A-Za-z0-9_]{0,999}"
_COMMENT = r"#[^\n\[\]{}]*"
_ANY_LINE = (
    rf"(?:({_WORD}):(?: +\[ *((?:{_WORD} *, *)*{_WORD})? *\])?(?: *| +{_COMMENT})"  # a stage
    rf"| *(?:{_COMMENT})?)"  # blank, or a comment
)
# Compiled by `re` when first used (and kept in its cache), not when dagrun starts.
_STAGE_LINES = rf"{_ANY_LINE}(?:\n{_ANY_LINE})*"
_EACH_LINE = rf"(?m)^{_ANY_LINE}$"
_CONTROL = r"[\x00-\x09\x0b-\x1f\x7f]"  # the tab, CR, and all but the line feed


def read_stage_lines(text: str) -> Optional[List[Entry]]:
    """`read_name_lists` for files of `Name: [names]` lines, comments and blank lines only, with a
    regular expression instead of the parser, in half the time. None for anything else."""
    if not text.isascii() or re.search(_CONTROL, text) or re.fullmatch(_STAGE_LINES, text) is None:
        return None
    entries: List[Entry] = []
    words = set()
    for number, (name, needs) in enumerate(re.findall(_EACH_LINE, text), 1):
        if name:
            words.add(name)
            entries.append((name, number, [(need.strip(" "), number) for need in needs.split(",")] if needs else []))
    if not entries or len(words) < len(entries):  # no stage, or one named twice
        return None
    for _, _, needs in entries:
        words.update(need for need, _ in needs)
    if not all(map(reads_as_string, words)):
        return None  # a word YAML reads as something else, such as `on` or `null`
    return entries


def read_events(text: str) -> Optional[List[Entry]]:
    """`read_name_lists` from the parser's events, for the files `read_stage_lines` leaves."""
    try:
        _check_flow_depth(text)
        loader = _Loader(text)
    except yaml.YAMLError:
        return None
    try:
        return _name_lists(loader.get_event)
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()


def _plain_text(event: Any, tag: str) -> bool:
    """A scalar written without quotes, tag or anchor, that YAML reads as `tag`."""
    return (
        type(event) is ScalarEvent
        and event.implicit[0]
        and event.tag is None
        and event.anchor is None
        and _resolve_plain(event.value) == tag
    )


def _name_lists(next_event: Callable[[], Any]) -> Optional[List[Entry]]:
    if type(next_event()) is not StreamStartEvent or type(next_event()) is not DocumentStartEvent:
        return None
    start = next_event()
    if type(start) is not MappingStartEvent or start.tag is not None or start.anchor is not None:
        return None
    entries: List[Entry] = []
    seen = set()
    while True:
        key = next_event()
        if type(key) is MappingEndEvent:
            break
        if not _plain_text(key, _STR) or key.value in seen:
            return None
        seen.add(key.value)
        value = next_event()
        names: List[Tuple[str, int]] = []
        if type(value) is SequenceStartEvent and value.tag is None and value.anchor is None:
            item = next_event()
            while type(item) is not SequenceEndEvent:
                if not _plain_text(item, _STR):
                    return None
                names.append((item.value, item.start_mark.line + 1))
                item = next_event()
        elif not _plain_text(value, _NULL):
            return None
        entries.append((key.value, key.start_mark.line + 1, names))
    if type(next_event()) is not DocumentEndEvent or type(next_event()) is not StreamEndEvent:
        return None  # a second document, which the full reader refuses with its message
    return entries


def compose_shallow(text: str, max_depth: int) -> Optional[Node]:
    """The document's root node, like `yaml.compose`, with collections below `max_depth` left empty.

    Raises yaml.MarkedYAMLError for syntax errors, undefined aliases, multiple documents and
    TooDeepError for brackets nested beyond MAX_FLOW_DEPTH. Nothing
    is constructed, so no tag can run code."""
    _check_flow_depth(text)
    try:
        return _compose(text, max_depth)
    except yaml.reader.ReaderError as e:  # the one YAML error without a line: a control character
        raise yaml.MarkedYAMLError(
            None, None, f"character {e.character!r} is not allowed in YAML", _mark(text, e.position)
        ) from None


def _compose(text: str, max_depth: int) -> Optional[Node]:
    anchors: Dict[str, Node] = {}
    stack: List[Collection] = []
    pending_key: List[Optional[Node]] = []
    root: Optional[Node] = None
    skipping = 0  # nesting depth inside a collection that is too deep to keep
    documents = 0
    events: Iterator[Any] = yaml.parse(text, Loader=_Loader)  # dispatched on exact type below
    for event in events:
        if skipping:
            if isinstance(event, CollectionStartEvent):
                skipping += 1
            elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
                skipping -= 1
            continue
        node: Node
        kind = type(event)
        if kind is ScalarEvent:
            if event.tag not in (None, "!"):
                tag = event.tag
            elif event.implicit[0]:
                tag = _resolve_plain(event.value)
            else:
                tag = resolve(ScalarNode, event.value, event.implicit)
            node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        elif kind is AliasEvent:
            if event.anchor not in anchors:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"found undefined alias {event.anchor!r}",
                    event.start_mark,
                )
            node = anchors[event.anchor]
        elif kind is SequenceStartEvent or kind is MappingStartEvent:
            node_kind = SequenceNode if kind is SequenceStartEvent else MappingNode
            tag = event.tag if event.tag not in (None, "!") else resolve(node_kind, None, event.implicit)
            node = node_kind(tag, [], event.start_mark, event.end_mark, flow_style=event.flow_style)
            if len(stack) >= max_depth:
                skipping = 1
        elif kind is SequenceEndEvent or kind is MappingEndEvent:
            stack.pop()
            pending_key.pop()
            continue
        elif kind is DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise yaml.composer.ComposerError(
                    "expected a single document in the stream",
                    None,
                    "but found another document",
                    event.start_mark,
                )
            continue
        else:  # stream start and end, document end
            continue
        anchor = event.anchor if kind is not AliasEvent else None
        if anchor is not None:
            anchors[anchor] = node
        if not stack:
            root = node
        elif isinstance(stack[-1], SequenceNode):
            stack[-1].value.append(node)
        elif pending_key[-1] is None:
            pending_key[-1] = node
        else:
            stack[-1].value.append((pending_key[-1], node))
            pending_key[-1] = None
        if isinstance(node, (SequenceNode, MappingNode)) and kind is not AliasEvent and not skipping:
            stack.append(node)
            pending_key.append(None)
    return root
