//! The bodies of jitp's fuzz targets, shared by the `fuzz_targets/*.rs`
//! binaries (one line each) so every target is also callable from a plain
//! program or test. See `docs/fuzzing.md`.
//!
//! Each function panics only when it finds a bug: a panic inside jitp, or
//! a property of jitp's documented behaviour that does not hold.

use jitp_runtime::decision::{Effect, Reason};
use jitp_runtime::format::{checksum, FORMAT_VERSION, HEADER_LEN, MAGIC};
use jitp_runtime::{Bundle, DecisionRecord};
use std::sync::OnceLock;

pub mod mutant;

/// A bundle fixture of the runtime's tests and the example requests that
/// go with it.
pub struct Fixture {
    /// The fixture's name (`examples/<name>/` for the example policies).
    pub name: &'static str,
    /// The bundle's bytes.
    pub bytes: &'static [u8],
    /// (file name, JSON text) of each request for this bundle.
    pub requests: &'static [(&'static str, &'static str)],
}

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));

/// A fixture, loaded, with the decision of each of its requests.
pub struct Loaded {
    /// The fixture.
    pub fixture: &'static Fixture,
    /// The loaded bundle.
    pub bundle: Bundle,
    /// The decision of each request of [`Fixture::requests`], in order.
    pub decisions: Vec<DecisionRecord>,
}

/// Every fixture, loaded once per process.
pub fn loaded() -> &'static [Loaded] {
    static LOADED: OnceLock<Vec<Loaded>> = OnceLock::new();
    LOADED.get_or_init(|| {
        FIXTURES
            .iter()
            .map(|fixture| {
                let bundle = Bundle::from_bytes(fixture.bytes).unwrap_or_else(|e| {
                    panic!(
                        "fixture `{}` does not load ({e}): regenerate the fixtures",
                        fixture.name
                    )
                });
                let decisions = fixture
                    .requests
                    .iter()
                    .map(|(_, text)| bundle.decide_json(text))
                    .collect();
                Loaded {
                    fixture,
                    bundle,
                    decisions,
                }
            })
            .collect()
    })
}

/// Every example request of every fixture.
pub fn all_requests() -> impl Iterator<Item = &'static str> {
    FIXTURES
        .iter()
        .flat_map(|f| f.requests.iter().map(|(_, text)| *text))
}

/// jitp's message style: lowercase start, no trailing period.
fn check_message(what: &str, message: &str) {
    assert!(!message.is_empty(), "{what}: empty error message");
    assert!(
        !message.starts_with(|c: char| c.is_uppercase()),
        "{what}: message starts with a capital: {message:?}"
    );
    assert!(
        !message.ends_with('.'),
        "{what}: message ends with a period: {message:?}"
    );
}

/// Decides `text` both ways the API offers and checks they agree: an
/// unbindable request is `deny` / `invalid_request` with an error, a bound
/// one decides as `decide_json` says, and its explanation agrees.
pub fn decide_checked(bundle: &Bundle, text: &str) -> DecisionRecord {
    let record = bundle.decide_json(text);
    match bundle.bind_str(text) {
        Err(e) => {
            check_message("request error", e.message());
            assert_eq!(
                (record.decision, record.reason),
                (Effect::Deny, Reason::InvalidRequest),
                "an unbindable request ({e}) did not decide deny/invalid_request"
            );
            assert!(
                record.error.is_some(),
                "invalid request decided without an error"
            );
        }
        Ok(bound) => {
            let decision = bundle.decide(&bound);
            let direct = decision.to_record();
            assert_eq!(direct, record, "decide and decide_json disagree");
            assert_ne!(
                record.reason,
                Reason::InvalidRequest,
                "a request that binds decided invalid_request"
            );
            if record.decision == Effect::Allow {
                assert_eq!(record.reason, Reason::Granted, "an allow not granted");
                assert!(record.error.is_none(), "an allow with an evaluation error");
            }
            let explanation = bundle.explain(&bound);
            assert_eq!(
                explanation.decision, record,
                "explain disagrees with decide"
            );
            let _ = decision.to_json();
        }
    }
    record
}

/// Everything a loaded bundle offers besides deciding: accessors and both
/// disassemblies. None of it may panic, whatever the bundle.
pub fn exercise_bundle(bundle: &Bundle) {
    let _ = bundle.name();
    assert_eq!(bundle.rule_ids().count(), bundle.rule_count());
    let _ = (bundle.action_count(), bundle.task_count());
    assert_eq!(bundle.revision(), format!("{:016x}", bundle.checksum()));
    let _ = bundle.sources().count();
    let _ = bundle.disassemble(None);
    let source = |file: u32| {
        bundle
            .sources()
            .nth(file as usize)
            .map(|(_, text)| text.to_string())
    };
    let _ = bundle.disassemble(Some(&source));
}

