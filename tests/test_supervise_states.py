"""The state diagram: every edge labelled, nothing else allowed, and only Job changes state."""

from __future__ import annotations

import pytest

from oomkit.models import JobState, ProgramSpec
from oomkit.supervise import states
from oomkit.supervise.evidence import NoEvidence
from oomkit.supervise.job import Job
from tests.supervise_fakes import FakeClock, FakeControl, RecordingSink

S = JobState


def test_every_state_is_reachable_and_left() -> None:
    targets = {to for (_, to) in states.EDGES}
    sources = {frm for (frm, _) in states.EDGES}
    assert targets == set(JobState)
    assert sources == set(JobState)


def test_allowed_is_derived_from_the_edges() -> None:
    assert states.ALLOWED[S.RUNNING] == frozenset({S.STARTING})
    assert states.ALLOWED[S.STOPPED] == frozenset({S.STOPPING, S.BACKOFF})
    assert states.ALLOWED[S.STARTING] == frozenset({S.STOPPED, S.EXITED, S.FATAL, S.BACKOFF})


@pytest.mark.parametrize(("frm", "to"), [
    (S.STOPPED, S.RUNNING), (S.RUNNING, S.STARTING), (S.FATAL, S.RUNNING), (S.EXITED, S.STOPPED),
    (S.BACKOFF, S.RUNNING), (S.STOPPING, S.RUNNING),
])
def test_edges_not_in_the_diagram_are_refused(frm: JobState, to: JobState) -> None:
    with pytest.raises(states.InvalidTransition, match=f"{frm.value} -> {to.value}"):
        states.check(frm, to)


def test_change_state_checks_the_edge_and_publishes_it() -> None:
    control, sink = FakeControl(), RecordingSink()
    spec = ProgramSpec(name="a", command=("x",))
    job = Job(spec, control=control, clock=FakeClock(), sink=sink, evidence=NoEvidence(),
              placement=control.place(spec))
    job.change_state(S.STARTING, 1.0)
    assert sink.states == [("a", S.STOPPED, S.STARTING, "start")]
    with pytest.raises(states.InvalidTransition):
        job.change_state(S.EXITED, 2.0)
    assert job.record.state is S.STARTING
