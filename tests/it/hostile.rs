//! Attacks through policy text: what a reviewer sees is what jitp reads.

use jitp::driver::{check_text, compile_text};
use jitp_runtime::{Effect, Reason};

/// A standing permit and, after a comment that ends in `line_end`, a
/// guard that must hold for risky callers.
fn policy(line_end: &str) -> String {
    format!(
        r#"entity ServiceAccount {{}}
entity Secret {{}}
context {{ risk: Int }}
action secrets.read on Secret
@standing("reads are harmless")
permit ServiceAccount to secrets.read on Secret
// deny risky callers{line_end}forbid * when context.risk >= 80
"#
    )
}

fn request(risk: i64) -> String {
    serde_json::json!({
        "subject": {"type": "ServiceAccount", "id": "bot"},
        "action": {"name": "secrets.read"},
        "resource": {"type": "Secret", "id": "s1"},
        "context": {"risk": risk},
        "now": "2026-11-22T08:00:00Z",
    })
    .to_string()
}

/// Every Unicode line end closes a `//` comment: the guard written after
/// it is code, and it denies.
#[test]
fn every_unicode_line_end_ends_a_comment() {
    for (name, end) in [
        ("LF", "\n"),
        ("CR", "\r"),
        ("CR LF", "\r\n"),
        ("VT", "\u{0B}"),
        ("FF", "\u{0C}"),
        ("NEL", "\u{85}"),
        ("LINE SEPARATOR", "\u{2028}"),
        ("PARAGRAPH SEPARATOR", "\u{2029}"),
    ] {
        let bundle = compile_text("p.jitp", &policy(end)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let risky = bundle.decide_json(&request(99));
        assert_eq!(
            (risky.decision, risky.reason),
            (Effect::Deny, Reason::Forbidden),
            "{name}: the guard after the comment must hold"
        );
        let calm = bundle.decide_json(&request(10));
        assert_eq!(calm.decision, Effect::Allow, "{name}");
    }
}

/// Line numbers in diagnostics count the same line ends.
#[test]
fn diagnostics_count_unicode_line_ends() {
    for end in ["\r", "\u{2028}", "\u{85}", "\r\n"] {
        let text = format!("entity A {{}}{end}{end}entity A {{}}{end}");
        let (sources, _, diags) = check_text("p.jitp", &text);
        let d = diags.first().expect("a duplicate declaration");
        let (line, _) = sources.line_col(d.primary.span.file, d.primary.span.start);
        assert_eq!(line, 3, "{end:?}: {d:?}");
    }
}

/// A string ends on the line it starts, whatever the line end.
#[test]
fn a_string_does_not_run_past_a_line_end() {
    let text = "const A = \"abc\u{2028}def\"\n";
    let (_, program, diags) = check_text("p.jitp", text);
    assert!(program.is_none());
    assert!(
        diags.iter().any(|d| d.code.as_str() == "E0002"),
        "unterminated string: {diags:?}"
    );
}

/// Bidirectional controls ("Trojan Source") are errors wherever they
/// appear, each reported with its escape, the count bounded.
#[test]
fn bidirectional_controls_are_refused() {
    for c in ['\u{202E}', '\u{2066}', '\u{2069}', '\u{200F}', '\u{061C}'] {
        let text = format!("// check {c} here\nconst A = \"x{c}y\"\n");
        let (_, program, diags) = check_text("p.jitp", &text);
        assert!(program.is_none(), "{c:?}");
        let bidi: Vec<_> = diags
            .iter()
            .filter(|d| d.code.as_str() == "E0007")
            .collect();
        assert_eq!(bidi.len(), 2, "{c:?}: one per occurrence: {diags:?}");
        let escape = format!("\\u{{{:04X}}}", c as u32);
        assert!(bidi[0].message.contains(&escape), "{}", bidi[0].message);
    }
    let many = "\u{202E}".repeat(10_000);
    let (_, _, diags) = check_text("p.jitp", &format!("// {many}\n"));
    assert_eq!(
        diags.iter().filter(|d| d.code.as_str() == "E0007").count(),
        16
    );
    // The escape itself is fine.
    let (_, program, diags) = check_text("p.jitp", "const A = \"\\u{202E}\"\n");
    assert!(program.is_some(), "{diags:?}");
}

/// The formatter sees the same lines: a comment after a lone CR stays on
/// its own line, and the output (with LF line ends) is stable.
#[test]
fn fmt_keeps_comments_on_the_lines_a_viewer_shows() {
    use jitp::fmt::format_source;
    use jitp::span::FileId;
    for end in ["\r", "\r\n", "\u{2028}", "\u{85}"] {
        let text = format!("entity A {{}}{end}// note{end}{end}const X = 1{end}");
        let out = format_source(FileId(0), &text).unwrap();
        assert_eq!(out, "entity A {}\n// note\n\nconst X = 1\n", "{end:?}");
        assert_eq!(format_source(FileId(0), &out).unwrap(), out);
    }
}

/// Thousands of unknown names among thousands of declared ones: every
/// error is reported, the first ones with a suggestion, in linear time
/// (suggestions share one budget; the quadratic version took 38 s here
/// in a debug build).
#[test]
fn many_unknown_names_cost_linear_time() {
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!("const C{i} = 1\n"));
    }
    for i in 0..5000 {
        text.push_str(&format!("const D{i} = X{i}\n"));
    }
    let start = std::time::Instant::now();
    let (sources, _, diags) = check_text("p.jitp", &text);
    let rendered = jitp::render::terminal(&sources, &diags, false);
    let took = start.elapsed();
    assert_eq!(diags.len(), 5000);
    assert!(
        diags[0].help.is_some(),
        "the first error keeps its suggestion"
    );
    assert!(rendered.contains("unknown name `X4999`"));
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
}

