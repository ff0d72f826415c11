//! Snapshot tests of bundle disassembly.
//!
//! Each snapshot shows a policy's source, a `---` line, then what
//! `jitp disasm` prints for its bundle: the slot layout, the constant pool,
//! the rule index and every rule's blocks with the source span of each
//! instruction. A change to lowering shows up here as a readable diff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jitp_runtime::Bundle;
use std::path::Path;

/// Compiles `source`, round-trips the bundle through its byte format (so
/// the snapshot shows what a loaded bundle holds) and disassembles it.
fn disassembly(name: &str, source: &str) -> String {
    let built =
        jitp::driver::compile_text(name, source).unwrap_or_else(|e| panic!("{name} compiles: {e}"));
    let bundle = Bundle::from_bytes(&built.to_bytes()).expect("the bundle loads");
    assert_eq!(bundle, built, "{name}: the byte format loses nothing");
    let text = source.to_string();
    let listing = bundle.disassemble(Some(&|_| Some(text.clone())));
    // Without sources the listing is the same, minus the quoted text.
    let bare = bundle.disassemble(None);
    assert_eq!(
        listing.lines().count(),
        bare.lines().count(),
        "{name}: sources only add text to lines"
    );
    format!("{source}\n---\n{listing}")
}

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .join("policy.jitp");
    let source = std::fs::read_to_string(path).expect("example readable");
    disassembly(&format!("examples/{name}/policy.jitp"), &source)
}

#[test]
fn rotate_secrets_example() {
    insta::assert_snapshot!("rotate_secrets", example("rotate_secrets"));
}

#[test]
fn ai_agent_example() {
    insta::assert_snapshot!("ai_agent", example("ai_agent"));
}

#[test]
fn breakglass_example() {
    insta::assert_snapshot!("breakglass", example("breakglass"));
}

/// Fused slot/constant comparisons, `and`/`or`/`not` jumps, `??` and `?.`.
#[test]
fn comparisons_and_optionals() {
    let source = r#"package demo.cmp
entity Svc { team: String  level: Int  nick: String? }
entity Doc { owner: String }
record Ticket { id: String  priority: Int }
context { risk: Int  ticket: Ticket?  region: String? }
action doc.read on Doc

@id("cmp")
@standing("read-only lookups")
permit Svc to doc.read on Doc
  when principal.team == "ops" and principal.level >= 3
   and (context.region ?? "eu") != "us"
   and (context.ticket?.priority ?? 0) < 4
   and not (principal.nick == "root" or resource.owner == principal.team)
"#;
    insta::assert_snapshot!("comparisons_and_optionals", disassembly("cmp.jitp", source));
}

/// `x in [...]` with request values is compiled item by item, stopping at
/// the first match; network items test containment; an optional left side
/// is tested for presence first. A closed set literal is one constant.
#[test]
fn membership_in_set_literals() {
    let source = r#"package demo.sets
entity Svc { team: String  home: Net }
entity Doc { owner: String }
context { ip: Ip  office: Net  region: String?  regions: Set<String> }
action doc.read on Doc

@id("sets")
@standing("read-only lookups")
permit Svc to doc.read on Doc
  when principal.team in ["ops", "sre"]
   and context.ip in [context.office, principal.home, 10.0.0.0/8]
   and context.region in [resource.owner, "eu"]
   and context.regions.contains_any(["eu", "us"])
"#;
    insta::assert_snapshot!(
        "membership_in_set_literals",
        disassembly("sets.jitp", source)
    );
}

/// Functions are inlined through locals; constants are folded into the pool;
/// `like` patterns are pooled; windows and durations.
#[test]
fn functions_constants_patterns_and_time() {
    let source = r#"package demo.fns
use std.time
entity Svc { team: String  level: Int }
entity Doc { path: String }
context { change: time.Window  grace: Duration }
action doc.write on Doc

const TEAMS = ["ops", "sre"]
const LIMIT = 2 + 3
fn trusted(t: String, n: Int) -> Bool = t in TEAMS and n <= LIMIT
fn in_change(t: Time, w: time.Window, g: Duration) -> Bool = t in w or t - g < w.start

task deploy {
  ttl 30m
  notify "deploys"
  @id("deploy-write")
  permit Svc to doc.write on Doc for 10m
    when trusted(principal.team, principal.level)
     and resource.path like "/srv/*/config"
     and in_change(now, context.change, context.grace)
    require task.approvals >= 1 else "approval"
}
"#;
    insta::assert_snapshot!(
        "functions_constants_patterns_and_time",
        disassembly("fns.jitp", source)
    );
}
