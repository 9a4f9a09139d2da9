"""The stages file: what loads, and a specific message for everything that does not."""

from __future__ import annotations

import dataclasses
import pickle
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dagrun.core import yamltree
from dagrun.core.pipeline import Pipeline, Stage
from dagrun.core.yamltree import read_events, read_name_lists, read_stage_lines, reads_as_string
from dagrun.errors import SpecError
from dagrun.stagesfile import reader as spec_module
from dagrun.stagesfile.reader import load_pipeline, parse_pipeline

from .conftest import SEED, agrees_with_safe_load


def test_seed_format_loads_in_file_order_with_lines() -> None:
    p = parse_pipeline(SEED, "stages.yaml")
    assert p.names == ("Lint", "Test", "Coverage", "Docs", "Benchmark")
    assert p.stages["Docs"].needs == ("Coverage", "Lint")
    assert p.stages["Docs"].line == 5
    assert p.order.index("Test") < p.order.index("Coverage") < p.order.index("Docs")


@pytest.mark.parametrize(
    "text, needs",
    [
        ("A: []\nB: [A]\n", ()),
        ("A:\nB: [A]\n", ()),
        ("A: null\nB: [A]\n", ()),
        ("A: ~\nB: [A]\n", ()),
        ("'A': []\n\"B\": ['A']\n", ()),
    ],
    ids=["empty-list", "bare-key", "null", "tilde", "quoted"],
)
def test_no_dependencies_can_be_written_several_ways(text: str, needs: tuple) -> None:
    p = parse_pipeline(text)
    assert p.stages["A"].needs == needs
    assert p.stages["B"].needs == ("A",)


def test_quoted_yaml_words_are_valid_stage_names() -> None:
    p = parse_pipeline('"on": []\n"yes": ["on"]\n')
    assert p.stages["yes"].needs == ("on",)


def test_aliases_of_a_dependency_list_are_allowed() -> None:
    p = parse_pipeline("A: []\nB: []\nC: &deps [A, B]\nD: *deps\n")
    assert p.stages["D"].needs == ("A", "B")


BAD = [
    ("a: [b]\nb: [c]\nc: [a]\n", ["s.yaml:1:", "cycle: a -> b -> c -> a"]),
    ("x: []\nb: [c]\nc: [b]\n", ["s.yaml:2:", "b -> c -> b"]),
    ("a: [a]\n", ["s.yaml:1:", "'a' depends on itself"]),
    ("a: []\na: [b]\nb: []\n", ["s.yaml:2:", "'a' is defined twice", "line 1"]),
    ("Coverage: []\nDocs: [Coverag]\n", ["s.yaml:2:", "'Coverag', which is not a stage", "did you mean 'Coverage'"]),
    ("a: []\nb: [A]\n", ["did you mean 'a'"]),
    ("b: ac\nac: []\n", ["s.yaml:1:", "must be a list", "'b: [ac]'"]),
    ("b: 3\n", ["must be a list", "a number"]),
    ("b: {needs: [a]}\n", ["stage 'b' needs 'a', which is not a stage"]),
    ("on: []\n", ["s.yaml:1:", "'on' as a boolean", "quote it"]),
    ("yes: []\n", ["'yes' as a boolean"]),
    ("no: []\n", ["'no' as a boolean"]),
    ("1: []\n", ["'1' as a number"]),
    ("1.0: []\n", ["'1.0' as a number"]),
    ("~: []\n", ["'~' as null"]),
    ("2024-01-01: []\n", ["as a date"]),
    ("a: [1]\n", ["dependency '1' as a number"]),
    ("a: [[b]]\nb: []\n", ["a dependency must be a stage name, not a list"]),
    ("build-docs: []\n", ["'build-docs' cannot name a Python function"]),
    ("class: []\n", ["'class' is a Python keyword"]),
    ("_private: []\n", ["starts with '_'"]),
    ("__class__: []\n", ["starts with '_'"]),
    ("[a, b]: []\n", ["must be a plain name, not a list"]),
    ("- a\n- b\n", ["s.yaml:1:", "top level must be a mapping", "not a list"]),
    ("just text\n", ["top level must be a mapping", "the string 'just text'"]),
    ("", ["the stages file is empty"]),
    ("# only a comment\n", ["the stages file is empty"]),
    ("{}\n", ["defines no stages"]),
    ("a: [b\n", ["s.yaml:2:1:", "YAML syntax error"]),
    ("a: [b]]\n", ["s.yaml:1:", "YAML syntax error"]),
    ("a: []\n---\nb: []\n", ["YAML syntax error", "single document"]),
    ("a: !!python/object/apply:os.system ['true']\n", ["s.yaml:1:", "tag", "python/object/apply:os.system"]),
    ("!!python/name:os.system a: []\n", ["tag"]),
    ("a: [b]\nb: [a]\nc: [zz]\nd: e\n", ["2 problems", "'zz', which is not a stage", "'d: [e]'"]),
    ("a: [b, b]\nb: []\n", ["lists 'b' twice"]),
    ("\uff21: []\n", ["s.yaml:1:", "is read by Python as 'A'", "write 'A'"]),  # full-width A
    ("\ufb01x: []\n", ["is read by Python as 'fix'"]),  # the ligature fi
]


