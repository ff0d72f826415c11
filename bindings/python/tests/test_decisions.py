"""Decisions through Python are exactly `jitp eval`'s."""

import json
import threading

import jitp
import pytest

from conftest import jitp_eval


def test_every_example_request_matches_jitp_eval(examples, jitp_bin):
    total = 0
    for ex in examples:
        bundle = jitp.Bundle.from_file(ex.bundle)
        for req in ex.requests:
            want = jitp_eval(jitp_bin, ex.bundle, req)
            assert want is not None, f"jitp eval refused {req}"
            text = req.read_text()
            from_str = bundle.decide(text)
            from_dict = bundle.decide(json.loads(text))
            # The very text `jitp eval` prints.
            assert from_str.to_json() + "\n" == want, req
            assert from_dict.to_json() + "\n" == want, req
            assert from_str.to_dict() == json.loads(want), req
            total += 1
    assert total >= 50


def test_explain_matches_jitp_eval_explain_json(examples, jitp_bin):
    for ex in examples:
        bundle = jitp.Bundle.from_file(ex.bundle)
        for req in ex.requests:
            want = jitp_eval(jitp_bin, ex.bundle, req, explain=True)
            text = req.read_text()
            for d in (bundle.decide(text, explain=True), bundle.decide(json.loads(text), explain=True)):
                assert d.to_json() + "\n" == want, req
                assert d.to_dict() == json.loads(want), req
                # `jitp eval` explains no invalid request: nothing was evaluated.
                if d.reason == "invalid_request":
                    assert d.explanation is None
                else:
                    assert d.explanation == json.loads(want)["explanation"]


def test_decision_attributes(examples):
    ex = next(e for e in examples if e.name == "ai_agent")
    bundle = jitp.Bundle.from_file(ex.bundle)
    by_name = {r.name: r for r in ex.requests}

    allow = bundle.decide(by_name["allow-payment-record-with-approval.json"].read_text())
    assert allow.allowed is True
    assert allow.decision == "allow" and allow.reason == "granted"
    assert allow.rule == "agent-payments" and allow.task == "agent_investigation"
    assert allow.expires_at is not None and allow.expires_at.tzinfo is not None
    assert allow.expires_at.utcoffset().total_seconds() == 0
    assert allow.expires_at.isoformat() == "2026-11-22T14:30:00+00:00"
    assert allow.to_dict()["expires_at"] == "2026-11-22T14:30:00Z"
    assert {"kind": "notify", "target": "ai-oversight"} in allow.obligations
    assert allow.error is None and allow.needs == []

    step = bundle.decide(by_name["step_up-security-log-without-approval.json"].read_text())
    assert step.allowed is False and step.decision == "step_up"
    assert step.needs == ["approval", "justification"]
    assert step.obligations == []

    invalid = bundle.decide(by_name["deny-invalid_request-unknown-log-class.json"].read_text())
    assert invalid.decision == "deny" and invalid.reason == "invalid_request"
    assert invalid.error and "`" in invalid.error
    assert "Decision" in repr(invalid)


def test_decide_many_agrees_with_decide(examples):
    for ex in examples:
        bundle = jitp.Bundle.from_file(ex.bundle)
        texts = [r.read_text() for r in ex.requests]
        many = bundle.decide_many(texts)
        assert [d.to_dict() for d in many] == [bundle.decide(t).to_dict() for t in texts]
        assert [d.to_dict() for d in bundle.decide_many(iter(json.loads(t) for t in texts))] == [
            d.to_dict() for d in many
        ]


def test_eight_threads_agree_with_one(examples):
    work = []
    for ex in examples:
        bundle = jitp.Bundle.from_file(ex.bundle)
        for req in ex.requests:
            text = req.read_text()
            work.append((bundle, text, bundle.decide(text).to_json()))
    failures = []

    def run():
        for _ in range(50):
            for bundle, text, want in work:
                if bundle.decide(text).to_json() != want:
                    failures.append(text)
                if bundle.decide(json.loads(text)).to_json() != want:
                    failures.append(text)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_compile_gives_the_same_bundle_as_jitp_build(examples):
    for ex in examples:
        compiled = jitp.compile([ex.policy])
        loaded = jitp.Bundle.from_file(ex.bundle)
        assert compiled.package == loaded.package
        assert compiled.rule_count == loaded.rule_count
        for req in ex.requests:
            text = req.read_text()
            assert compiled.decide(text).to_json() == loaded.decide(text).to_json()
    # A single path and a directory work too.
    assert jitp.compile(examples[0].policy).package == jitp.compile(str(examples[0].policy.parent)).package


def test_decimal_amounts_are_exact(examples):
    """`decimal.Decimal` is read as its text; floats only when they are exact."""
    from decimal import Decimal

    ex = next(e for e in examples if e.name == "refund_case")
    bundle = jitp.Bundle.from_file(ex.bundle)
    req = json.loads((ex.policy.parent / "requests" / "allow-refund-case-customer.json").read_text())

    def with_amount(amount):
        r = json.loads(json.dumps(req))
        r["task"]["params"]["amount"] = amount
        return bundle.decide(r)

    assert with_amount(Decimal("129.90")).allowed
    assert with_amount(Decimal("500.000000")).allowed
    assert not with_amount(Decimal("500.000001")).allowed
    assert with_amount(129.9).allowed
    # More digits than the precision, or an exponent: refused, never rounded.
    for bad in (Decimal("1.0000001"), Decimal("1E+2"), 0.1 + 0.2):
        d = with_amount(bad)
        assert d.reason == "invalid_request" and "task.params.amount" in d.error, bad
