"""Every HTTP route of a service, read from its FastAPI app, and a request that exercises it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from runtime.service import ServiceApp

PUBLIC_ROUTES = frozenset(
    {
        ("survey", "GET", "/s/{token}"),
        ("survey", "POST", "/s/{token}"),
        ("survey", "POST", "/v1/answers"),
        ("survey", "GET", "/s/static/survey.css"),
        ("intake", "POST", "/v1/platforms/shopify/{shop_id}"),
        ("intake", "POST", "/v1/platforms/woocommerce/{shop_id}"),
    }
)
"""The only routes that answer without an API key: the customer's survey answer (a token is the key),
the answer page's own stylesheet, and the shop platforms' webhooks (the platform's signature is the
key: tests/platforms/test_adapters_real.py)."""

WORKSPACE = "/workspace"
"""The agents' workspace pages (intake): their key is a signed-in agent's session cookie, never an API
key; sessions, CSRF and one shop never seeing another's tickets there are tested in
tests/intake/test_workspace_real.py and test_workspace_browser.py."""

SHOP_QUERY_NAMES = frozenset({"shop", "shop_id"})

QUERIES: dict[tuple[str, str], dict[str, str]] = {
    # shop B's customer's address: another shop's key must find nothing by it
    ("GET", "/v1/customers"): {"email": "secret-b@example.com"},
}
"""Query parameters a route requires, sent on every call of it."""

BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/contacts"): {"channel": "email", "customer_email": "a@example.com", "body": "hello"},
    ("POST", "/v1/customers/erasure"): {"email": "a@example.com"},
    ("POST", "/v1/customers/export"): {"email": "a@example.com"},
    ("POST", "/v1/tickets/{ticket_id}/replies"): {"body": "an agent of shop A writes"},
    ("POST", "/v1/tickets/{ticket_id}/notes"): {"body": "an agent of shop A notes"},
    ("POST", "/v1/tickets/{ticket_id}/status"): {"status": "pending"},
    ("POST", "/v1/tickets/{ticket_id}/merge"): {"into_ticket_id": "tkt_of_nobody"},
    ("POST", "/v1/tickets/{ticket_id}/assign"): {"agent_id": "{agent_id}"},
    ("POST", "/v1/tickets/{ticket_id}/tags"): {"add": ["shop-a"]},
    ("POST", "/v1/macros"): {"name": "a macro of shop A", "texts": {"en": "Hello {{ customer_name }}"}},
    ("PATCH", "/v1/macros/{macro_id}"): {"name": "hijacked by shop A"},
    ("POST", "/v1/endpoints"): {"url": "{receiver}/shop-a-hook"},
    ("PATCH", "/v1/endpoints/{endpoint_id}"): {"description": "hijacked by shop A", "enabled": False},
    ("POST", "/v1/endpoints/{endpoint_id}/secret/rotate"): {"overlap_seconds": 0},
    ("POST", "/v1/endpoints/{endpoint_id}/replay-failed"): {"since": "2000-01-01T00:00:00Z"},
    ("PUT", "/v1/templates/{event_type}/{language}"): {"subject": "shop A", "text": "shop A text"},
    ("PUT", "/v1/email/relay"): {"host": "127.0.0.1", "port": 2525, "from_address": "care@shop-a.example"},
    ("POST", "/v1/answers"): {"token": "not-a-token", "score": 5},
    ("POST", "/v1/platforms/secrets"): {"platform": "shopify", "secret": "shpss_shop_a_secret_0123"},
    ("POST", "/v1/agents"): {"name": "an agent of shop A"},
    ("PATCH", "/v1/agents/{agent_id}"): {"capacity": 1, "name": "hijacked by shop A"},
    ("POST", "/v1/teams"): {"name": "a team of shop A"},
    ("PATCH", "/v1/teams/{team_id}"): {"name": "hijacked by shop A", "auto_assign": True},
    ("POST", "/v1/admin/shops"): {"id": "shop-of-shop-a", "name": "made by shop A"},
    ("PATCH", "/v1/admin/shops/{shop_id}"): {"name": "hijacked by shop A"},
    ("POST", "/v1/admin/shops/{shop_id}/keys"): {"name": "shop A's own key for B"},
}
"""A valid body per route, so a request reaches the ownership check instead of stopping at validation.
PUT routes without an entry send back what GET returns for the same path (a shop's own table)."""

RAW_BODIES: dict[tuple[str, str], str] = {
    ("POST", "/v1/inbound/email"): (
        "From: a@example.com\r\nSubject: hello\r\nMessage-ID: <shop-a-mail@example.com>\r\n"
        "In-Reply-To: <{ticket_id}@careloop.invalid>\r\n\r\nhello\r\n"
    ),
}
"""Routes whose body is not JSON (a raw e-mail): sent as it is, with shop B's ids filled in."""


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    path: str
    api_route: APIRoute

    @property
    def public(self) -> bool:
        """No API key: a public route, or a workspace page (a session is its key)."""
        listed = (self.service, self.method, self.path) in PUBLIC_ROUTES
        return listed or self.path == WORKSPACE or self.path.startswith(WORKSPACE + "/")

    @property
    def admin(self) -> bool:
        """The operator API: only the admin credential reaches it, never a shop's key."""
        return self.path.startswith("/v1/admin/")

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def shop_query(self) -> str | None:
        for param in self.api_route.dependant.query_params:
            if param.alias in SHOP_QUERY_NAMES:
                return param.alias
        return None

    @property
    def has_body(self) -> bool:
        return self.api_route.body_field is not None

    def url(self, values: dict[str, str]) -> str:
        return re.sub(r"{(\w+)}", lambda m: values[m.group(1)], self.path)

    def __str__(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def routes_of(service: str, app: ServiceApp) -> list[Route]:
    """Every API route, included routers' too (FastAPI keeps those behind an _IncludedRouter; the
    iterator its own OpenAPI generator uses flattens them with their effective path)."""
    api = app.runtime.api
    assert isinstance(api, FastAPI), f"{service} has no FastAPI app"
    found = []
    for context in iter_route_contexts(api.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path is not None:
            for method in sorted((context.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append(Route(service, method, context.path, route))
    return found


def fill(template: Any, values: dict[str, str]) -> Any:
    """`template` with "{name}" placeholders in its strings replaced by `values`."""
    if isinstance(template, str):
        return re.sub(r"{(\w+)}", lambda m: values.get(m.group(1), m.group(0)), template)
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template