@pytest.mark.parametrize("text, fragments", BAD, ids=[repr(t[:24]) for t, _ in BAD])
def test_every_problem_is_a_specific_error(text: str, fragments: list) -> None:
    with pytest.raises(SpecError) as caught:
        parse_pipeline(text, "s.yaml")
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message
    assert caught.value.exit_code == 2


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope\.yaml: no such stages file"):
        load_pipeline(tmp_path / "nope.yaml")


def test_a_folder_is_not_a_stages_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a folder"):
        load_pipeline(tmp_path)


def test_an_unreadable_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("a: []\n")

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(SpecError, match=r"s\.yaml: cannot read the stages file: Permission denied"):
        load_pipeline(path)


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"a: []\nb: [\xff]\n")
    with pytest.raises(SpecError, match=r"s\.yaml:2: not UTF-8"):
        load_pipeline(path)


def test_oversized_files_are_refused_without_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dagrun.stagesfile.reader.MAX_FILE_BYTES", 100)
    path = tmp_path / "s.yaml"
    path.write_text("a: []\n" * 50)
    with pytest.raises(SpecError, match="larger than"):
        load_pipeline(path)


def test_alias_bombs_are_rejected_without_being_expanded() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for i in range(ord("b"), ord("k")):
        prev = chr(i - 1)
        bomb += f"{chr(i)}: &{chr(i)} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
    # Expanded, the last list would hold 9 * 8**9 (about 1.2 billion) names: refused with the
    # memory of a few lists, measured by allocation rather than by the clock.
    tracemalloc.start()
    try:
        with pytest.raises(SpecError, match="a dependency must be a stage name, not a list"):
            parse_pipeline(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 1_000_000 + "]" * 1_000_000,
        "a: " + "{b: " * 200_000 + "}" * 200_000,
        "a:\n  " + "- " * 1_000_000 + "x",
    ],
    ids=["flow-lists", "flow-maps", "block-lists"],
)
def test_deep_nesting_is_refused_in_linear_time_never_a_crash(text: str) -> None:
    # libyaml's own composer crashes the interpreter on these, and its scanner is quadratic on the
    # first two; each must come back as our error in well under a second or two.
    with pytest.raises(
        SpecError, match=r"nest more than 100 levels deep|nesting depth|a dependency must be a stage name"
    ):
        parse_pipeline(text, "s.yaml")


def test_from_dict_applies_the_same_checks() -> None:
    assert Pipeline.from_dict({"A": [], "B": ["A"]}).order == ("A", "B")
    with pytest.raises(SpecError, match="cycle"):
        Pipeline.from_dict({"A": ["B"], "B": ["A"]})
    with pytest.raises(SpecError, match="must be a list"):
        Pipeline.from_dict({"A": "B", "B": []})


NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_loads_as_safe_load_reads_it_or_raises_our_error(text: str) -> None:
    agrees_with_safe_load(text)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_load_or_raise_our_error(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("bytes") / "s.yaml"
    path.write_bytes(data)
    try:
        pipeline = load_pipeline(path)
    except SpecError:
        return
    assert pipeline.names == parse_pipeline(data.decode("utf-8")).names


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(NAMES, st.lists(NAMES, max_size=4), min_size=1, max_size=12))
def test_generated_specs_load_or_fail_only_for_a_real_reason(spec: dict) -> None:
    lines = [f"'{name}': [{', '.join(repr(d) for d in deps)}]" for name, deps in spec.items()]
    try:
        p = parse_pipeline("\n".join(lines) + "\n")
    except SpecError as e:
        message = str(e)
        assert any(w in message for w in ("not a stage", "itself", "cycle", "twice", "keyword"))
        return
    assert set(p.names) == set(spec)
    position = {name: i for i, name in enumerate(p.order)}
    for name, deps in spec.items():
        assert all(position[d] < position[name] for d in deps)