/// Loads `bytes`; a bundle that loads must re-encode to the same bytes
/// (`Bundle::to_bytes` promises it) and survive every request of every
/// fixture.
fn load_and_exercise(bytes: &[u8]) {
    match Bundle::from_bytes(bytes) {
        Err(e) => check_message("bundle error", e.message()),
        Ok(bundle) => {
            assert!(
                bundle.to_bytes() == bytes,
                "a loaded bundle re-encodes to other bytes"
            );
            exercise_bundle(&bundle);
            for text in all_requests() {
                decide_checked(&bundle, text);
            }
        }
    }
}

/// `bytes` with a bundle header made right: the magic, this build's
/// version and the checksum of the builder field and body. `None` if it is too short to have
/// a body or is right already.
pub fn repair_header(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < HEADER_LEN {
        return None;
    }
    let mut fixed = bytes.to_vec();
    fixed[..8].copy_from_slice(MAGIC);
    fixed[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    // The checksum (bytes 12..20) covers everything after it: the
    // builder field and the body.
    let sum = checksum(&fixed[20..]);
    fixed[12..20].copy_from_slice(&sum.to_le_bytes());
    (fixed != bytes).then_some(fixed)
}

/// Target `bundle`: arbitrary bytes as a bundle file, as given and then
/// with the header repaired (a mutated body almost never keeps its
/// checksum, and the decoder behind the checksum is what needs fuzzing).
pub fn bundle(data: &[u8]) {
    load_and_exercise(data);
    if let Some(fixed) = repair_header(data) {
        load_and_exercise(&fixed);
    }
}

/// Target `request`: arbitrary bytes as request text against every
/// fixture. Text that is not UTF-8 is read lossily (`bind_str` takes text).
pub fn request(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    for l in loaded() {
        let record = decide_checked(&l.bundle, &text);
        // The parsed-value entry point agrees with the text one, except
        // where the JSON readers legitimately differ (duplicate keys: the
        // value keeps the last one) - so only when both bind.
        if let Some(value) = &parsed {
            if let Ok(bound) = l.bundle.bind(value) {
                if l.bundle.bind_str(&text).is_ok() && !has_duplicate_keys(&text) {
                    assert_eq!(
                        l.bundle.decide(&bound).to_record(),
                        record,
                        "bind and bind_str decide differently"
                    );
                }
            }
        }
    }
}

/// Whether some JSON object in `text` repeats a key: serde_json's map
/// keeps one of them, so the parsed value has fewer keys than the text
/// (any doubt counts as yes).
fn has_duplicate_keys(text: &str) -> bool {
    fn keys(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Object(m) => m.len() + m.values().map(keys).sum::<usize>(),
            serde_json::Value::Array(a) => a.iter().map(keys).sum(),
            _ => 0,
        }
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => count_raw_keys(text) != Some(keys(&value)),
        Err(_) => true,
    }
}

/// Object keys in JSON text, counted by a small scanner (`None` if the
/// scan gets confused).
fn count_raw_keys(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut i, mut n) = (0, 0);
    // Inside an object, a string followed (after whitespace) by ':' is a key.
    while i < bytes.len() {
        if bytes[i] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            if j >= bytes.len() {
                return None;
            }
            let mut k = j + 1;
            while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                k += 1;
            }
            if bytes.get(k) == Some(&b':') {
                n += 1;
            }
            i = j + 1;
        } else {
            i += 1;
        }
    }
    Some(n)
}

/// Target `frontend`: arbitrary text through the checker and, when it
/// checks, the compiler (the bundle must load back from its bytes, equal)
/// and the formatter (formatting its own output changes nothing).
pub fn frontend(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (sources, program, diagnostics) = jitp::driver::check_text("fuzz.jitp", text);
    for d in &diagnostics {
        check_message("diagnostic", &d.message);
    }
    if let Some(program) = program {
        if let Ok(bundle) = jitp::lower::compile(&program, &sources) {
            let bytes = bundle.to_bytes();
            let back = Bundle::from_bytes(&bytes)
                .unwrap_or_else(|e| panic!("a compiled bundle does not load: {e}"));
            assert!(back == bundle, "a compiled bundle loads back different");
            exercise_bundle(&bundle);
        }
    }
    let file = jitp::span::FileId(0);
    match jitp::fmt::format_source(file, text) {
        Ok(once) => match jitp::fmt::format_source(file, &once) {
            Ok(twice) => assert!(
                twice == once,
                "formatting is not idempotent:\n--- once\n{once}\n--- twice\n{twice}"
            ),
            Err(e) => panic!("formatted text does not format again: {e}\n--- once\n{once}"),
        },
        Err(jitp::fmt::FmtError::Syntax(_)) => {}
        Err(e @ jitp::fmt::FmtError::Internal(_)) => {
            panic!("the formatter failed on text that parses: {e}")
        }
    }
}
