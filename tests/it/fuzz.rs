//! Property tests: the front end never panics, whatever it is fed.
//!
//! Inputs are (a) random bytes, (b) random sequences of jitp tokens and
//! fragments, and (c) the shipped example policies with random byte- and
//! token-level mutations. For each input `driver::check_text` must return;
//! a missing program must come with at least one error (and a program with
//! none); every span must lie inside its file on character boundaries; both
//! renderings must succeed; and checking is deterministic.
//!
//! Cases per property: 256, or `JITP_FUZZ_CASES`.
//!
//! The deeply nested inputs at the end run on the test thread's ordinary
//! stack on purpose: a stack overflow there is a compiler bug to fix in
//! `src/`, not something for the tests to hide.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jitp::diagnostic::Diagnostic;
use jitp::driver::check_text;
use jitp::render;
use jitp::span::{SourceMap, Span};
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::Path;
use std::sync::OnceLock;

fn cases() -> u32 {
    std::env::var("JITP_FUZZ_CASES")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(256)
}

/// The text of every `examples/*/policy.jitp`.
fn examples() -> &'static [String] {
    static EXAMPLES: OnceLock<Vec<String>> = OnceLock::new();
    EXAMPLES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .expect("examples/ exists")
            .filter_map(Result::ok)
            .map(|e| e.path().join("policy.jitp"))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        let texts: Vec<String> = paths
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("readable example"))
            .collect();
        assert!(!texts.is_empty(), "no example policies found");
        texts
    })
}

/// Fragments worth inserting: tokens of every kind, malformed literals and
/// characters that stress the lexer and the renderer.
const FRAGMENTS: &[&str] = &[
    "package",
    "use",
    "std.time",
    "std.net",
    "entity",
    "record",
    "enum",
    "context",
    "action",
    "on",
    "const",
    "fn",
    "task",
    "breakglass",
    "permit",
    "forbid",
    "to",
    "for",
    "when",
    "unless",
    "require",
    "else",
    "and",
    "or",
    "not",
    "in",
    "like",
    "has",
    "true",
    "false",
    "ttl",
    "notify",
    "sensitivity",
    "grants",
    "high",
    "principal",
    "resource",
    "now",
    "evidence",
    "time",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    ".",
    "?.",
    "??",
    "?",
    "*",
    "@",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "->",
    "@id(\"x\")",
    "@standing(\"why\")",
    "@nope(\"x\")",
    "\"str\"",
    "\"",
    "\"\\q\"",
    "\"\\u{110000}\"",
    "\\",
    "42",
    "-9223372036854775808",
    "99999999999999999999",
    "15m",
    "1h30m",
    "30m1h",
    "0s",
    "10.0.0.0/8",
    "10.0.0.1/8",
    "10.0.0.256",
    "::1",
    "fe80::/999",
    "1:2:3:4:5:6:7:8:9",
    "time(\"2026-11-22T10:00:00Z\")",
    "time(\"nope\")",
    "Set<",
    "Set<Int?>",
    "Int??",
    "x.*",
    "*.*",
    "//",
    "///",
    "/// doc\n",
    "\n",
    " ",
    "\t",
    "\r\n",
    "&&",
    "'",
    ";",
    "#",
    "é",
    "🚀",
    "\u{0}",
    "\u{feff}",
    "\u{200b}",
];

/// One edit of a policy text.
#[derive(Debug, Clone)]
enum Mutation {
    /// Delete a byte range.
    Delete(Index, u8),
    /// Insert a fragment at a byte offset.
    Insert(Index, Index),
    /// Insert random bytes at a byte offset.
    InsertBytes(Index, Vec<u8>),
    /// Copy a byte range to another offset.
    Duplicate(Index, u16, Index),
    /// Exchange two byte ranges of the same length.
    Swap(Index, Index, u8),
    /// Delete a token.
    TokenDelete(Index),
    /// Copy a token before another.
    TokenDuplicate(Index, Index),
    /// Exchange two tokens.
    TokenSwap(Index, Index),
    /// Insert a fragment before a token.
    TokenInsert(Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1..64u8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, f)| Mutation::Insert(i, f)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::InsertBytes(i, b)),
        (any::<Index>(), 1..400u16, any::<Index>())
            .prop_map(|(a, n, b)| Mutation::Duplicate(a, n, b)),
        (any::<Index>(), any::<Index>(), 1..32u8).prop_map(|(a, b, n)| Mutation::Swap(a, b, n)),
        any::<Index>().prop_map(Mutation::TokenDelete),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::TokenDuplicate(a, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::TokenSwap(a, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, f)| Mutation::TokenInsert(a, f)),
    ]
}

