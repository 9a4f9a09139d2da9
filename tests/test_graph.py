"""Graph helpers: order, cycles as readable paths, batches, downstream sets, remaining work."""

from __future__ import annotations

import pytest
from graphlib import CycleError as GraphlibCycleError
from hypothesis import given, settings
from hypothesis import strategies as st

from dagrun.core.graph import AcyclicSorter, CycleError, TopologicalSorter, levels, remaining_work, topological_order

NEEDS = {"Lint": (), "Test": (), "Coverage": ("Test",), "Docs": ("Coverage", "Lint"), "Benchmark": ("Coverage",)}
DEPENDENTS = {"Lint": ["Docs"], "Test": ["Coverage"], "Coverage": ["Docs", "Benchmark"], "Docs": [], "Benchmark": []}


def test_order_puts_every_stage_after_its_dependencies() -> None:
    order = topological_order(NEEDS)
    for name, deps in NEEDS.items():
        assert all(order.index(d) < order.index(name) for d in deps)


@pytest.mark.parametrize(
    "needs, cycle",
    [
        ({"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        ({"x": [], "c": ["a"], "a": ["b"], "b": ["c"]}, ["c", "a", "b", "c"]),
    ],
    ids=["two", "starts-at-first-in-file"],
)
def test_cycles_read_along_needs_from_the_first_stage_in_the_file(needs: dict, cycle: list) -> None:
    with pytest.raises(CycleError) as caught:
        topological_order(needs)
    assert caught.value.cycle == cycle


def test_levels_group_stages_that_can_run_together() -> None:
    assert levels(NEEDS, topological_order(NEEDS)) == [["Lint", "Test"], ["Coverage"], ["Docs", "Benchmark"]]


def test_remaining_work_counts_the_longest_chain_behind_each_stage() -> None:
    work = remaining_work(topological_order(NEEDS), DEPENDENTS)
    assert work == {"Test": 3, "Coverage": 2, "Lint": 2, "Docs": 1, "Benchmark": 1}
    weighted = remaining_work(topological_order(NEEDS), DEPENDENTS, {"Benchmark": 10})
    assert weighted["Test"] == 12


@st.composite
def acyclic_graphs(draw: st.DrawFn) -> dict:
    """Each node needs some of the nodes before it: acyclic by construction."""
    n = draw(st.integers(0, 30))
    return {i: draw(st.sets(st.integers(0, i - 1), max_size=4)) if i else set() for i in range(n)}


@settings(max_examples=100, deadline=None)
@given(acyclic_graphs())
def test_the_acyclic_sorter_hands_out_stages_as_graphlib_does(needs: dict) -> None:
    sorters = [AcyclicSorter(needs), TopologicalSorter(needs)]
    rounds: list = [[], []]
    for sorter, seen in zip(sorters, rounds):
        sorter.prepare()
        while sorter.is_active():
            ready = sorter.get_ready()
            seen.append(ready)
            sorter.done(*ready)
    assert rounds[0] == rounds[1]


NODES = st.sampled_from("ABCDEFGH")


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(NODES, st.lists(NODES, max_size=3), max_size=8))
def test_the_order_and_its_cycles_are_graphlibs(needs: dict) -> None:
    """Ordering without graphlib's search for cycles, and searching only when some stage was left
    out, gives graphlib's order or its cycle; dependencies that are not keys count as nodes."""
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for name, deps in needs.items():
        sorter.add(name, *deps)
    try:
        expected = tuple(sorter.static_order())
    except GraphlibCycleError:
        with pytest.raises(CycleError) as caught:
            topological_order(needs)
        cycle = caught.value.cycle
        assert cycle[0] == cycle[-1] and all(cycle[i + 1] in needs[cycle[i]] for i in range(len(cycle) - 1))
        return
    assert topological_order(needs) == expected
