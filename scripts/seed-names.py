#!/usr/bin/env python3
"""Regenerates sandbox/testdata/seed-names.json: container names computed by the
original gateway module's own function (../shared/seed), which
sandbox.ContainerName must reproduce exactly."""
import json
import re
import sys

# Verbatim from ../shared/seed/workspace_docker_readable.py.
_SAFE_NAME_RE = re.compile(r"[^a-z0-9._-]+", re.IGNORECASE)


def container_name_for_subdir(workspace_subdir: str) -> str:
    safe = _SAFE_NAME_RE.sub("-", workspace_subdir.lower()).strip("-")
    if not safe:
        safe = "ws"
    base = f"gws-{safe[:50]}"
    return base[:63]


CASES = [
    "alice", "Alice", "ab", "Ab", "a b", "a-b", "a_b", "a.b", "a  b", "a/b", "team/alice",
    "--x--", "-", "---", "", " ", "!!!", "..", ".hidden", "x.", "UPPER CASE", "tab\there",
    "Straße", "naïve", "日本語", "mixed日本x", "emoji😀name", "İstanbul", "ıi", "ſs", "Kelvin\u212a",
    "ΣΑΣ", "a" * 49, "a" * 50, "a" * 51, "b" * 80, "x" * 49 + "-y", "x" * 49 + " yz",
    "y" * 50 + "z", "a-" * 30, "0123456789" * 6, "a\u0301b", "ends with space ", " leading",
    "dots...and___underscores", "UPPER/lower/Mixed", "a:b", "a,b", "a=b", "a;b",
]

json.dump([{"subdir": c, "name": container_name_for_subdir(c)} for c in CASES],
          sys.stdout, ensure_ascii=False, indent=1)
print()
