"""How the HTTP layer reads domain time: through a callable, so a test's ManualClock set on the
runtime after start-up is honoured."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

NowFn = Callable[[], datetime]