/// Splits text into tokens: runs of word characters, runs of whitespace,
/// and single other characters. Concatenating the tokens gives the text back.
fn tokenize(text: &str) -> Vec<String> {
    #[derive(PartialEq)]
    enum K {
        Word,
        Space,
        Other,
    }
    let kind = |c: char| {
        if c.is_alphanumeric() || c == '_' {
            K::Word
        } else if c.is_whitespace() {
            K::Space
        } else {
            K::Other
        }
    };
    let mut out: Vec<String> = Vec::new();
    let mut last: Option<K> = None;
    for c in text.chars() {
        let k = kind(c);
        match (&last, out.last_mut()) {
            (Some(prev), Some(cur)) if *prev == k && k != K::Other => cur.push(c),
            _ => out.push(c.to_string()),
        }
        last = Some(k);
    }
    out
}

fn apply(text: &str, muts: &[Mutation]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for m in muts {
        let len = bytes.len();
        match m {
            Mutation::Delete(i, n) if len > 0 => {
                let a = i.index(len);
                let b = (a + *n as usize).min(len);
                bytes.drain(a..b);
            }
            Mutation::Insert(i, f) => {
                let at = i.index(len + 1);
                let frag = FRAGMENTS[f.index(FRAGMENTS.len())].as_bytes();
                bytes.splice(at..at, frag.iter().copied());
            }
            Mutation::InsertBytes(i, b) => {
                let at = i.index(len + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Duplicate(a, n, b) if len > 0 => {
                let from = a.index(len);
                let to = (from + *n as usize).min(len);
                let chunk = bytes[from..to].to_vec();
                let at = b.index(len + 1);
                bytes.splice(at..at, chunk);
            }
            Mutation::Swap(a, b, n) if len > 0 => {
                let n = (*n as usize).min(len / 2);
                if n > 0 {
                    let x = a.index(len - n + 1);
                    let y = b.index(len - n + 1);
                    if x + n <= y || y + n <= x {
                        for k in 0..n {
                            bytes.swap(x + k, y + k);
                        }
                    }
                }
            }
            Mutation::TokenDelete(_)
            | Mutation::TokenDuplicate(..)
            | Mutation::TokenSwap(..)
            | Mutation::TokenInsert(..) => {
                let s = String::from_utf8_lossy(&bytes).into_owned();
                let mut toks = tokenize(&s);
                // Only edit non-whitespace tokens, so edits change meaning.
                let words: Vec<usize> = (0..toks.len())
                    .filter(|&i| !toks[i].trim().is_empty())
                    .collect();
                if words.is_empty() {
                    continue;
                }
                let pick = |i: &Index| words[i.index(words.len())];
                match m {
                    Mutation::TokenDelete(i) => {
                        toks.remove(pick(i));
                    }
                    Mutation::TokenDuplicate(a, b) => {
                        let t = toks[pick(a)].clone();
                        toks.insert(pick(b), format!("{t} "));
                    }
                    Mutation::TokenSwap(a, b) => {
                        let (x, y) = (pick(a), pick(b));
                        toks.swap(x, y);
                    }
                    Mutation::TokenInsert(a, f) => {
                        let frag = FRAGMENTS[f.index(FRAGMENTS.len())];
                        toks.insert(pick(a), format!("{frag} "));
                    }
                    _ => {}
                }
                bytes = toks.concat().into_bytes();
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Every span a diagnostic carries lies inside a known file, on character
/// boundaries.
fn check_spans(sources: &SourceMap, diags: &[Diagnostic]) -> Result<(), String> {
    let check = |what: &str, d: &Diagnostic, s: Span| -> Result<(), String> {
        let Some(file) = sources.get(s.file) else {
            return Err(format!(
                "{} {what}: unknown file {:?}",
                d.code.as_str(),
                s.file
            ));
        };
        let (a, b) = (s.start as usize, s.end as usize);
        if a > b || b > file.text.len() {
            return Err(format!(
                "{} {what}: span {a}..{b} outside `{}` ({} bytes): {}",
                d.code.as_str(),
                file.name,
                file.text.len(),
                d.message
            ));
        }
        if !file.text.is_char_boundary(a) || !file.text.is_char_boundary(b) {
            return Err(format!(
                "{} {what}: span {a}..{b} splits a character in `{}`: {}",
                d.code.as_str(),
                file.name,
                d.message
            ));
        }
        Ok(())
    };
    for d in diags {
        check("primary", d, d.primary.span)?;
        for l in &d.secondary {
            check("secondary", d, l.span)?;
        }
    }
    Ok(())
}

/// Runs the whole front end and both renderers on `text` and checks the
/// invariants every input must satisfy.
fn exercise(text: &str) -> Result<(), TestCaseError> {
    let (sources, program, diags) = check_text("fuzz.jitp", text);
    let errors = diags.iter().filter(|d| d.is_error()).count();
    if program.is_none() {
        prop_assert!(errors > 0, "no program, but no error either: {:?}", diags);
    } else {
        prop_assert_eq!(errors, 0, "a program despite errors");
    }
    for d in &diags {
        prop_assert!(
            !d.message.trim().is_empty(),
            "empty message for {}",
            d.code.as_str()
        );
    }
    if let Err(e) = check_spans(&sources, &diags) {
        return Err(TestCaseError::fail(e));
    }
    let report = render::terminal(&sources, &diags, false);
    prop_assert_eq!(report.is_empty(), diags.is_empty());
    let _coloured = render::terminal(&sources, &diags, true);
    let json = render::json(&sources, &diags);
    prop_assert_eq!(json.len(), diags.len());
    let encoded = serde_json::to_string(&json);
    prop_assert!(encoded.is_ok(), "json encoding failed");
    // Checking is a pure function of the text.
    let (_, program2, diags2) = check_text("fuzz.jitp", text);
    prop_assert_eq!(program2.is_some(), program.is_some());
    prop_assert_eq!(&diags2, &diags, "two runs on the same text differ");
    Ok(())
}

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<Index>().prop_map(|i| FRAGMENTS[i.index(FRAGMENTS.len())].to_string()),
            1 => "[a-z_]{1,8}",
            1 => "[A-Z][a-z]{0,6}",
            1 => (0u32..100000).prop_map(|n| n.to_string()),
        ],
        0..120,
    )
    .prop_map(|toks| toks.join(" "))
}

proptest! {
    #![proptest_config(crate::support::proptest_config(cases(), 0xf022))]

    /// (a) Arbitrary bytes, decoded lossily.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let text = String::from_utf8_lossy(&bytes);
        exercise(&text)?;
    }

    /// Sequences of real tokens and fragments reach the parser and the
    /// checker far more often than random bytes.
    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        exercise(&text)?;
    }

    /// (b) The shipped examples with random byte- and token-level edits.
    #[test]
    fn mutated_examples_never_panic(
        which in any::<Index>(),
        muts in prop::collection::vec(mutation(), 1..8),
    ) {
        let all = examples();
        let original = &all[which.index(all.len())];
        let text = apply(original, &muts);
        exercise(&text)?;
    }

    /// Mutations that keep the text unchanged keep it clean (the mutator
    /// and the invariants are sane), and single deletions of a whole token
    /// from an example never panic.
    #[test]
    fn single_token_deletions(which in any::<Index>(), at in any::<Index>()) {
        let all = examples();
        let original = &all[which.index(all.len())];
        let toks = tokenize(original);
        prop_assert_eq!(toks.concat(), original.clone());
        let text = apply(original, &[Mutation::TokenDelete(at)]);
        exercise(&text)?;
    }
}

#[test]
fn unmutated_examples_are_clean() {
    for text in examples() {
        let (sources, program, diags) = check_text("example.jitp", text);
        assert!(
            program.is_some(),
            "{}",
            render::terminal(&sources, &diags, false)
        );
        assert!(
            diags.is_empty(),
            "{}",
            render::terminal(&sources, &diags, false)
        );
    }
}

// ---------------------------------------------------------- deep nesting

const HEAD: &str = "entity ServiceAccount { level: Int  roles: Set<String> }\n\
                    entity Secret { env: String }\n\
                    action secrets.read on Secret sensitivity low\n\n\
                    @standing(\"nesting test\")\n\
                    permit ServiceAccount to secrets.read on Secret\n  when ";

/// Checks `text` on the current thread (the test harness's ordinary
/// stack) and renders the result.
fn check_deep(text: &str) -> (bool, Vec<String>) {
    let (sources, program, diags) = check_text("deep.jitp", text);
    let _ = render::terminal(&sources, &diags, false);
    let _ = render::json(&sources, &diags);
    (
        program.is_some(),
        diags.iter().map(|d| d.code.as_str().to_string()).collect(),
    )
}

#[test]
fn deep_parentheses_5000() {
    let text = format!("{HEAD}{}true{}\n", "(".repeat(5000), ")".repeat(5000));
    let (ok, codes) = check_deep(&text);
    assert!(ok, "{codes:?}");
}

#[test]
fn unbalanced_parentheses_5000() {
    let text = format!("{HEAD}{}true\n", "(".repeat(5000));
    let (ok, codes) = check_deep(&text);
    assert!(!ok);
    assert!(codes.contains(&"E0102".to_string()), "{codes:?}");
}

#[test]
fn moderately_long_or_chain() {
    // 100 alternatives (see `or_chain_1000` for a longer, still realistic one).
    let terms: Vec<String> = (0..100)
        .map(|i| format!("principal.level == {i}"))
        .collect();
    let text = format!("{HEAD}{}\n", terms.join(" or "));
    let (ok, codes) = check_deep(&text);
    assert!(ok, "{codes:?}");
}

// Nesting deeper than the parser's limit (1,024 levels) is reported as
// E0107 instead of overflowing the stack; shallower nesting checks normally.

#[test]
fn deep_not_100000() {
    let text = format!("{HEAD}{}true\n", "not ".repeat(100_000));
    let (ok, codes) = check_deep(&text);
    assert!(!ok && codes.contains(&"E0107".to_string()), "{codes:?}");
}

#[test]
fn or_chain_1000() {
    let terms: Vec<String> = (0..1000)
        .map(|i| format!("principal.level == {i}"))
        .collect();
    let text = format!("{HEAD}{}\n", terms.join(" or "));
    let (ok, codes) = check_deep(&text);
    assert!(ok, "{codes:?}");
}

#[test]
fn long_or_chain_5000() {
    let terms: Vec<String> = (0..5000)
        .map(|i| format!("principal.level == {i}"))
        .collect();
    let text = format!("{HEAD}{}\n", terms.join(" or "));
    let (ok, codes) = check_deep(&text);
    assert!(!ok && codes.contains(&"E0107".to_string()), "{codes:?}");
}

#[test]
fn deep_negation_5000() {
    let text = format!("{HEAD}principal.level == {}1\n", "-".repeat(5000));
    let (ok, codes) = check_deep(&text);
    assert!(!ok && codes.contains(&"E0107".to_string()), "{codes:?}");
}

#[test]
fn deep_set_literals_5000() {
    let text = format!(
        "{HEAD}principal.level in {}1{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let (ok, _codes) = check_deep(&text);
    assert!(!ok, "sets of sets are not allowed");
}

#[test]
fn deep_set_type_5000() {
    let text = format!(
        "entity ServiceAccount {{ nested: {}Int{} }}\n",
        "Set<".repeat(5000),
        ">".repeat(5000)
    );
    let (ok, _codes) = check_deep(&text);
    assert!(!ok, "sets of sets are not allowed");
}

/// The command on the same input: its main thread has the platform's
/// default stack, and it must exit normally (0 or 1), not abort.
#[test]
fn cli_survives_deep_not() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-deep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("deep.jitp");
    std::fs::write(&path, format!("{HEAD}{}true\n", "not ".repeat(100_000))).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jitp"))
        .arg("check")
        .arg(&path)
        .output()
        .expect("runs");
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "exit {code:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
