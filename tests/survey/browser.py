"""Shared by the survey's browser tests: the system Chromium, a loopback server, and what a page's
layout and colours look like as measured by the browser itself."""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import uvicorn

from runtime.service import ServiceApp
from tests.support.wait import eventually

CHROMIUM = "/usr/bin/chromium"  # the system's browser: the tests never download one
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@asynccontextmanager
async def served(app: ServiceApp, port: int) -> AsyncIterator[None]:
    """uvicorn on loopback in front of the already started app (its lifespan is the test's)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await eventually(started, timeout=10.0, interval=0.05)
    try:
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    @classmethod
    def of(cls, rect: dict[str, float]) -> Box:
        return cls(rect["x"], rect["y"], rect["width"], rect["height"])


# Measured in the page: the viewport, how wide the document really is, and the boxes that matter.
LAYOUT_JS = """(name) => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {x: r.x, y: r.y, width: r.width, height: r.height}; };
  const targets = [...document.querySelectorAll(`input[name="${name}"]`)]
    .map((input) => box(document.querySelector(`label[for="${input.id}"]`)));
  const inputs = [...document.querySelectorAll(`input[name="${name}"]`)].map(box);
  const submit = document.querySelector('button[type="submit"]');
  let covered = null;
  if (submit) {
    const b = submit.getBoundingClientRect();
    covered = document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2) !== submit;
  }
  return {
    viewport: {width: window.innerWidth, height: window.innerHeight},
    scroll_width: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
    targets, inputs, submit: submit ? box(submit) : null, submit_covered: covered,
  };
}"""


@dataclass(frozen=True)
class Layout:
    viewport_width: int
    viewport_height: int
    scroll_width: int
    targets: list[Box]
    """The visible option boxes (the labels) of one scale, in the order of its values."""
    inputs: list[Box]
    """The radio inputs, which cover their option: what a tap actually hits."""
    submit: Box | None
    submit_covered: bool | None

    @classmethod
    def of(cls, measured: dict[str, Any]) -> Layout:
        return cls(
            measured["viewport"]["width"],
            measured["viewport"]["height"],
            measured["scroll_width"],
            [Box.of(t) for t in measured["targets"]],
            [Box.of(t) for t in measured["inputs"]],
            Box.of(measured["submit"]) if measured["submit"] else None,
            measured["submit_covered"],
        )


def continuous_direction(boxes: list[Box], max_gap: float = 12.0) -> str | None:
    """'row' if the boxes sit side by side left to right in their order, 'column' if stacked top to
    bottom in their order, with no more than `max_gap` px between neighbours (one scale, not groups);
    None otherwise (wrapped into several rows, reordered, or spread apart)."""
    pairs = list(pairwise(boxes))
    if all(abs(b.y - boxes[0].y) < 1 for b in boxes) and all(0 <= n.x - p.right <= max_gap for p, n in pairs):
        return "row"
    if all(abs(b.x - boxes[0].x) < 1 for b in boxes) and all(
        0 <= n.y - p.bottom <= max_gap for p, n in pairs
    ):
        return "column"
    return None


# The text colour of an element and the colour actually behind it (the nearest painted background).
COLOURS_JS = """(selector) => {
  const el = document.querySelector(selector);
  let bg = 'rgba(0, 0, 0, 0)';
  for (let node = el; node; node = node.parentElement) {
    const c = getComputedStyle(node).backgroundColor;
    if (!c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') { bg = c; break; }
  }
  return [getComputedStyle(el).color, bg];
}"""


def _luminance(css_colour: str) -> float:
    numbers = re.findall(r"[\d.]+", css_colour)
    channels = [float(v) / 255 for v in numbers[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    """The WCAG contrast ratio of two opaque CSS rgb() colours."""
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height