ODD_WORDS = ["on", "null", "~", "123", "_x", "class", "'quoted'", '"Q"', "&a A", "*a", "!!str B"]
WORDS = st.one_of(NAMES, st.sampled_from(ODD_WORDS))


@st.composite
def stages_files(draw: st.DrawFn) -> str:
    """Stages-file text in the shapes people write, with the odd thing the quick reader leaves alone."""
    lines = []
    for name in draw(st.lists(WORDS, min_size=0, max_size=8)):
        deps = draw(st.lists(WORDS, max_size=4))
        style = draw(st.sampled_from(["flow", "block", "empty", "null", "string", "options"]))
        if style == "flow":
            lines.append(f"{name}: [{', '.join(deps)}]")
        elif style == "block":
            lines.append(f"{name}:" + "".join(f"\n  - {d}" for d in deps))
        elif style == "empty":
            lines.append(f"{name}:")
        elif style == "null":
            lines.append(f"{name}: ~")
        elif style == "string":
            lines.append(f"{name}: {deps[0] if deps else 'x'}")
        else:
            lines.append(f"{name}:\n  needs: [{', '.join(deps)}]\n  retries: 1")
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["---", "--- ", "...", "# a comment", "{}", "[]"])))
    return "\n".join(lines) + "\n"


def _outcome(text: str) -> object:
    try:
        p = parse_pipeline(text, "s.yaml")
    except SpecError as e:
        return str(e)
    return p.stages, p.order


@settings(max_examples=300, deadline=None)
@given(stages_files())
def test_the_quick_reader_gives_what_the_full_reader_gives(text: str) -> None:
    quick = _outcome(text)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(spec_module, "read_name_lists", lambda text: None)
        full = _outcome(text)
    assert quick == full


def test_the_quick_reader_takes_plain_lists_and_leaves_everything_else() -> None:
    text = "Lint: []\nTest:\n  - Lint\nCoverage: [Test]\nDocs: [Coverage, Lint]\nClean:\nAll: ~\n"
    assert read_name_lists(text) == [
        ("Lint", 1, []),
        ("Test", 2, [("Lint", 3)]),
        ("Coverage", 4, [("Test", 4)]),
        ("Docs", 5, [("Coverage", 5), ("Lint", 5)]),
        ("Clean", 6, []),
        ("All", 7, []),
    ]
    for other in [
        "'Lint': []",
        "Lint: ['Test']",
        "Lint: &x []",
        "Lint: !!seq []",
        "on: []",
        "Lint: Test",
        "Lint:\n  needs: []",
        "Lint: []\nLint: []",
        "Lint: [[A]]",
        "[A]",
        "",
        "A: []\n---\nB: []",
    ]:
        assert read_name_lists(other + "\n") is None, other


# Pieces of stage lines. Half the files also get what YAML treats otherwise than it looks: words
# it reads as booleans or null, keys past its length limit, tabs, other line breaks, brackets.
PLAIN_WORDS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
ODD_LINE_WORDS = st.sampled_from(["on", "Off", "yes", "NO", "null", "Null", "true", "n", "y", "A" * 1000, "B" * 1030])
PLAIN_COMMENT = st.text(st.sampled_from(list("ab #:-'\"")), max_size=6)
ODD_COMMENT = st.text(st.sampled_from(list("[]{}\t\r\x85\u2028\ufeff\x7fé😀a")), max_size=3)
ODD_LINES = ["---", "...", "  - A", "A:[B]", "A: [B,]", "A: ~", "%YAML 1.1", "'A': []"]


@st.composite
def stage_line_files(draw: st.DrawFn) -> str:
    odd = draw(st.booleans())

    def pick(plain: st.SearchStrategy[str], other: st.SearchStrategy[str]) -> str:
        return draw(other if odd and draw(st.integers(0, 9)) == 0 else plain)

    def gap() -> str:
        return pick(st.sampled_from(["", " ", "  "]), st.just("\t"))

    def word() -> str:
        return pick(PLAIN_WORDS, ODD_LINE_WORDS)

    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = pick(st.sampled_from(["stage"] * 4 + ["null", "blank", "comment"]), st.sampled_from(ODD_LINES))
        comment = "#" + pick(PLAIN_COMMENT, ODD_COMMENT) if draw(st.booleans()) or kind == "comment" else ""
        if kind == "stage":
            items = [word() for _ in range(draw(st.integers(0, 3)))]
            line = f"{word()}:{gap() or ' '}[{gap()}{(gap() + ',' + gap()).join(items)}{gap()}]"
        elif kind == "null":
            line = f"{word()}:"
        elif kind in ("blank", "comment"):
            line = gap()
        else:
            line = kind
        lines.append(line + gap() + comment)
    return pick(st.just("\n"), st.just("\r\n")).join(lines) + draw(st.sampled_from(["", "\n"]))