/// One nesting problem is one error, however deep it goes (1,000 nested
/// set literals once gave 999 errors and 8 MB of output from 4 KB).
#[test]
fn one_error_for_one_nesting_problem() {
    for text in [
        format!("const A = {}1{}\n", "[".repeat(1000), "]".repeat(1000)),
        format!(
            "record R {{ a: {}Int{} }}\n",
            "Set<".repeat(1000),
            ">".repeat(1000)
        ),
        format!("const A = {}1{}\n", "(".repeat(3000), ")".repeat(3000)),
        format!("const A = {}1\n", "-".repeat(3000)),
    ] {
        let (_, _, diags) = check_text("p.jitp", &text);
        assert!(
            diags.len() <= 1,
            "{:?}",
            diags.iter().map(|d| &d.message).collect::<Vec<_>>()
        );
    }
}

/// A bundle whose spans fall inside a multi-byte character of its
/// embedded source (a hostile or buggy bundle: spans are not semantic)
/// still explains, with the span widened to whole characters.
#[test]
fn explanations_survive_spans_inside_characters() {
    use jitp::span::SourceMap;
    use jitp_runtime::Bundle;
    let text = "entity S {}\nentity R {}\naction a.go on R\n@standing(\"é — ünïcode\")\npermit S to a.go on R when \"ä\" == \"ä\"\n";
    let bundle = compile_text("p.jitp", text).unwrap();
    let mut image = bundle.image().clone();
    let at = text.find('é').unwrap() as u32 + 1; // inside `é`
    for span in image.spans.iter_mut() {
        span.start = at;
        span.end = at + 2;
    }
    for rule in image.rules.iter_mut() {
        rule.span.start = at;
        rule.span.end = at + 3;
        for block in rule.when.iter_mut().chain(rule.unless.iter_mut()) {
            block.span.start = at;
            block.span.end = at + 2;
        }
    }
    let hostile = Bundle::from_image(image).unwrap();
    let request = serde_json::json!({
        "subject": {"type": "S", "id": "s"}, "action": {"name": "a.go"},
        "resource": {"type": "R", "id": "r"}, "now": "2026-11-22T08:00:00Z",
    });
    let bound = hostile.bind(&request).unwrap();
    let explanation = hostile.explain(&bound);
    let out = jitp::explain_render::render(&SourceMap::of_bundle(&hostile), &explanation, false);
    assert!(out.contains("allow"), "{out}");
}

/// A policy written on one enormous line is not echoed once per error:
/// lines too long to quote are reported without an excerpt.
#[test]
fn huge_lines_are_not_echoed_per_error() {
    let line: String = (0..2000)
        .map(|i| format!("const A{i}: Int = \"x\" "))
        .collect();
    let (sources, _, diags) = check_text("p.jitp", &line);
    assert_eq!(diags.len(), 2000);
    let out = jitp::render::terminal(&sources, &diags, false);
    assert!(
        out.len() < 2000 * 300,
        "{} bytes for a {}-byte line",
        out.len(),
        line.len()
    );
    assert!(out.contains("p.jitp:1:1999"), "positions are still given");
    // Ordinary lines keep their excerpt.
    let (sources, _, diags) = check_text("p.jitp", "const A: Int = \"x\"\n");
    let out = jitp::render::terminal(&sources, &diags, false);
    assert!(out.contains("const A: Int = \"x\""), "{out}");
}

/// A guard naming a principal in NFD still stops it: literals are NFC,
/// like the identities binding canonicalises.
#[test]
fn literals_are_compared_in_nfc() {
    let nfd = "j\u{75}\u{308}rgen"; // `jürgen`, decomposed
    let text = format!(
        "entity S {{}}\nentity R {{}}\naction a.go on R\n@standing(\"t\")\npermit S to a.go on R\nforbid * when principal.id == \"{nfd}\"\n"
    );
    let bundle = compile_text("p.jitp", &text).unwrap();
    for id in ["j\u{fc}rgen", nfd] {
        let request = serde_json::json!({
            "subject": {"type": "S", "id": id}, "action": {"name": "a.go"},
            "resource": {"type": "R", "id": "r"}, "now": "2026-11-22T08:00:00Z",
        });
        let d = bundle.decide_json(&request.to_string());
        assert_eq!(
            (d.decision, d.reason),
            (Effect::Deny, Reason::Forbidden),
            "{id:?}"
        );
    }
}

/// 10,000 diagnostics render in the terminal format in linear time (one
/// source cache for all; it once took 26 s against 1.3 s for JSON).
#[test]
fn ten_thousand_diagnostics_render_in_linear_time() {
    let text: String = (0..10_000)
        .map(|i| format!("const C{i}: Int = \"x\"\n"))
        .collect();
    let (sources, _, diags) = check_text("p.jitp", &text);
    assert_eq!(diags.len(), 10_000);
    let start = std::time::Instant::now();
    let out = jitp::render::terminal(&sources, &diags, false);
    let took = start.elapsed();
    assert_eq!(out.matches("[E0301]").count(), 10_000);
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
}
