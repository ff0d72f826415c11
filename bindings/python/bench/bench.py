"""Python decisions: jitp beside cedarpy on the architecture brief's workload.

The workload is `benches/decide.rs`'s: N task-scoped permits (one per
action) plus a risk guard; each request matches exactly one rule (the one
for action N/2). The Cedar policies are the same rules written in Cedar:

    permit(principal is Service, action == Action::"app.opI", resource is Resource)
    when { principal.team == "teamK" && resource.env == principal.env
           && context.task.name == "deploy"
           && context.task.started_at <= context.now
           && context.now < context.task.started_at + 3600
           && context.task.approvals >= 1 };
    forbid(principal, action, resource) when { context.risk >= 80 };

Cedar has no tasks: the task window (`ttl 1h`) is compared in epoch
seconds and the approvals are a count. Cedar is given every advantage the
API offers: a pre-parsed `PolicySet` and a pre-parsed `Entities` handle
(the jitp request carries its entities' properties and is read in full on
every call).

Run (after `pip install ./bindings/python cedarpy`):

    python bindings/python/bench/bench.py

Prints, per rule count, the best per-call time over several rounds of
jitp from a dict, from a JSON string and through `decide_many`, the same
JSON-text decision timed inside Rust in the same run (so the binding's
overhead is measured under the same machine load), cedarpy, and the
ratios.
"""

import importlib.metadata
import json
import sys
import tempfile
import time
from pathlib import Path

import jitp

SIZES = [10, 10_000]


def jitp_policy(n: int) -> str:
    s = (
        "package bench\n\nentity Service {\n  team: String\n  env: String\n}\n\n"
        "entity Resource {\n  env: String\n  owner: String\n}\n\ncontext {\n  risk: Int\n}\n\n"
    )
    s += "".join(f"action app.op{i} on Resource sensitivity medium\n" for i in range(n))
    s += "\ntask deploy {\n  ttl 1h\n"
    s += "".join(
        f"  permit Service to app.op{i} on Resource\n"
        f'    when principal.team == "team{i % 7}" and resource.env == principal.env\n'
        f'    require task.approvals >= 1 else "approval"\n'
        for i in range(n)
    )
    return s + "}\n\nforbid * when context.risk >= 80\n"


def jitp_request(i: int) -> str:
    return json.dumps(
        {
            "subject": {"type": "Service", "id": "deployer", "properties": {"team": f"team{i % 7}", "env": "prod"}},
            "action": {"name": f"app.op{i}"},
            "resource": {"type": "Resource", "id": "db", "properties": {"env": "prod", "owner": "payments"}},
            "context": {"risk": 10},
            "task": {"name": "deploy", "id": "run-1", "started_at": "2026-11-22T10:00:00Z", "approvals": [{"by": "alice"}]},
            "now": "2026-11-22T10:05:00Z",
        }
    )


def cedar_policies(n: int) -> str:
    rules = [
        f'permit(principal is Service, action == Action::"app.op{i}", resource is Resource)\n'
        f'when {{ principal.team == "team{i % 7}" && resource.env == principal.env'
        f' && context.task.name == "deploy"'
        f" && context.task.started_at <= context.now"
        f" && context.now < context.task.started_at + 3600"
        f" && context.task.approvals >= 1 }};\n"
        for i in range(n)
    ]
    rules.append("forbid(principal, action, resource) when { context.risk >= 80 };\n")
    return "".join(rules)


CEDAR_ENTITIES = [
    {"uid": {"type": "Service", "id": "deployer"}, "attrs": {"team": "", "env": "prod"}, "parents": []},
    {"uid": {"type": "Resource", "id": "db"}, "attrs": {"env": "prod", "owner": "payments"}, "parents": []},
]


def cedar_request(i: int) -> dict:
    return {
        "principal": 'Service::"deployer"',
        "action": f'Action::"app.op{i}"',
        "resource": 'Resource::"db"',
        "context": {
            "risk": 10,
            "now": 1795341900,  # 2026-11-22T10:05:00Z
            "task": {"name": "deploy", "id": "run-1", "started_at": 1795341600, "approvals": 1},
        },
    }


def best_per_call(f, budget_s: float = 1.0, rounds: int = 40) -> float:
    """Best mean seconds per call over `rounds` rounds of ~budget/rounds each."""
    n = 1
    while True:  # calibrate
        t = time.perf_counter()
        for _ in range(n):
            f()
        dt = time.perf_counter() - t
        if dt > budget_s / rounds / 4:
            break
        n *= 4
    n = max(1, int(n * (budget_s / rounds) / max(dt, 1e-9)))
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            f()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def fmt(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.2f} µs"
    return f"{s * 1e3:.2f} ms"


def main() -> int:
    try:
        import cedarpy
    except ImportError:
        print("cedarpy is not installed: pip install cedarpy", file=sys.stderr)
        return 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            path = Path(tmp) / f"bench{n}.jitp"
            path.write_text(jitp_policy(n))
            bundle = jitp.compile([path])
            text = jitp_request(n // 2)
            as_dict = json.loads(text)
            assert bundle.decide(text).allowed and bundle.decide(as_dict).allowed
            batch = [text] * 100

            policies = cedarpy.PolicySet.from_str(cedar_policies(n))
            team = f"team{(n // 2) % 7}"
            ents = [dict(e) for e in CEDAR_ENTITIES]
            ents[0] = {**ents[0], "attrs": {"team": team, "env": "prod"}}
            entities = cedarpy.Entities.from_json_str(json.dumps(ents))
            creq = cedar_request(n // 2)
            r = cedarpy.is_authorized(creq, policies, entities)
            assert r.decision == cedarpy.Decision.Allow, r

            t_dict = best_per_call(lambda: bundle.decide(as_dict))
            t_text = best_per_call(lambda: bundle.decide(text))
            t_many = best_per_call(lambda: bundle.decide_many(batch)) / len(batch)
            t_cedar = best_per_call(lambda: cedarpy.is_authorized(creq, policies, entities))
            # The same JSON-text decision in Rust, no Python in the loop,
            # measured now, under the same load.
            t_rust = min(bundle._rust_seconds_per_decision(text, 500) for _ in range(200))
            rows.append((n, t_dict, t_text, t_many, t_rust, t_cedar))
    print(f"python {sys.version.split()[0]}, jitp {jitp.__version__}, cedarpy {importlib.metadata.version('cedarpy')}")
    print(
        "| rules | jitp, dict | jitp, JSON string | jitp, decide_many (per request) "
        "| Rust, JSON string | overhead (JSON string − Rust) | cedarpy | cedarpy / jitp dict | cedarpy / jitp JSON |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, a, b, m, r, c in rows:
        print(
            f"| {n:,} | {fmt(a)} | {fmt(b)} | {fmt(m)} | {fmt(r)} | {fmt(b - r)} | {fmt(c)} "
            f"| {c / a:.0f}x | {c / b:.0f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
