#!/usr/bin/env bash
# The project's Python environment, exactly as uv.lock pins it (uv itself comes from PyPI).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"
if ! command -v uv >/dev/null; then
  echo "careloop: installing uv from PyPI"
  python3 -m pip install --quiet --user "uv==0.13.9" || python3 -m pip install --quiet "uv==0.13.9"
  export PATH="$HOME/.local/bin:$PATH"
fi
UV_PYTHON_DOWNLOADS=never uv sync --frozen --quiet
