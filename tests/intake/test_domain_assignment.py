"""Assignment policy (pure): capacity, availability, no ticket twice, round robin's fairness, least
open's choice, and who an SLA escalation goes to."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from services.intake.domain.agents import Agent, Policy, Role
from services.intake.domain.assignment import Candidate, escalation_target, plan

agent_ids = st.sampled_from([f"agt_{n:02d}" for n in range(8)])
candidates = st.lists(
    st.builds(
        Candidate,
        agent_id=agent_ids,
        capacity=st.integers(0, 6),
        open_tickets=st.integers(0, 8),
        available=st.booleans(),
        active=st.booleans(),
    ),
    max_size=8,
    unique_by=lambda c: c.agent_id,
)
tickets = st.lists(st.sampled_from([f"tkt_{n:03d}" for n in range(40)]), max_size=40)
policies = st.sampled_from(list(Policy))
cursors = st.none() | agent_ids


@given(policies, candidates, cursors, tickets)
def test_capacity_is_never_exceeded(
    policy: Policy, people: list[Candidate], cursor: str | None, ids: list[str]
) -> None:
    got = Counter(agent for _, agent in plan(policy, people, cursor, ids).assignments)
    for c in people:
        assert got[c.agent_id] <= max(0, c.capacity - c.open_tickets)


@given(policies, candidates, cursors, tickets)
def test_every_ticket_is_assigned_once_or_waits(
    policy: Policy, people: list[Candidate], cursor: str | None, ids: list[str]
) -> None:
    result = plan(policy, people, cursor, ids)
    assigned = [ticket for ticket, _ in result.assignments]
    assert len(assigned) == len(set(assigned))
    assert not set(assigned) & set(result.unassigned)
    assert sorted([*assigned, *result.unassigned]) == sorted(set(ids))


@given(policies, candidates, cursors, tickets)
def test_unavailable_and_deactivated_agents_are_skipped(
    policy: Policy, people: list[Candidate], cursor: str | None, ids: list[str]
) -> None:
    away = {c.agent_id for c in people if not (c.available and c.active)}
    assert not {agent for _, agent in plan(policy, people, cursor, ids).assignments} & away


@given(policies, candidates, cursors, tickets)
def test_a_ticket_waits_only_when_everyone_who_could_take_it_is_full(
    policy: Policy, people: list[Candidate], cursor: str | None, ids: list[str]
) -> None:
    result = plan(policy, people, cursor, ids)
    if result.unassigned:
        got = Counter(agent for _, agent in result.assignments)
        for c in people:
            if c.available and c.active:
                assert c.open_tickets + got[c.agent_id] >= c.capacity


@given(st.integers(1, 8), st.integers(0, 60), cursors, st.lists(st.integers(0, 5), min_size=8, max_size=8))
def test_round_robin_is_fair(agents: int, n: int, cursor: str | None, loads: list[int]) -> None:
    people = [Candidate(f"agt_{i:02d}", capacity=1000, open_tickets=loads[i]) for i in range(agents)]
    result = plan(Policy.ROUND_ROBIN, people, cursor, [f"tkt_{i}" for i in range(n)])
    got = Counter(agent for _, agent in result.assignments)
    counts = [got[c.agent_id] for c in people]
    assert max(counts) - min(counts) <= 1  # whatever each already had: round robin takes turns


@given(candidates, cursors, tickets, st.integers(0, 40))
def test_round_robin_continues_from_its_cursor(
    people: list[Candidate], cursor: str | None, ids: list[str], cut: int
) -> None:
    """Two plans, the second from the first's cursor and loads, hand out as one plan would."""
    whole = plan(Policy.ROUND_ROBIN, people, cursor, ids)
    first = plan(Policy.ROUND_ROBIN, people, cursor, ids[:cut])
    got = Counter(agent for _, agent in first.assignments)
    after = [
        Candidate(c.agent_id, c.capacity, c.open_tickets + got[c.agent_id], c.available, c.active)
        for c in people
    ]
    rest = [
        t
        for t in dict.fromkeys(ids[cut:])
        if t not in {x for x, _ in first.assignments} | set(first.unassigned)
    ]
    second = plan(Policy.ROUND_ROBIN, after, first.cursor, rest)
    assert dict(whole.assignments) == dict(first.assignments) | dict(second.assignments)


