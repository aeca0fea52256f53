"""Speed-ups of Beam 2.77's pipeline construction, which the job repeats for every bounded run.

Applied by the job's pipeline module (`apply`, idempotent). Each keeps Beam's behaviour;
tests/streaming/beam/test_beam_speedups.py compares it with Beam's own code.

- `userstate.get_dofn_specs` finds a DoFn's state and timer specs by taking the signature of
  every method of the DoFn (`dir(dofn)`, ~30 with the base class's), and Beam asks it ~5 times
  per DoFn while building, translating and executing a pipeline: 78 calls and 24,000
  `inspect.signature`s per run of the job, half of its submit time (0.3 s of ~0.6 s per run,
  which at full rate is a run every 2-4 s). Memoized per DoFn instance: the specs are
  declared as the defaults of the DoFn's methods, which do not change once it is built.
- `PipelineOptions.view_as` builds a new view per call, each with its own argparse parser over
  every option of the view's class (~140 calls per run): `SharedViews` keeps one view per class.
  Views hold no state of their own (values live in the `_all_options` dict they all share), so
  a kept view reads and writes exactly what a new one would.
"""

from __future__ import annotations

import weakref
from typing import Any, TypeVar

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import userstate

_beam_get_dofn_specs = userstate.get_dofn_specs
_specs: weakref.WeakKeyDictionary[Any, tuple[set[Any], set[Any]]] = weakref.WeakKeyDictionary()
View = TypeVar("View", bound=PipelineOptions)


def get_dofn_specs(dofn: Any) -> tuple[set[Any], set[Any]]:
    """Beam's `get_dofn_specs`, computed once per DoFn instance (copies of the sets: callers may not share them)."""
    try:
        specs = _specs.get(dofn)
    except TypeError:  # not weakly referenceable: no memo
        return _beam_get_dofn_specs(dofn)
    if specs is None:
        specs = _beam_get_dofn_specs(dofn)
        _specs[dofn] = specs
    return set(specs[0]), set(specs[1])


class SharedViews(PipelineOptions):  # type: ignore[misc]
    """Pipeline options whose `view_as` returns one kept view per options class."""

    def view_as(self, cls: type[View]) -> View:
        views: dict[type, Any] = self.__dict__.setdefault("_shared_views", {})
        if cls not in views:
            views[cls] = super().view_as(cls)
        return views[cls]  # type: ignore[no-any-return]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_shared_views", None)
        return state


def apply() -> None:
    """Install the memoized `get_dofn_specs` (idempotent)."""
    userstate.get_dofn_specs = get_dofn_specs
