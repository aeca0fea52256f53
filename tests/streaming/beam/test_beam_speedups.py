"""The Beam speed-ups answer exactly what Beam's own code answers."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TypeOptions
from apache_beam.transforms import userstate
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer

from sems.settings import Settings
from streaming.beam import beam_speedups, pipeline
from streaming.beam.write_readings import WriteReadingsFn


class _Stateful(beam.DoFn):  # type: ignore[misc]
    COUNT = ReadModifyWriteStateSpec("count", VarIntCoder())
    FLUSH = TimerSpec("flush", beam.TimeDomain.WATERMARK)

    def process(self, element: Any, count: Any = beam.DoFn.StateParam(COUNT),
                flush: Any = beam.DoFn.TimerParam(FLUSH)) -> Iterator[Any]:
        yield element

    @on_timer(FLUSH)
    def on_flush(self) -> None:
        pass


def test_dofn_specs_are_beams_and_computed_once_per_dofn(settings: Settings, monkeypatch: Any) -> None:
    calls: list[Any] = []
    beams = beam_speedups._beam_get_dofn_specs
    monkeypatch.setattr(beam_speedups, "_beam_get_dofn_specs", lambda dofn: calls.append(dofn) or beams(dofn))
    for dofn in (_Stateful(), WriteReadingsFn(settings)):
        first = beam_speedups.get_dofn_specs(dofn)
        assert first == beams(dofn)
        first[0].clear()  # a caller's copy: the memo is untouched
        assert beam_speedups.get_dofn_specs(dofn) == beams(dofn)
    assert len(calls) == 2
    assert {spec.name for spec in beam_speedups.get_dofn_specs(_Stateful())[0]} == {"count"}


def test_applied_beam_asks_the_memo(monkeypatch: Any) -> None:
    monkeypatch.setattr(userstate, "get_dofn_specs", userstate.get_dofn_specs)  # restored after the test
    beam_speedups.apply()
    beam_speedups.apply()
    assert userstate.get_dofn_specs is beam_speedups.get_dofn_specs
    assert userstate.is_stateful_dofn(_Stateful()) and not userstate.is_stateful_dofn(beam.DoFn())


def test_shared_views_read_and_write_the_same_options_as_new_views(settings: Settings) -> None:
    shared = pipeline.options(settings, Path("/prism"))
    plain = PipelineOptions(**shared.get_all_options(drop_default=True))
    assert shared.view_as(StandardOptions) is shared.view_as(StandardOptions)
    assert shared.view_as(StandardOptions).runner == plain.view_as(StandardOptions).runner == "PrismRunner"
    shared.view_as(TypeOptions).pipeline_type_check = False
    assert shared.get_all_options()["pipeline_type_check"] is False  # written through to the shared options
    restored = pickle.loads(pickle.dumps(shared))
    assert "_shared_views" not in restored.__dict__ and restored.view_as(StandardOptions).runner == "PrismRunner"
