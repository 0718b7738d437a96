"""A shop's people: agents (who they are, their role, whether they take tickets now and how many at
once) and teams (who is in them and how they hand out tickets).

Roles: an `agent` works tickets; a `lead` also is their team's escalation target; an `admin` also
manages the shop's agents and teams and is the escalation target of last resort.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

AGENT_TOKEN_PREFIX = "cla_"  # noqa: S105 (a prefix, not a secret)
"""An agent's API token starts with this (a shop key with `clk_`): the API looks a token of this
form up among the agents, any other among the shop keys."""


class Role(StrEnum):
    AGENT = "agent"
    LEAD = "lead"
    ADMIN = "admin"


class Policy(StrEnum):
    """How a team hands out its tickets (domain/assignment.py)."""

    ROUND_ROBIN = "round_robin"
    LEAST_OPEN = "least_open"


class PeopleRefused(Exception):
    """A change to the shop's people that cannot be made (an unknown team, a duplicate name)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class NotAllowed(Exception):
    """The caller's role does not allow this."""


@dataclass(frozen=True)
class Agent:
    shop_id: str
    id: str
    name: str
    role: Role
    capacity: int
    """How many unfinished tickets automatic assignment gives them at most."""
    available: bool = True
    """Takes new tickets now (automatic assignment passes over the others)."""
    active: bool = True
    """False once deactivated: their token stops working, they get no tickets."""
    email: str | None = None
    team_ids: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def manages_people(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True)
class Team:
    shop_id: str
    id: str
    name: str
    policy: Policy = Policy.ROUND_ROBIN
    auto_assign: bool = False
    """New tickets of the team go to one of its agents by `policy` (else they wait unassigned)."""
    is_default: bool = False
    """A new ticket no rule gives a team joins this one."""
    last_agent_id: str | None = None
    """Round robin's cursor: the agent who got the team's last ticket."""
    created_at: datetime | None = None
    updated_at: datetime | None = None


def may_manage_people(agent: Agent | None) -> bool:
    """The shop's key (no agent) or an admin's token may change agents and teams."""
    return agent is None or agent.manages_people


def require_manager(agent: Agent | None) -> None:
    if not may_manage_people(agent):
        raise NotAllowed("only the shop's API key or an admin agent manages agents and teams")
