//! Requests as attackers write them: repeated keys, look-alike
//! identities, IPv4-mapped IPv6 addresses, hostile nesting, huge sets and
//! huge keys. Each is refused, canonicalised or bounded; none allows what
//! the plain request would not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{examples_dir, jitp};
use jitp_runtime::decision::{DecisionRecord, Effect, Reason};
use jitp_runtime::{Bundle, RequestErrorKind};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ helpers

fn compile(text: &str) -> Bundle {
    jitp::driver::compile_text("test.jitp", text).unwrap_or_else(|e| panic!("{e}"))
}

fn rotate() -> Bundle {
    let text = std::fs::read_to_string(examples_dir().join("rotate_secrets/policy.jitp")).unwrap();
    compile(&text)
}

/// The example request that `rotate_secrets` allows, as text.
fn rotate_text() -> String {
    std::fs::read_to_string(
        examples_dir().join("rotate_secrets/requests/allow-rotate-in-change-window.json"),
    )
    .unwrap()
}

fn rotate_request() -> Value {
    serde_json::from_str(&rotate_text()).unwrap()
}

fn outcome(d: &DecisionRecord) -> (Effect, Reason) {
    (d.decision, d.reason)
}

/// Asserts `request` is refused as invalid with an error containing
/// `mentions`; returns the error.
fn invalid(b: &Bundle, request: &str, mentions: &str) -> String {
    let d = b.decide_json(request);
    assert_eq!(
        outcome(&d),
        (Effect::Deny, Reason::InvalidRequest),
        "{request}"
    );
    let e = d.error.unwrap_or_default();
    assert!(e.contains(mentions), "`{e}` does not mention `{mentions}`");
    e
}

/// Replaces `from` (which must occur once) in `text`.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "`{from}` in {text}");
    text.replacen(from, to, 1)
}

// ----------------------------------------------------------- repeated keys

#[test]
fn a_repeated_key_at_any_level_makes_the_request_invalid() {
    let b = rotate();
    let text = rotate_text();
    assert_eq!(
        outcome(&b.decide_json(&text)),
        (Effect::Allow, Reason::Granted)
    );
    // A proxy reading the first `risk` sees 99 (and would deny); the last
    // one, 10, is what a last-wins reader would have allowed.
    let risk = replace_once(&text, "\"risk\": 10,", "\"risk\": 99, \"risk\": 10,");
    invalid(&b, &risk, "duplicate key `risk` in `context`");
    let e = b.bind_str(&risk).unwrap_err();
    assert_eq!(
        (e.kind, e.path.as_str()),
        (RequestErrorKind::DuplicateKey, "context.risk")
    );
    // two `context` objects, the first one forbidden
    let context = replace_once(
        &text,
        "\"context\": {",
        "\"context\": {\"risk\": 99, \"source_ip\": \"10.1.2.3\"}, \"context\": {",
    );
    invalid(&b, &context, "duplicate key `context` in the request");
    // two `now`s, the first one after the grant expired
    let now = replace_once(
        &text,
        "\"now\": ",
        "\"now\": \"2026-11-22T12:00:00Z\", \"now\": ",
    );
    invalid(&b, &now, "duplicate key `now` in the request");
    assert_eq!(b.bind_str(&now).unwrap_err().path, "now");
    // deep inside: an enum in a record, an approval in an array
    let status = replace_once(
        &text,
        "\"status\": \"approved\"",
        "\"status\": \"closed\", \"status\": \"approved\"",
    );
    invalid(&b, &status, "duplicate key `status` in `context.ticket`");
    let by = replace_once(
        &text,
        "{\"by\": \"alice\"}",
        "{\"by\": \"alice\", \"by\": \"deploy-bot\"}",
    );
    let e = invalid(&b, &by, "duplicate key `by` in `task.approvals[0]`");
    assert_eq!(b.bind_str(&by).unwrap_err().path, "task.approvals[0].by");
    // the same key spelled with an escape is the same key
    let escaped = replace_once(&text, "\"risk\": 10,", "\"risk\": 10, \"ri\\u0073k\": 10,");
    invalid(&b, &escaped, "duplicate key `risk` in `context`");
    assert!(!e.is_empty());
}

