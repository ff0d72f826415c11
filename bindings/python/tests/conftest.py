"""Fixtures: the workspace's `jitp` binary and the shipped examples, built."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def jitp_binary() -> Path:
    """The `jitp` binary built from this workspace (`cargo build --bin jitp`),
    or the one JITP_BIN names."""
    env = os.environ.get("JITP_BIN")
    path = Path(env) if env else ROOT / "target" / "debug" / "jitp"
    if not path.is_file():
        pytest.fail(f"no jitp binary at `{path}`: run `cargo build --bin jitp` or set JITP_BIN")
    return path


class Example:
    def __init__(self, name: str, policy: Path, bundle: Path, requests):
        self.name = name
        self.policy = policy
        self.bundle = bundle
        self.requests = requests


@pytest.fixture(scope="session")
def jitp_bin() -> Path:
    return jitp_binary()


@pytest.fixture(scope="session")
def examples(tmp_path_factory, jitp_bin):
    """Every example with a policy, compiled by `jitp build`."""
    out = tmp_path_factory.mktemp("bundles")
    found = []
    for d in sorted((ROOT / "examples").iterdir()):
        policy = d / "policy.jitp"
        if not policy.is_file():
            continue
        bundle = out / f"{d.name}.jitb"
        subprocess.run(
            [str(jitp_bin), "build", "--color", "never", "-o", str(bundle), str(policy)],
            check=True,
            capture_output=True,
        )
        requests = sorted((d / "requests").glob("*.json"))
        found.append(Example(d.name, policy, bundle, requests))
    assert len(found) >= 8, "expected the shipped examples"
    return found


def jitp_eval(jitp_bin: Path, bundle: Path, request: Path, explain: bool = False):
    """What `jitp eval` prints (stdout text), or None when it refuses the input."""
    args = [str(jitp_bin), "eval", "--bundle", str(bundle), "--request", str(request)]
    if explain:
        args += ["--explain", "--format", "json"]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        return None
    return p.stdout


def load_json(path: Path):
    return json.loads(path.read_text())