def test_round_robin_goes_round_in_agent_order() -> None:
    people = [Candidate(a, capacity=10, open_tickets=0) for a in ("agt_b", "agt_a", "agt_c")]
    result = plan(Policy.ROUND_ROBIN, people, "agt_a", ["t1", "t2", "t3", "t4"])
    assert [agent for _, agent in result.assignments] == ["agt_b", "agt_c", "agt_a", "agt_b"]
    assert result.cursor == "agt_b"
    # the agent the cursor names left: the next one after it still comes next
    gone = plan(Policy.ROUND_ROBIN, [p for p in people if p.agent_id != "agt_b"], "agt_b", ["t5"])
    assert gone.assignments == (("t5", "agt_c"),)


@given(candidates, tickets)
def test_least_open_gives_each_ticket_to_someone_with_the_fewest(
    people: list[Candidate], ids: list[str]
) -> None:
    result = plan(Policy.LEAST_OPEN, people, None, ids)
    load = {c.agent_id: c.open_tickets for c in people}
    for _, agent in result.assignments:
        room = [c for c in people if c.available and c.active and load[c.agent_id] < c.capacity]
        assert load[agent] == min(load[c.agent_id] for c in room)
        load[agent] += 1


def test_least_open_fills_the_emptiest_first_and_stops_at_capacity() -> None:
    people = [
        Candidate("agt_a", capacity=3, open_tickets=2),
        Candidate("agt_b", capacity=3, open_tickets=0),
        Candidate("agt_c", capacity=9, open_tickets=0, available=False),
    ]
    result = plan(Policy.LEAST_OPEN, people, None, ["t1", "t2", "t3", "t4", "t5"])
    assert result.assignments == (("t1", "agt_b"), ("t2", "agt_b"), ("t3", "agt_a"), ("t4", "agt_b"))
    assert result.unassigned == ("t5",)


def _agent(agent_id: str, role: Role, teams: tuple[str, ...] = (), available: bool = True) -> Agent:
    return Agent("shop", agent_id, agent_id, role, capacity=5, available=available, team_ids=teams)


def test_an_escalation_to_the_team_lead_goes_to_the_lead_of_the_tickets_team() -> None:
    people = [
        _agent("agt_1", Role.AGENT, ("team_x",)),
        _agent("agt_2", Role.LEAD, ("team_y",)),
        _agent("agt_3", Role.LEAD, ("team_x",)),
        _agent("agt_4", Role.LEAD, ("team_x",)),
        _agent("agt_9", Role.ADMIN),
    ]
    # two leads of the team: the one with fewer unfinished tickets
    assert escalation_target("team_lead", "team_x", people, {"agt_3": 4, "agt_4": 1}) == "agt_4"
    assert escalation_target("team_lead", "team_x", people, {}) == "agt_3"
    # an away lead comes after an available one
    away = [*people[:2], _agent("agt_3", Role.LEAD, ("team_x",), available=False), *people[3:]]
    assert escalation_target("team_lead", "team_x", away, {"agt_4": 9}) == "agt_4"
    # no lead in the team (or no team): the shop's admin; manager means the admin
    assert escalation_target("team_lead", "team_z", people, {}) == "agt_9"
    assert escalation_target("team_lead", None, people, {}) == "agt_9"
    assert escalation_target("manager", "team_x", people, {}) == "agt_9"
    # a level naming an agent goes to them
    assert escalation_target("agt_2", "team_x", people, {}) == "agt_2"


def test_an_escalation_with_nobody_to_take_it_goes_nowhere() -> None:
    assert escalation_target("team_lead", "team_x", [_agent("agt_1", Role.AGENT, ("team_x",))], {}) is None
    gone = Agent("shop", "agt_9", "x", Role.ADMIN, capacity=1, active=False)
    assert escalation_target("manager", None, [gone], {}) is None