#[test]
fn jitp_eval_keeps_repeated_keys_for_the_runtime_to_refuse() {
    // `jitp eval` adds a missing `now`; it must not do so by re-serialising
    // a parsed value, which would keep one `risk` silently.
    let dir = std::env::temp_dir().join(format!("jitp-requests-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut v = rotate_request();
    v.as_object_mut().unwrap().remove("now");
    let text = replace_once(
        &serde_json::to_string(&v).unwrap(),
        "\"risk\":10",
        "\"risk\":99,\"risk\":10",
    );
    let req = dir.join("request.json");
    std::fs::write(&req, text).unwrap();
    let policy = examples_dir().join("rotate_secrets");
    let out = jitp()
        .args([
            "eval",
            "--policy",
            policy.to_str().unwrap(),
            "--request",
            req.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("duplicate key `risk` in `context`"), "{all}");
    assert!(all.contains("invalid_request"), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

const SUITE_POLICY: &str = r#"package demo

entity Bot { team: String }
entity Doc { secret: Bool }

context { risk: Int }

action docs.read on Doc sensitivity low

@id("read")
@standing("reads are low sensitivity")
permit Bot to docs.read on Doc when context.risk < 50
"#;

#[test]
fn jitp_test_refuses_a_suite_that_repeats_a_key_with_its_position() {
    let dir = std::env::temp_dir().join(format!("jitp-requests-suite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::write(dir.join("policy.jitp"), SUITE_POLICY).unwrap();
    let suite = r#"{
  "now": "2026-11-22T10:00:00Z",
  "cases": [
    {
      "name": "low risk reads",
      "request": {
        "subject": {"type": "Bot", "id": "b", "properties": {"team": "x"}},
        "action": {"name": "docs.read"},
        "resource": {"type": "Doc", "id": "d", "properties": {"secret": false}},
        "context": {"risk": 99,
                    "risk": 10}
      },
      "expect": {"decision": "allow"}
    }
  ]
}
"#;
    std::fs::write(dir.join("tests/dup.test.json"), suite).unwrap();
    let out = jitp()
        .args(["test", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("duplicate key `risk` in `cases[0].request.context`"),
        "{stdout}"
    );
    // the second `risk` is on line 11
    assert!(stdout.contains("dup.test.json:11:"), "{stdout}");
    // without the repeat, the same suite passes
    std::fs::write(
        dir.join("tests/dup.test.json"),
        suite.replace("\"risk\": 99,\n", ""),
    )
    .unwrap();
    let out = jitp()
        .args(["test", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// --------------------------------------------------------------- identities

/// The `incident_access` break-glass grant of `rotate_secrets`: it needs
/// two peer approvals.
fn breakglass(principal: &str, approvers: &[&str]) -> String {
    let mut v = rotate_request();
    v["subject"]["id"] = principal.into();
    v["context"]["ticket"]["status"] = "open".into();
    v["task"]["name"] = "incident_access".into();
    v["task"]["approvals"] = approvers.iter().map(|a| json!({ "by": a })).collect();
    v.to_string()
}

const NFC_BO: &str = "b\u{f6}"; // "bö", o with diaeresis as one code point
const NFD_BO: &str = "bo\u{308}"; // "bö", o and a combining diaeresis

#[test]
fn one_person_is_one_approver_however_the_name_is_spelled() {
    let b = rotate();
    let two = |approvers: &[&str]| outcome(&b.decide_json(&breakglass("deploy-bot", approvers)));
    let granted = (Effect::Allow, Reason::Granted);
    let short = (Effect::StepUp, Reason::RequirementsMissing);
    assert_eq!(two(&["alice", "bob"]), granted);
    assert_eq!(two(&["bob", "bob"]), short);
    // case: one approver (see docs/language.md, Identities)
    assert_eq!(two(&["bob", "BOB"]), short);
    assert_eq!(two(&["bob", "Bob"]), short);
    // NFC and NFD spellings of one name
    assert_eq!(two(&[NFC_BO, NFD_BO]), short);
    assert_eq!(two(&[NFC_BO, "alice"]), granted);
    // spellings that are refused outright
    for (variant, why) in [
        ("bob ", "ends with whitespace"),
        (" bob", "starts with whitespace"),
        ("bob\u{0}", "U+0000, a control character"),
        ("bob\n", "ends with whitespace"),
        ("b\u{200b}ob", "U+200B, an invisible character"),
        ("bo\u{200d}b", "U+200D, an invisible character"),
        ("\u{202e}bob", "U+202E, an invisible character"),
        ("bob\u{feff}", "U+FEFF, an invisible character"),
        ("bo\u{fe0f}b", "U+FE0F, an invisible character"),
        ("b\u{a0}ob", "U+00A0, whitespace other than a space"),
        ("", "is empty"),
    ] {
        let e = invalid(&b, &breakglass("deploy-bot", &["bob", variant]), why);
        assert!(
            e.starts_with("`task.approvals[1].by` is not a valid identity"),
            "{variant:?}: {e}"
        );
    }
}

#[test]
fn a_principal_cannot_approve_itself_under_a_variant_of_its_id() {
    let b = rotate();
    let two = |principal: &str, approvers: &[&str]| {
        outcome(&b.decide_json(&breakglass(principal, approvers)))
    };
    let short = (Effect::StepUp, Reason::RequirementsMissing);
    assert_eq!(
        two("deploy-bot", &["alice", "carol"]),
        (Effect::Allow, Reason::Granted)
    );
    assert_eq!(two("deploy-bot", &["alice", "deploy-bot"]), short);
    assert_eq!(two("deploy-bot", &["alice", "Deploy-Bot"]), short);
    assert_eq!(two(NFC_BO, &["alice", NFD_BO]), short);
    assert_eq!(two(NFD_BO, &["alice", NFC_BO]), short);
    invalid(
        &b,
        &breakglass("deploy-bot", &["alice", "deploy-bot\u{0}"]),
        "`task.approvals[1].by` is not a valid identity",
    );
    invalid(
        &b,
        &breakglass("deploy-bot\u{200b}", &["alice", "deploy-bot"]),
        "`subject.id` is not a valid identity: it contains U+200B",
    );
}

#[test]
fn identities_compare_to_literals_in_their_canonical_form() {
    let b = compile(&format!(
        r#"package ids

entity User {{ }}
entity Doc {{ }}

action doc.read on Doc sensitivity low

@standing("test")
permit User to doc.read on Doc when principal.id == "{NFC_BO}" and resource.id == "r{NFC_BO}"
"#
    ));
    let req = |principal: &str, resource: &str| {
        json!({
            "subject": {"type": "User", "id": principal},
            "action": {"name": "doc.read"},
            "resource": {"type": "Doc", "id": resource},
            "now": "2026-11-22T10:00:00Z"
        })
        .to_string()
    };
    let allow = (Effect::Allow, Reason::Granted);
    assert_eq!(
        outcome(&b.decide_json(&req(NFC_BO, &format!("r{NFC_BO}")))),
        allow
    );
    assert_eq!(
        outcome(&b.decide_json(&req(NFD_BO, &format!("r{NFD_BO}")))),
        allow
    );
    // case-sensitive: another spelling is another principal
    assert_eq!(
        outcome(&b.decide_json(&req("B\u{d6}", &format!("r{NFC_BO}")))),
        (Effect::Deny, Reason::NoMatchingRule)
    );
    invalid(
        &b,
        &req(NFC_BO, &format!("r{NFC_BO} ")),
        "`resource.id` is not a valid identity: it ends with whitespace",
    );
    invalid(
        &b,
        &req("", "x"),
        "`subject.id` is not a valid identity: it is empty",
    );
}

// ------------------------------------------------------ IPv4-mapped IPv6

const NET_POLICY: &str = r#"package nets

use std.net

entity Host { }
entity Svc { }

context {
  ip: Ip
  allowed: Set<Net>
}

action svc.call on Svc sensitivity low

@standing("test")
permit Host to svc.call on Svc when context.ip in context.allowed

forbid * when context.ip in 203.0.113.0/24
forbid * when net.is_loopback(context.ip)
forbid * when context.ip == ::ffff:198.51.100.1
forbid * when context.ip in ::ffff:192.0.2.0/120
"#;

fn call(ip: &str, allowed: Option<&[&str]>) -> String {
    let mut v = json!({
        "subject": {"type": "Host", "id": "h1"},
        "action": {"name": "svc.call"},
        "resource": {"type": "Svc", "id": "s1"},
        "context": {"ip": ip, "allowed": ["0.0.0.0/0", "::/0"]},
        "now": "2026-11-22T10:00:00Z"
    });
    if let Some(nets) = allowed {
        v["context"]["allowed"] = json!(nets);
    }
    v.to_string()
}

#[test]
fn a_mapped_ipv6_address_is_its_ipv4_address() {
    let b = compile(NET_POLICY);
    let decide = |ip: &str, allowed: Option<&[&str]>| outcome(&b.decide_json(&call(ip, allowed)));
    let allow = (Effect::Allow, Reason::Granted);
    let forbidden = (Effect::Deny, Reason::Forbidden);
    assert_eq!(decide("198.51.100.7", None), allow);
    assert_eq!(decide("::ffff:198.51.100.7", None), allow);
    // a deny list on an IPv4 net catches the mapped spelling
    assert_eq!(decide("203.0.113.7", None), forbidden);
    assert_eq!(decide("::ffff:203.0.113.7", None), forbidden);
    assert_eq!(decide("::FFFF:CB00:7107", None), forbidden);
    // loopback, both spellings
    assert_eq!(decide("127.0.0.1", None), forbidden);
    assert_eq!(decide("::ffff:127.0.0.1", None), forbidden);
    assert_eq!(decide("::1", None), forbidden);
    // a mapped literal in the policy is the IPv4 address, and a mapped net
    // the IPv4 net: both catch either spelling
    assert_eq!(decide("198.51.100.1", None), forbidden);
    assert_eq!(decide("::ffff:198.51.100.1", None), forbidden);
    assert_eq!(decide("192.0.2.9", None), forbidden);
    assert_eq!(decide("::ffff:192.0.2.9", None), forbidden);
    assert_eq!(decide("192.0.3.9", None), allow);
    // request nets: mapped nets are IPv4 nets
    let allowed: &[&str] = &["::ffff:10.0.0.0/104"];
    assert_eq!(decide("10.1.2.3", Some(allowed)), allow);
    assert_eq!(decide("::ffff:10.1.2.3", Some(allowed)), allow);
    assert_eq!(
        decide("11.1.2.3", Some(allowed)),
        (Effect::Deny, Reason::NoMatchingRule)
    );
    let allowed: &[&str] = &["10.0.0.0/8"];
    assert_eq!(decide("::ffff:10.1.2.3", Some(allowed)), allow);
    assert_eq!(
        decide("::ffff:11.1.2.3", Some(allowed)),
        (Effect::Deny, Reason::NoMatchingRule)
    );
    // an IPv6 net holds no IPv4 address, mapped or not
    assert_eq!(
        decide("::ffff:10.1.2.3", Some(&["::/0"])),
        (Effect::Deny, Reason::NoMatchingRule)
    );
    invalid(
        &b,
        &call("10.0.0.1", Some(&["::ffff:10.0.0.1/104"])),
        "`context.allowed[0]`: `::ffff:10.0.0.1/104` has host bits set",
    );
}

// ---------------------------------------------------------------- nesting

#[test]
fn a_value_nested_100000_deep_is_refused_without_overflowing_the_stack() {
    let b = rotate();
    // Built iteratively; torn down iteratively too (a `Value`'s drop is
    // recursive and would overflow on its own).
    let mut v = Value::Null;
    for _ in 0..100_000 {
        v = Value::Array(vec![v]);
    }
    let mut request = rotate_request();
    request["context"]["deep"] = v;
    let e = b.bind(&request).unwrap_err();
    assert_eq!(
        e.kind,
        RequestErrorKind::TooDeep {
            limit: jitp_runtime::MAX_REQUEST_DEPTH
        }
    );
    let mut rest = request["context"]
        .as_object_mut()
        .unwrap()
        .remove("deep")
        .unwrap();
    while let Value::Array(mut items) = rest {
        rest = items.pop().unwrap_or(Value::Null);
    }
    // the request without it still binds
    b.bind(&request).unwrap();
}

// ------------------------------------------------------------------- sets

const SET_POLICY: &str = r#"package sets

entity User { }
entity Doc { }

context {
  a: Set<String>
  b: Set<String>
}

action doc.read on Doc sensitivity low
action doc.write on Doc sensitivity low
action doc.list on Doc sensitivity low
action doc.peek on Doc sensitivity low

@standing("test")
permit User to doc.read on Doc when context.a.contains_any(context.b)
@standing("test")
permit User to doc.write on Doc when context.a.contains_all(context.b)
@standing("test")
permit User to doc.list on Doc when context.a == context.b
@standing("test")
permit User to doc.peek on Doc when "x39999" in context.b and context.b.contains("y0")
"#;

fn sets_request(action: &str, a: &[String], b: &[String]) -> String {
    json!({
        "subject": {"type": "User", "id": "u"},
        "action": {"name": action},
        "resource": {"type": "Doc", "id": "d"},
        "context": {"a": a, "b": b},
        "now": "2026-11-22T10:00:00Z"
    })
    .to_string()
}

#[test]
fn set_operations_on_two_40000_element_request_sets_are_not_quadratic() {
    const N: usize = 40_000;
    let bundle = compile(SET_POLICY);
    let xs: Vec<String> = (0..N).map(|i| format!("x{i}")).collect();
    let ys: Vec<String> = (0..N).map(|i| format!("y{i}")).collect();
    // the same elements in another order, and a set sharing none
    let mut xs_rev = xs.clone();
    xs_rev.reverse();
    let cases = [
        ("doc.read", &xs, &ys, Effect::Deny),
        ("doc.read", &xs, &xs_rev, Effect::Allow),
        ("doc.write", &xs, &xs_rev, Effect::Allow),
        ("doc.write", &xs, &ys, Effect::Deny),
        ("doc.list", &xs, &xs_rev, Effect::Allow),
        ("doc.list", &xs, &ys, Effect::Deny),
        ("doc.peek", &xs, &ys, Effect::Deny),
        ("doc.peek", &ys, &xs, Effect::Deny),
    ];
    for (action, a, b, effect) in cases {
        let text = sets_request(action, a, b);
        assert!(
            text.len() < jitp_runtime::MAX_REQUEST_BYTES,
            "{}",
            text.len()
        );
        let start = Instant::now();
        let d = bundle.decide_json(&text);
        let took = start.elapsed();
        assert_eq!(d.decision, effect, "{action}: {d:?}");
        // the quadratic version took 15 s in release; this is debug
        assert!(
            took < Duration::from_secs(5),
            "{action} on two {N}-element sets took {took:?}"
        );
    }
    // membership where it holds, in a large set
    let mut b = xs.clone();
    b.push("y0".into());
    assert_eq!(
        bundle
            .decide_json(&sets_request("doc.peek", &ys, &b))
            .decision,
        Effect::Allow
    );
}

// ------------------------------------------------------------- huge input

#[test]
fn messages_quote_at_most_64_characters_of_a_huge_key_or_value() {
    let b = rotate();
    let key = "k".repeat(100_000);
    let clipped = format!("{}…", "k".repeat(64));
    let mut v = rotate_request();
    v["context"][&key] = 1.into();
    let e = invalid(
        &b,
        &v.to_string(),
        &format!("unknown field `context.{clipped}`"),
    );
    assert!(e.len() < 200, "{} bytes", e.len());
    let err = b.bind(&v).unwrap_err();
    assert_eq!(err.path, format!("context.{clipped}"));
    // at the top, in properties, in a task, in an approval
    for edit in [
        (|v: &mut Value, k: &str| v[k] = 1.into()) as fn(&mut Value, &str),
        |v, k| v["subject"]["properties"][k] = 1.into(),
        |v, k| v["task"][k] = 1.into(),
        |v, k| v["task"]["approvals"][0][k] = 1.into(),
        |v, k| v["action"][k] = 1.into(),
    ] {
        let mut v = rotate_request();
        edit(&mut v, &key);
        let e = invalid(&b, &v.to_string(), &clipped);
        assert!(e.len() < 200, "{} bytes: {}", e.len(), &e[..200]);
    }
    // a repeated huge key
    let text = replace_once(
        &rotate_text(),
        "\"risk\": 10,",
        &format!("\"{key}\": 1, \"{key}\": 2, \"risk\": 10,"),
    );
    let e = invalid(
        &b,
        &text,
        &format!("duplicate key `{clipped}` in `context`"),
    );
    assert!(e.len() < 200, "{} bytes", e.len());
    // huge values: an enum variant, a time, an address, a name
    let value = "v".repeat(100_000);
    for edit in [
        (|v: &mut Value, s: &str| v["context"]["ticket"]["status"] = s.into())
            as fn(&mut Value, &str),
        |v, s| v["now"] = s.into(),
        |v, s| v["context"]["source_ip"] = s.into(),
        |v, s| v["action"]["name"] = s.into(),
        |v, s| v["subject"]["type"] = s.into(),
        |v, s| v["task"]["name"] = s.into(),
    ] {
        let mut v = rotate_request();
        edit(&mut v, &value);
        let e = invalid(&b, &v.to_string(), &format!("{}…", "v".repeat(64)));
        assert!(e.len() < 300, "{} bytes: {}", e.len(), &e[..300]);
    }
}

/// `-0` is the integer zero (serde reads it as a float to keep the sign);
/// any other fraction is not an integer.
#[test]
fn negative_zero_is_zero_and_fractions_are_refused() {
    let b = compile(
        "entity S {}\nentity R {}\ncontext { risk: Int }\naction a.go on R\n@standing(\"t\")\npermit S to a.go on R when context.risk == 0\n",
    );
    let request = |risk: &str| {
        format!(
            r#"{{"subject": {{"type": "S", "id": "s"}}, "action": {{"name": "a.go"}},
                "resource": {{"type": "R", "id": "r"}}, "context": {{"risk": {risk}}},
                "now": "2026-11-22T08:00:00Z"}}"#
        )
    };
    assert_eq!(b.decide_json(&request("-0")).decision, Effect::Allow);
    assert_eq!(b.decide_json(&request("0")).decision, Effect::Allow);
    let value: Value = serde_json::from_str(&request("-0")).unwrap();
    assert!(b.bind(&value).is_ok(), "the same through bind(&Value)");
    for bad in ["0.5", "1e3", "-1.25"] {
        invalid(&b, &request(bad), "context.risk");
    }
}

/// A misspelt request field gets a did-you-mean, like suite keys do; a
/// huge one is not compared (the cost stays bounded) and is clipped.
#[test]
fn misspelt_fields_get_a_suggestion() {
    let b = rotate();
    let text = rotate_text();
    let e = invalid(
        &b,
        &replace_once(&text, "\"context\"", "\"contxt\""),
        "contxt",
    );
    assert!(e.ends_with("did you mean `context`?"), "{e}");
    let e = invalid(
        &b,
        &replace_once(&text, "\"status\"", "\"statsu\""),
        "statsu",
    );
    assert!(e.ends_with("did you mean `status`?"), "{e}");
    let huge = "k".repeat(100_000);
    let e = invalid(
        &b,
        &replace_once(&text, "\"status\"", &format!("\"{huge}\"")),
        "unknown field",
    );
    assert!(!e.contains("did you mean") && e.len() < 400, "{e}");
}

// ------------------------------------------------------- batch defaults

/// Every example request, bound as an AuthZEN batch item: each split of
/// its members between the item and the batch's defaults (and defaults
/// that also carry a wrong value for each member the item sets, which the
/// item's must replace whole) binds as the combined request does.
#[test]
fn batch_items_bind_as_their_combined_request() {
    use jitp_runtime::{Json, JsonObject};
    let mut checked = 0;
    for dir in std::fs::read_dir(examples_dir()).unwrap() {
        let dir = dir.unwrap().path();
        let (Ok(policy), Ok(requests)) = (
            std::fs::read_to_string(dir.join("policy.jitp")),
            std::fs::read_dir(dir.join("requests")),
        ) else {
            continue;
        };
        let b = compile(&policy);
        for r in requests {
            let text = std::fs::read_to_string(r.unwrap().path()).unwrap();
            let whole = Json::parse(&text, 32).unwrap();
            let expected = match b.bind_json(&whole) {
                Ok(bound) => Ok(b.decide(&bound).to_record()),
                Err(e) => Err(e.to_string()),
            };
            let members = whole.as_object().unwrap().entries().to_vec();
            for mask in 0..(1u32 << members.len()) {
                let mut item = JsonObject::new();
                let mut defaults = JsonObject::new();
                for (i, (k, v)) in members.iter().enumerate() {
                    if mask & (1 << i) == 0 {
                        item.insert(k.clone(), v.clone());
                        defaults.insert(k.clone(), Json::Str("replaced whole".into()));
                    } else {
                        defaults.insert(k.clone(), v.clone());
                    }
                }
                let got = match b.bind_json_with_defaults(&Json::Obj(item), &defaults) {
                    Ok(bound) => Ok(b.decide(&bound).to_record()),
                    Err(e) => Err(e.to_string()),
                };
                assert_eq!(
                    got,
                    expected,
                    "{} with mask {mask:b}: {text}",
                    dir.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "{checked}");
}

/// The defaults count toward the request's depth: a default member is one
/// level below the request.
#[test]
fn batch_defaults_are_held_to_the_request_depth() {
    use jitp_runtime::{Json, JsonObject};
    let b = rotate();
    let text = rotate_text();
    let whole = Json::parse(&text, 32).unwrap();
    let mut defaults = JsonObject::new();
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let at_limit = nested(31);
    let over = nested(32);
    defaults.insert("context", Json::parse(&at_limit, 64).unwrap());
    let Json::Obj(mut members) = whole else {
        panic!("an object")
    };
    let context = members.remove("context").unwrap();
    let bind = |members: &JsonObject<'_>, defaults: &JsonObject<'_>| {
        b.bind_json_with_defaults(&Json::Obj(members.clone()), defaults)
    };
    // Not deeper than the limit: bound (and refused as the wrong type).
    let e = bind(&members, &defaults).unwrap_err();
    assert_ne!(e.kind, RequestErrorKind::TooDeep { limit: 32 }, "{e}");
    defaults.insert("context", Json::parse(&over, 64).unwrap());
    let e = bind(&members, &defaults).unwrap_err();
    assert_eq!(e.kind, RequestErrorKind::TooDeep { limit: 32 });
    // A default the item replaces is not part of the request.
    members.insert("context", context);
    let d = b.decide(&bind(&members, &defaults).unwrap());
    assert_eq!(outcome(&d.to_record()), (Effect::Allow, Reason::Granted));
}

/// A batch item and defaults that both carry tens of thousands of keys
/// are refused in linear time, not by comparing every key with every key.
#[test]
fn batch_items_with_many_keys_are_refused_without_a_quadratic_search() {
    use jitp_runtime::{Json, JsonObject};
    let b = rotate();
    let mut item = JsonObject::new();
    let mut defaults = JsonObject::new();
    for i in 0..30_000 {
        item.insert(format!("i{i}"), Json::Int(i));
        defaults.insert(format!("d{i}"), Json::Int(i));
    }
    let start = Instant::now();
    let e = b
        .bind_json_with_defaults(&Json::Obj(item), &defaults)
        .unwrap_err();
    assert_eq!(e.kind, RequestErrorKind::UnknownField, "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}
