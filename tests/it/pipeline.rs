//! The shared pipeline: what a bundle embeds, and the commands that use it.

use crate::support::{examples_dir, jitp, root};
use jitp_runtime::Bundle;

/// `jitp build DIR --package P` on a directory holding several packages:
/// the bundle embeds P's files and the standard library modules P uses,
/// and not one line of any other package's policy text.
#[test]
fn a_bundle_embeds_only_its_own_program() {
    let out = std::env::temp_dir().join(format!("jitp-pipeline-{}.jitb", std::process::id()));
    let status = jitp()
        .args(["build", "examples", "--package", "acme.guards", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let bundle = Bundle::from_bytes(&bytes).unwrap();
    let names: Vec<&str> = bundle.sources().map(|(name, _)| name).collect();
    assert_eq!(names[0], "examples/guards/policy.jitp", "{names:?}");
    for name in &names[1..] {
        assert!(
            name.starts_with(jitp::stdlib::FILE_PREFIX),
            "only stdlib modules beside the set: {names:?}"
        );
    }
    let text = String::from_utf8_lossy(&bytes);
    let own = std::fs::read_to_string(root().join("examples/guards/policy.jitp")).unwrap();
    let stdlib: String = std::fs::read_dir(root().join("stdlib"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let shared = format!("{own}\n{stdlib}");
    let mut others = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let policy = entry.unwrap().path().join("policy.jitp");
        let Ok(source) = std::fs::read_to_string(&policy) else {
            continue;
        };
        if policy.ends_with("guards/policy.jitp") {
            assert!(text.contains(&source), "the set's own text is embedded");
            continue;
        }
        others += 1;
        for line in source.lines().map(str::trim).filter(|l| l.len() >= 12) {
            // Lines the set shares with others (imports, common
            // declarations) are not another package's text.
            if shared.contains(line) {
                continue;
            }
            assert!(
                !text.contains(line),
                "`{line}` from {} leaked into the acme.guards bundle",
                policy.display()
            );
        }
    }
    assert!(others >= 5, "the examples hold other packages");
}
