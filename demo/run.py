"""`make run`: the whole stack in the foreground (the demo shop joins it in a later step)."""

from __future__ import annotations

import sys

from services.stack import main

if __name__ == "__main__":
    sys.exit(main(["run"]))
