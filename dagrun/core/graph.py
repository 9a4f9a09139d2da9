"""Graph algorithms over `name -> dependencies` mappings, built on graphlib."""

from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

# On Python 3.8 the graphlib-backport package provides the same module.
from graphlib import CycleError as _GraphlibCycleError
from graphlib import TopologicalSorter

__all__ = ["AcyclicSorter", "CycleError", "TopologicalSorter", "levels", "remaining_work", "topological_order"]


class CycleError(Exception):
    """The graph has a cycle; `cycle` lists it from its first stage back to that stage, each needing the next."""

    def __init__(self, cycle: List[str]) -> None:
        super().__init__(" -> ".join(cycle))
        self.cycle = cycle


class AcyclicSorter(TopologicalSorter):  # type: ignore[type-arg]
    """A TopologicalSorter for a graph already proven acyclic (every pipeline is, once loaded):
    `prepare()` skips its search for a cycle, a walk of the whole graph in pure Python that costs
    as much as the rest of preparing it. Should a Python version not call `_find_cycle`, this is
    a plain TopologicalSorter, slower but the same."""

    def _find_cycle(self) -> None:
        return None


def topological_order(needs: Mapping[str, Sequence[str]]) -> Tuple[str, ...]:
    """Every name after all of its dependencies; ties keep the mapping's order. Raises CycleError."""
    order = tuple(_sorter(AcyclicSorter(), needs).static_order())  # no search for cycles: most graphs have none
    nodes = set(needs)
    for deps in needs.values():
        nodes.update(deps)
    if len(order) == len(nodes):
        return order
    try:  # stages in a cycle never became ready; graphlib's own search names one
        _sorter(TopologicalSorter(), needs).prepare()
    except _GraphlibCycleError as e:
        raise CycleError(_readable_cycle(list(e.args[1]), list(needs))) from None
    raise AssertionError("graphlib found no cycle in a graph it could not order")  # pragma: no cover


def _sorter(sorter: TopologicalSorter[str], needs: Mapping[str, Sequence[str]]) -> TopologicalSorter[str]:
    for name, deps in needs.items():
        sorter.add(name, *deps)
    return sorter


def _readable_cycle(cycle: List[str], file_order: List[str]) -> List[str]:
    # graphlib lists the cycle along "is needed by"; users wrote "needs", so reverse it, and
    # start at the stage that comes first in the file so the message is the same every time.
    nodes = list(reversed(cycle[:-1]))
    rank = {name: i for i, name in enumerate(file_order)}
    start = min(range(len(nodes)), key=lambda i: rank.get(nodes[i], len(rank)))
    nodes = nodes[start:] + nodes[:start]
    return [*nodes, nodes[0]]


def levels(needs: Mapping[str, Sequence[str]], order: Iterable[str]) -> List[List[str]]:
    """Group names into batches: each batch needs only earlier batches, as early as possible."""
    level: Dict[str, int] = {}
    batches: List[List[str]] = []
    for name in order:
        n = 1 + max((level[d] for d in needs[name]), default=-1)
        level[name] = n
        if n == len(batches):
            batches.append([])
        batches[n].append(name)
    return batches


def remaining_work(
    order: Sequence[str],
    dependents: Mapping[str, Sequence[str]],
    weight: Optional[Mapping[str, float]] = None,
) -> Dict[str, float]:
    """For each name, the heaviest chain of work from it to the end: its own weight plus the
    heaviest among its dependents. Scheduling the largest first shortens the whole run."""
    out: Dict[str, float] = {}
    for name in reversed(order):
        own = weight.get(name, 1.0) if weight is not None else 1.0
        after = dependents[name]
        out[name] = own + max([out[d] for d in after]) if after else own
    return out
