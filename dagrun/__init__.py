"""dagrun: run the stages of a pipeline in dependency order, in parallel, and never redo what worked.

The public API is what this module exports, listed once in `dagrun/_public.py`; everything under
the subpackages is internal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List

__version__ = "0.1.0"

if TYPE_CHECKING:
    from dagrun._public import *  # noqa: F403 - the public names, for type checkers


def _public_names() -> List[str]:
    from dagrun import _public

    return sorted(name for name in vars(_public) if not name.startswith("_"))


def __getattr__(name: str) -> Any:
    # The public names are imported on first use; `__all__` too, for `from dagrun import *`.
    if name == "__all__":
        return ["__version__", *_public_names()]
    if name.startswith("_"):
        raise AttributeError(f"module 'dagrun' has no attribute {name!r}")
    from dagrun import _public

    try:
        value = getattr(_public, name)
    except AttributeError:
        raise AttributeError(f"module 'dagrun' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return ["__version__", *_public_names()]
