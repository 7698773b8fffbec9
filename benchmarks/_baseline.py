"""A git ref's code for a benchmark's baseline, measured in the same run as this tree's."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def extract(ref: str, folder: Path) -> str:
    """`ref`'s src/ folder, extracted under `folder` (into `baseline/`, which must not exist
    yet); the path to put first on PYTHONPATH."""
    target = Path(folder) / "baseline"
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", ref, "src"], cwd=ROOT, check=True, capture_output=True
    ).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return str(target / "src")
