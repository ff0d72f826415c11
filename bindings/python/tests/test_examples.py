"""The Python example runs and goes through its step-up."""

import subprocess
import sys

from conftest import ROOT


def run_guard(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python" / "agent_guard.py"), *args],
        capture_output=True,
        text=True,
    )


def test_agent_guard_compiling_in_process():
    p = run_guard()
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "logs.read auth-2026-11-22: step_up (requirements_missing)" in out
    assert "step-up: obtained approval" in out and "step-up: obtained justification" in out
    assert "logs.read auth-2026-11-22: allow (granted)" in out
    assert "obligation: notify ai-oversight" in out
    assert "result: refused: logs.read on kms-audit: deny (no_matching_rule)" in out


def test_agent_guard_from_a_bundle(examples):
    ex = next(e for e in examples if e.name == "ai_agent")
    p = run_guard(str(ex.bundle))
    assert p.returncode == 0, p.stdout + p.stderr
