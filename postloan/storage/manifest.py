"""Manifests and strict JSON: what every saved folder says about itself."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def _json_default(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    return str(x)


def dumps(obj: Any) -> str:
    """JSON with NaN written as null (strict JSON)."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        if hasattr(v, "item") and not isinstance(v, str):
            return clean(v.item())
        return v

    return json.dumps(clean(obj), indent=2, default=_json_default, allow_nan=False) + "\n"


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest, or None when there is none or it cannot be read."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
