"""The demo shop's care team in CareLoop: a default team that assigns new tickets by itself, three
agents the demo drives (demo/agents.py, each with their own token, so every reply is theirs) and one
for the person watching, who signs in to the workspace with the token the summary prints. That one is
not available for automatic assignment: they take whatever ticket they like, and the demo's agents
leave a ticket alone once somebody else has it.

Agents and teams are kept across runs only with DEMO_KEEP_DATA=1 (demo/slate.py clears them
otherwise): then they are found by name and given new tokens, since a token is shown only once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

TEAM = {"pl": "Obsługa klienta", "en": "Customer care"}
BOTS: dict[str, tuple[str, ...]] = {
    "pl": ("Ola, obsługa klienta", "Kuba, obsługa klienta", "Marta, obsługa klienta"),
    "en": ("Ola, customer care", "Kuba, customer care", "Marta, customer care"),
}
YOU = {"pl": "Ty (workspace)", "en": "You (workspace)"}
BOT_CAPACITY = 50
"""Enough for the demo's load: its agents are seldom full, so tickets rarely wait unassigned."""


@dataclass(frozen=True)
class Seat:
    """An agent of the demo shop and the token they call intake with."""

    agent_id: str
    name: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Staff:
    team_id: str
    bots: tuple[Seat, ...]
    """The agents the demo drives (the last of them leads the team: escalations go to them)."""
    you: Seat
    """The agent whose token the summary prints, for the workspace."""


def _ok(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()


async def _team(intake: httpx.AsyncClient, name: str) -> str:
    wanted = {"policy": "least_open", "auto_assign": True, "is_default": True}
    for team in _ok(await intake.get("/v1/teams"))["teams"]:
        if team["name"] == name:
            _ok(await intake.patch(f"/v1/teams/{team['id']}", json=wanted))
            return str(team["id"])
    return str(_ok(await intake.post("/v1/teams", json={"name": name, **wanted}))["id"])


async def _seat(intake: httpx.AsyncClient, known: dict[str, str], body: dict[str, Any]) -> Seat:
    """The agent named `body["name"]`: created, or found and given a new token and `body`'s fields."""
    agent_id = known.get(body["name"])
    if agent_id is None:
        created = _ok(await intake.post("/v1/agents", json=body))
        return Seat(created["id"], created["name"], created["token"])
    _ok(await intake.patch(f"/v1/agents/{agent_id}", json={k: v for k, v in body.items() if k != "name"}))
    rotated = _ok(await intake.post(f"/v1/agents/{agent_id}/token"))
    return Seat(agent_id, rotated["name"], rotated["token"])


async def sign_in_staff(intake: httpx.AsyncClient, locale: str) -> Staff:
    """The team and its agents, with fresh tokens (`intake` calls with the shop's key)."""
    lang = "pl" if locale.startswith("pl") else "en"
    team_id = await _team(intake, TEAM[lang])
    known = {a["name"]: a["id"] for a in _ok(await intake.get("/v1/agents"))["agents"]}
    names = BOTS[lang]
    bots = []
    for n, name in enumerate(names):
        role = "lead" if n == len(names) - 1 else "agent"
        body = {
            "name": name,
            "role": role,
            "capacity": BOT_CAPACITY,
            "available": True,
            "team_ids": [team_id],
        }
        bots.append(await _seat(intake, known, body))
    you = await _seat(
        intake,
        known,
        {
            "name": YOU[lang],
            "role": "admin",
            "capacity": BOT_CAPACITY,
            "available": False,
            "team_ids": [team_id],
        },
    )
    return Staff(team_id, tuple(bots), you)
