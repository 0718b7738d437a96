"""The agents' workspace: server-rendered pages served by intake under /workspace (docs/workspace.md).

pages.py (sign-in, queue, ticket, assets; `mount`), actions.py (the ticket forms), access.py (session
and CSRF), screens.py (what each screen reads), views.py and ticket_view.py (pure view-models),
render.py (templates and headers), repository.py (sessions' SQL), people.py (the seam to agents,
teams, assignment, macros and tags), session.py and texts.py (pure rules and words)."""
