#!/usr/bin/env python3
"""The README's two commands, for a fresh machine with only Python >= 3.11.

    python3 dev.py serve [--host H --port P --workers N]   run TopSmile
    python3 dev.py test  [pytest args]                      lint, types, audit, every test

Both install uv when it is missing (into ./.tools), sync the locked environment, then run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"


def ensure_uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    local = TOOLS / "bin" / "uv"
    if not local.exists():
        print("dev.py: installing uv into .tools/ ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        subprocess.run([TOOLS / "bin" / "python", "-m", "pip", "install", "-q", "uv"], check=True)
    return str(local)


def sync(uv: str) -> None:
    subprocess.run([uv, "sync", "--locked", "--quiet"], cwd=ROOT, check=True)


def serve(uv: str, args: list[str]) -> int:
    sync(uv)
    executable = ROOT / ".venv" / "bin" / "topsmile"
    os.chdir(ROOT)
    os.execv(executable, [str(executable), "serve", *args])  # noqa: S606 - our own entry point


def test(uv: str, args: list[str]) -> int:
    sync(uv)
    steps = [
        ("ruff lint", [uv, "run", "--locked", "ruff", "check", "."]),
        ("ruff format", [uv, "run", "--locked", "ruff", "format", "--check", "."]),
        ("mypy", [uv, "run", "--locked", "mypy", "src/"]),
        ("dependency audit", [sys.executable, str(ROOT / "scripts" / "audit_deps.py")]),
        ("pytest", [uv, "run", "--locked", "pytest", *args]),
    ]
    failed = []
    for name, command in steps:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nFAILED: {', '.join(failed)}", flush=True)
        return 1
    print("\nAll checks passed.", flush=True)
    return 0


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("serve", "test"):
        print(__doc__)
        return 2
    uv = ensure_uv()
    command, args = sys.argv[1], sys.argv[2:]
    return serve(uv, args) if command == "serve" else test(uv, args)


if __name__ == "__main__":
    raise SystemExit(main())