@settings(max_examples=500, deadline=None)
@given(stage_line_files())
def test_the_line_reader_reads_what_the_parser_reads(text: str) -> None:
    """Where the regular expression takes a file, libyaml's events give the same stages and lines."""
    lines = read_stage_lines(text)
    if lines is not None:
        assert lines == read_events(text)


def test_the_line_reader_takes_stage_lines_and_leaves_everything_else() -> None:
    text = "# the pipeline\nLint: []\n\nTest:  [ ]  # none\nDocs: [Test ,Lint]\n  # later\nClean:\nAll:   # to do\n"
    assert read_stage_lines(text) == [
        ("Lint", 2, []),
        ("Test", 4, []),
        ("Docs", 5, [("Test", 5), ("Lint", 5)]),
        ("Clean", 7, []),
        ("All", 8, []),
    ]
    assert read_stage_lines(text) == read_events(text)
    assert read_stage_lines(f"{'A' * 1000}: []") == [("A" * 1000, 1, [])]
    for other in [
        "Lint: []\r\nTest: []",  # CR LF: left to the parser
        "Lint:\t[]",
        "Lint: [on]",
        "null: []",
        "Lint: []\nLint: []",
        "Lint: [] # [",
        "Lint: [] # a\x85b",
        "Lint: [] # café",  # any character beyond ASCII: left to the parser
        "Lint: []\n  - Test",
        "Lint: []#x",
        "Lint:[]",
        "Lint: ~",
        "Lint: [A,]",
        "Café: []",
        f"{'A' * 1001}: []",
        "# only a comment",
        "",
    ]:
        assert read_stage_lines(other + "\n") is None, other


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=8), st.from_regex(r"[-+.~0-9A-Za-z_:]{0,8}", fullmatch=True)))
def test_a_word_is_a_string_exactly_when_the_resolver_says_so(word: str) -> None:
    """The first-character shortcut agrees with PyYAML's resolver on every word, numbers, dates,
    booleans and nulls included."""
    expected = yaml.resolver.Resolver().resolve(yaml.ScalarNode, word, (True, False))
    assert reads_as_string(word) == (expected == "tag:yaml.org,2002:str")


def test_the_words_yaml_reads_otherwise_are_caught() -> None:
    for word in ["on", "No", "TRUE", "null", "~", "", "12", "-1.5", ".inf", "2026-11-27", "0x1F", "1:30", "<<", "="]:
        assert not reads_as_string(word), word
    for word in ["Lint", "one", "nothing", "t", "_x", "a-b", "TRUE_", "inf"]:
        assert reads_as_string(word), word


def test_a_stage_made_quickly_is_a_stage_like_any_other() -> None:
    quick, usual = Stage._without_options("Docs", ("Lint",), 3), Stage("Docs", ("Lint",), 3)
    assert quick == usual and hash(quick) == hash(usual) and repr(quick) == repr(usual)
    options = (quick.retries, quick.retry_delay, quick.timeout, quick.run, quick.has_options)
    assert options == (0, 0.0, None, None, False)
    assert dataclasses.replace(quick, retries=2) == Stage("Docs", ("Lint",), 3, retries=2)
    assert pickle.loads(pickle.dumps(quick)) == usual
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.name = "Other"  # type: ignore[misc]
    assert parse_pipeline("Lint: []\nDocs: [Lint]\n").stages["Docs"] == Stage("Docs", ("Lint",), 2)


def test_large_files_of_stage_lines_skip_the_parser_and_small_ones_skip_the_expressions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    big = "".join(f"s{i}: [{f's{i - 1}' if i else ''}]\n" for i in range(500))
    small = "Lint: []\nDocs: [Lint]\n"
    assert len(big) >= yamltree.LINE_READER_BYTES > len(small)
    expected = read_events(big)
    with monkeypatch.context() as m:
        m.setattr(yamltree, "read_events", lambda text: pytest.fail("the parser read a file of stage lines"))
        assert read_name_lists(big) == expected
    with monkeypatch.context() as m:
        m.setattr(yamltree, "read_stage_lines", lambda text: pytest.fail("a small file went to the expressions"))
        assert read_name_lists(small) == [("Lint", 1, []), ("Docs", 2, [("Lint", 2)])]
