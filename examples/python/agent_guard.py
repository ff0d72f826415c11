"""An AI agent's tool-call guard: before every tool call the agent asks jitp.

The agent (a scripted stand-in for an LLM loop) calls tools; the guard turns
each call into a jitp request against the `acme.ai_agent` policy
(examples/ai_agent/policy.jitp) and

- runs the tool on `allow` (and honours the obligations: notify, audit);
- on `step_up`, obtains the missing evidence the decision `needs` (here a
  simulated human approval and a written justification) and asks again;
- refuses the call on `deny`, telling the agent why.

Run it from the repository root after `pip install ./bindings/python`:

    python examples/python/agent_guard.py [BUNDLE.jitb]

Without a bundle it compiles the policy in process (`jitp.compile`). It
prints one line per step and exits non-zero if the scripted run did not go
as expected.
"""

import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

import jitp

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-22T14:20:00Z"


class ToolRefused(Exception):
    """The guard refused a tool call."""


class Guard:
    """Asks jitp before each tool call; gathers evidence for step-ups."""

    def __init__(self, bundle: jitp.Bundle, approver: Callable[[str, Dict[str, Any]], Dict[str, Any]]):
        self.bundle = bundle
        self.approver = approver
        self.task = {
            "name": "agent_investigation",
            "id": "inv-311",
            "started_at": "2026-11-22T14:00:00Z",
            "approvals": [],
        }
        self.evidence: Dict[str, Any] = {}
        self.log: List[str] = []

    def request(self, action: str, resource: Dict[str, Any], risk: int) -> Dict[str, Any]:
        req = {
            "subject": {
                "type": "Agent",
                "id": "support-agent-7",
                "properties": {
                    "model": "acme-assist-2",
                    "operator": "support-tier2",
                    "scopes": ["tickets:read", "payments:read", "logs:read"],
                },
            },
            "action": {"name": action},
            "resource": resource,
            "context": {"session_id": "sess-9f2c", "risk": risk, "injection_suspected": False},
            "task": self.task,
            "now": NOW,
        }
        if self.evidence:
            req["evidence"] = dict(self.evidence)
        return req

    def call(self, action: str, resource: Dict[str, Any], tool: Callable[[], Any], risk: int = 15) -> Any:
        for attempt in range(3):
            d = self.bundle.decide(self.request(action, resource, risk))
            self.log.append(f"{action} {resource['id']}: {d.decision} ({d.reason})")
            if d.allowed:
                for o in d.obligations:
                    self.log.append(f"  obligation: {o['kind']} {o['target']}")
                if d.expires_at is not None:
                    self.log.append(f"  grant expires at {d.expires_at.isoformat()}")
                return tool()
            if d.decision == "step_up" and attempt < 2:
                # Obtain exactly what is missing, then ask again.
                for need in d.needs:
                    got = self.approver(need, resource)
                    self.log.append(f"  step-up: obtained {need}")
                    if need == "approval":
                        self.task = {**self.task, "approvals": self.task["approvals"] + [got]}
                    else:
                        self.evidence.update(got)
                continue
            raise ToolRefused(f"{action} on {resource['id']}: {d.decision} ({d.reason}{': ' + d.error if d.error else ''})")
        raise ToolRefused(f"{action}: still not allowed after step-up")


def simulated_human(need: str, resource: Dict[str, Any]) -> Dict[str, Any]:
    """Stands in for a pager/Slack approval flow and the agent's write-up."""
    if need == "approval":
        return {"by": "dana"}
    if need == "justification":
        return {"justification": f"investigating failed logins in {resource['id']}"}
    raise ToolRefused(f"cannot obtain `{need}`")


def main() -> int:
    if len(sys.argv) > 1:
        bundle = jitp.Bundle.from_file(sys.argv[1])
    else:
        bundle = jitp.compile([ROOT / "examples" / "ai_agent" / "policy.jitp"])
    guard = Guard(bundle, simulated_human)
    results = []

    ticket = {"type": "Ticket", "id": "T-1042", "properties": {"project": "support", "labels": ["login"]}}
    results.append(guard.call("tickets.read_metadata", ticket, lambda: "ticket metadata"))

    log = {"type": "SecurityLog", "id": "auth-2026-11-22", "properties": {"system": "sso", "classification": "restricted"}}
    results.append(guard.call("logs.read", log, lambda: "42 failed logins"))

    secret = {"type": "SecurityLog", "id": "kms-audit", "properties": {"system": "kms", "classification": "secret"}}
    try:
        guard.call("logs.read", secret, lambda: "never runs")
        results.append("secret log read")
    except ToolRefused as e:
        results.append(f"refused: {e}")

    for line in guard.log:
        print(line)
    for r in results:
        print("result:", r)
    expected = ["ticket metadata", "42 failed logins"]
    if results[:2] != expected or not results[2].startswith("refused:"):
        print("unexpected run", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
