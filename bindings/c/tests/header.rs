//! The checked-in header is what cbindgen generates from the sources.

use std::path::Path;

#[test]
fn checked_in_header_matches_cbindgen() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("the header is UTF-8");
    let path = crate_dir.join("include/jitp.h");
    if std::env::var_os("JITP_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/jitp.h");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "bindings/c/include/jitp.h is not what cbindgen generates from src/lib.rs; \
         regenerate it with `JITP_BLESS=1 cargo test -p jitp-c --test header`\n\
         --- generated ---\n{generated}"
    );
}
