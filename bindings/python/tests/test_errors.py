"""Errors raise one of jitp.Error's subclasses with a located message;
nothing crashes the interpreter."""

import json
import math
import random
from datetime import datetime

import jitp
import pytest


@pytest.fixture(scope="module")
def agent(examples):
    ex = next(e for e in examples if e.name == "ai_agent")
    text = ex.requests[0].read_text()
    return jitp.Bundle.from_file(ex.bundle), json.loads(text), ex


def test_exception_hierarchy():
    for e in (jitp.BundleError, jitp.RequestError, jitp.CompileError):
        assert issubclass(e, jitp.Error)
    assert issubclass(jitp.Error, Exception)


def test_missing_bundle_file(tmp_path):
    with pytest.raises(jitp.BundleError, match="nope.jitb"):
        jitp.Bundle.from_file(tmp_path / "nope.jitb")


def test_corrupt_bundles_raise_never_crash(agent):
    bundle, _, ex = agent
    good = ex.bundle.read_bytes()
    assert jitp.Bundle.from_bytes(good).package == bundle.package
    cases = [b"", b"JITB", b"not a bundle at all"]
    cases += [good[:n] for n in (1, 8, 16, 24, len(good) // 3, len(good) // 2, len(good) - 1)]
    rng = random.Random(0x5EED)
    for _ in range(200):
        bad = bytearray(good)
        at = rng.randrange(len(bad))
        bad[at] ^= 1 << rng.randrange(8)
        cases.append(bytes(bad))
    for bad in cases:
        with pytest.raises(jitp.BundleError) as info:
            jitp.Bundle.from_bytes(bad)
        assert str(info.value)


def test_request_not_json(agent):
    bundle, _, _ = agent
    with pytest.raises(jitp.RequestError, match="not valid JSON"):
        bundle.decide("{nope")
    with pytest.raises(jitp.RequestError, match="a dict or a JSON string"):
        bundle.decide(42)
    with pytest.raises(jitp.RequestError, match="request 1"):
        bundle.decide_many(["{}", "{"])


def test_repeated_key_in_json_text_denies(agent):
    bundle, req, _ = agent
    text = json.dumps(req)[:-1] + ', "now": "2026-11-22T14:00:00Z"}'
    d = bundle.decide(text)
    assert d.reason == "invalid_request" and "now" in d.error


@pytest.mark.parametrize(
    "path,value,what",
    [
        (("context", "tags"), {1, 2}, "set"),
        (("context", "risk"), math.nan, "nan"),
        (("context", "risk"), math.inf, "inf"),
        (("context", "blob"), b"\x00", "bytes"),
        (("context", "when"), datetime(2026, 1, 1), "datetime"),
        (("subject", "properties", "scopes"), [1, object()], "object"),
        (("context", "risk"), 1 << 70, "64 bits"),
    ],
)
def test_non_json_values_raise_with_their_path(agent, path, value, what):
    bundle, req, _ = agent
    req = json.loads(json.dumps(req))
    node = req
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    with pytest.raises(jitp.RequestError) as info:
        bundle.decide(req)
    assert ".".join(path) in str(info.value)


def test_non_string_key_and_lone_surrogate(agent):
    bundle, req, _ = agent
    bad = dict(req, context={**req["context"], 3: "x"})
    with pytest.raises(jitp.RequestError, match="not a string"):
        bundle.decide(bad)
    bad = dict(req, context={**req["context"], "session_id": "\ud800"})
    with pytest.raises(jitp.RequestError, match="context.session_id"):
        bundle.decide(bad)


def test_self_containing_and_huge_requests(agent):
    bundle, req, _ = agent
    loop = dict(req)
    loop["context"] = dict(req["context"])
    loop["context"]["me"] = loop["context"]
    with pytest.raises(jitp.RequestError, match="deeper than"):
        bundle.decide(loop)
    big = dict(req, context={**req["context"], "pad": "x" * (2 << 20)})
    with pytest.raises(jitp.RequestError, match="larger than"):
        bundle.decide(big)
    with pytest.raises(jitp.RequestError, match="larger than"):
        bundle.decide(json.dumps(big))


def test_schema_errors_are_decided_not_raised(agent):
    bundle, req, _ = agent
    d = bundle.decide({})
    assert d.decision == "deny" and d.reason == "invalid_request" and d.error
    d = bundle.decide(dict(req, contxt={}))
    assert d.reason == "invalid_request" and "contxt" in d.error


def test_compile_errors_are_located(tmp_path):
    bad = tmp_path / "bad.jitp"
    bad.write_text("package p\n\npermit Nobody to x on Y\n")
    with pytest.raises(jitp.CompileError) as info:
        jitp.compile([bad])
    msg = str(info.value)
    assert "bad.jitp:3:8" in msg and "unknown type `Nobody`" in msg and "E0203" in msg
    with pytest.raises(jitp.CompileError, match="missing.jitp"):
        jitp.compile([tmp_path / "missing.jitp"])
