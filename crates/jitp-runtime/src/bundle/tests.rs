//! Hostile bundles: every way a bundle can be wrong is rejected with an
//! error (never a panic), wrong versions and magic bytes are explained, and
//! bundles whose checksum is valid but whose structure is hostile are
//! caught by verification. The structural cases mutate the data model
//! ([`Image`]) directly, then encode it, so the whole loader is exercised.
//!
//! The bundles come from `crates/jitp-runtime/tests/data/*.jitb`, compiled
//! from the example policies and a generated one by the root crate's
//! `bundle_fixtures` test (which fails when they are stale; rerun it with
//! `JITP_UPDATE_FIXTURES=1`). Requests come from `examples/*/requests`.
//!
//! Corruption sweeps are linear by default: the checksum function is tested
//! directly (every single-bit flip and every truncation of a small buffer
//! changes it), then bundles are corrupted and truncated at every section
//! boundary and at a fixed-seed sample of offsets. `JITP_EXHAUSTIVE=1`
//! sweeps every byte of every fixture instead (minutes in debug builds).

// Test code: a failed index or an explicit panic is a failed test.
#![allow(clippy::indexing_slicing, clippy::panic)]

use super::decode::section_offsets;
use super::*;
use crate::bytecode::{
    CmpOp, ConstIdx, FieldOff, Instr, JumpOff, LocalIdx, MethodId, PatternIdx, SlotIdx,
};
use crate::val::{Arena, SetRef, Val};
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

mod mutants;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = data_dir().join(format!("{name}.jitb"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture(name: &str) -> Bundle {
    Bundle::from_bytes(&fixture_bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every fixture, by name, sorted.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir())
        .expect("tests/data readable")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            name.strip_suffix(".jitb").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 3, "fixtures missing: {names:?}");
    names
        .into_iter()
        .map(|n| {
            let bytes = fixture_bytes(&n);
            (n, bytes)
        })
        .collect()
}

/// The example's requests (none for the generated policy).
fn requests(name: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(examples_dir().join(name).join("requests")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir.map(|e| e.expect("entry").path()).collect();
    files.sort();
    files
        .into_iter()
        .map(|f| std::fs::read_to_string(f).expect("readable"))
        .collect()
}

fn exhaustive() -> bool {
    std::env::var_os("JITP_EXHAUSTIVE").is_some_and(|v| v == "1")
}

/// A deterministic xorshift generator: the sampled offsets are the same on
/// every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The fixed seed of the sampled sweeps.
const SEED: u64 = 0x6a69_7470_2026;

/// Offsets of `bytes` (a valid bundle) to corrupt: every offset when
/// exhaustive, else the header, a few bytes around every section boundary
/// and `samples` offsets drawn with the fixed seed. Sorted, distinct, in
/// range.
fn offsets(bytes: &[u8], samples: usize) -> Vec<usize> {
    if exhaustive() {
        return (0..bytes.len()).collect();
    }
    let mut set: HashSet<usize> = (0..HEADER_LEN).collect();
    let body = bytes.get(HEADER_LEN..).expect("a header");
    for b in section_offsets(body) {
        let at = HEADER_LEN + b;
        for d in [-1isize, 0, 1, 2, 3, 4] {
            set.insert(at.saturating_add_signed(d));
        }
    }
    let mut rng = Rng(SEED ^ bytes.len() as u64);
    for _ in 0..samples {
        set.insert(rng.below(bytes.len()));
    }
    set.insert(bytes.len() - 1);
    let mut v: Vec<usize> = set.into_iter().filter(|i| *i < bytes.len()).collect();
    v.sort_unstable();
    v
}

fn load(bytes: &[u8]) -> Result<Bundle, BundleError> {
    match catch_unwind(AssertUnwindSafe(|| Bundle::from_bytes(bytes))) {
        Ok(r) => r,
        Err(_) => panic!("from_bytes panicked on a {}-byte input", bytes.len()),
    }
}

/// Rewrites the checksum so that only structural verification stands
/// between `bytes` and the VM.
fn fix_checksum(bytes: &mut [u8]) {
    let sum = checksum(&bytes[SUMMED_FROM..]);
    bytes[12..20].copy_from_slice(&sum.to_le_bytes());
}

// ------------------------------------------------------------------ checksum

/// What makes the sampled sweeps below enough: the checksum itself notices
/// every single-bit flip and every truncation (checked here exhaustively
/// on buffers around the 32-byte block size), so a corrupted or cut body
/// only ever reaches the decoder with a recomputed checksum.
#[test]
fn the_checksum_detects_every_bit_flip_and_truncation() {
    let mut rng = Rng(SEED);
    for len in [0usize, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 200] {
        let buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let sum = checksum(&buf);
        for i in 0..len {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[i] ^= 1 << bit;
                assert_ne!(checksum(&bad), sum, "len {len}: byte {i} bit {bit}");
            }
        }
        let prefixes: HashSet<u64> = (0..=len).map(|n| checksum(&buf[..n])).collect();
        assert_eq!(prefixes.len(), len + 1, "len {len}: two prefixes collide");
    }
    // zero padding of the last block is told apart by the length
    let zeros = [0u8; 70];
    let sums: HashSet<u64> = (0..=zeros.len()).map(|n| checksum(&zeros[..n])).collect();
    assert_eq!(sums.len(), zeros.len() + 1);
}

#[test]
fn the_loader_checks_the_checksum_of_the_whole_body() {
    for (name, bytes) in fixtures() {
        for i in offsets(&bytes, 64) {
            if i < HEADER_LEN {
                continue;
            }
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            let e = load(&bad).expect_err(&format!("{name}: byte {i} ^ 1 was accepted"));
            assert_eq!(e.kind, BundleErrorKind::Checksum, "{name}: byte {i}: {e}");
        }
    }
}

// ------------------------------------------------------------------ bytes

#[test]
fn header_layout() {
    let b = fixture("rotate_secrets");
    let bytes = b.to_bytes();
    assert_eq!(bytes, fixture_bytes("rotate_secrets"));
    assert_eq!(&bytes[..8], MAGIC);
    assert_eq!(&bytes[8..12], &FORMAT_VERSION.to_le_bytes());
    assert_eq!(&bytes[12..20], &checksum(&bytes[20..]).to_le_bytes());
    assert_eq!(b.checksum(), checksum(&bytes[20..]));
    assert_eq!(b.revision(), format!("{:016x}", b.checksum()));
    // the builder field: the compiler's version, NUL-padded, checksummed
    let version = env!("CARGO_PKG_VERSION").as_bytes();
    assert_eq!(b.built_by().as_bytes(), version);
    assert_eq!(&bytes[20..20 + version.len()], version);
    assert!(bytes[20 + version.len()..HEADER_LEN]
        .iter()
        .all(|b| *b == 0));
    assert_eq!(HEADER_LEN, 36);
    let again = load(&bytes).expect("loads");
    assert_eq!(again.to_bytes(), bytes);
    assert_eq!(again, Bundle::from_bytes(&bytes).expect("loads twice"));
}

#[test]
fn every_fixture_round_trips_and_decides_the_same() {
    for (name, bytes) in fixtures() {
        let b = load(&bytes).expect("loads");
        assert_eq!(b.to_bytes(), bytes, "{name}: re-encoding differs");
        let again = load(&b.to_bytes()).expect("loads");
        for r in requests(&name) {
            assert_eq!(b.decide_json(&r), again.decide_json(&r), "{name}: {r}");
        }
    }
}

#[test]
fn truncations_are_rejected() {
    for (name, bytes) in fixtures() {
        for len in offsets(&bytes, 64) {
            let e = load(&bytes[..len]).expect_err(&format!(
                "{name}: truncated to {len} of {} bytes was accepted",
                bytes.len()
            ));
            assert!(!e.message().is_empty());
            assert!(e.to_string().starts_with("invalid bundle: "), "{e}");
            if len < 8 {
                assert!(e.message().contains("magic"), "{len}: {e}");
                assert_eq!(e.kind, BundleErrorKind::NotABundle);
            } else if len < 20 {
                assert!(e.message().contains("truncated"), "{len}: {e}");
                assert_eq!(e.kind, BundleErrorKind::Truncated);
            } else {
                assert!(e.message().contains("checksum"), "{len}: {e}");
                assert_eq!(e.kind, BundleErrorKind::Checksum);
            }
        }
    }
}

#[test]
fn truncations_with_a_valid_checksum_are_rejected() {
    for (name, bytes) in fixtures() {
        for len in offsets(&bytes, 64) {
            if len < HEADER_LEN {
                continue;
            }
            let mut cut = bytes[..len].to_vec();
            fix_checksum(&mut cut);
            let e = load(&cut).expect_err(&format!(
                "{name}: truncated to {len} bytes (checksum fixed) was accepted"
            ));
            assert!(!e.message().is_empty());
        }
    }
}

#[test]
fn flipped_bits_are_rejected() {
    for (name, bytes) in fixtures() {
        for i in offsets(&bytes, 32) {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[i] ^= mask;
                let e =
                    load(&bad).expect_err(&format!("{name}: byte {i} ^ {mask:#04x} was accepted"));
                let expected = match i {
                    0..=7 => "magic",
                    8..=11 => "version",
                    _ => "checksum",
                };
                assert!(
                    e.message().contains(expected),
                    "{name}: byte {i} ^ {mask:#04x}: {e}"
                );
            }
        }
    }
}

#[test]
fn appended_bytes_are_rejected() {
    let bytes = fixture_bytes("rotate_secrets");
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(load(&longer)
        .expect_err("trailing byte")
        .message()
        .contains("checksum"));
    fix_checksum(&mut longer);
    let e = load(&longer).expect_err("trailing byte with a valid checksum");
    assert!(e.message().contains("unexpected bytes"), "{e}");
    assert_eq!(e.kind, BundleErrorKind::Malformed);
    assert_eq!(e.offset, Some(bytes.len() - HEADER_LEN));
}

#[test]
fn wrong_magic_and_version_are_explained() {
    let bytes = fixture_bytes("rotate_secrets");
    let e = load(b"").expect_err("empty");
    assert!(e.message().contains("not a jitp bundle"), "{e}");
    let e = load(b"PK\x03\x04 this is a zip file").expect_err("zip");
    assert!(
        e.message().contains("not a jitp bundle") && e.message().contains("magic"),
        "{e}"
    );
    let mut bad = bytes.clone();
    bad[..8].copy_from_slice(b"JITPBNDX");
    assert!(load(&bad).expect_err("magic").message().contains("magic"));
    for v in [0u32, FORMAT_VERSION + 1, 2, 3, u32::MAX] {
        if v == FORMAT_VERSION {
            continue;
        }
        let mut bad = bytes.clone();
        bad[8..12].copy_from_slice(&v.to_le_bytes());
        let e = load(&bad).expect_err("version");
        assert!(e.message().contains(&format!("format version {v}")), "{e}");
        assert!(
            e.message()
                .contains(&format!("reads only format version {FORMAT_VERSION}")),
            "{e}"
        );
        assert!(
            e.message()
                .contains("help: rebuild it with this jitp: `jitp build"),
            "{e}"
        );
        // From version 4 on the header names the jitp that built it.
        let by = format!("built by jitp {}", env!("CARGO_PKG_VERSION"));
        assert_eq!(e.message().contains(&by), v >= 4, "{e}");
        assert_eq!(
            e.kind,
            BundleErrorKind::UnsupportedVersion {
                found: v,
                supported: FORMAT_VERSION
            }
        );
    }
    // a builder field that is not a version is named, not printed
    let mut bad = bytes.clone();
    bad[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    bad[SUMMED_FROM..SUMMED_FROM + 4].copy_from_slice(b"\x1b[2J");
    let e = load(&bad).expect_err("version");
    assert!(e.message().contains("built by an unknown jitp"), "{e}");
    // a builder field that is not a version, with a valid checksum
    let mut bad = bytes.clone();
    bad[SUMMED_FROM] = b' ';
    fix_checksum(&mut bad);
    let e = load(&bad).expect_err("builder");
    assert_eq!(e.kind, BundleErrorKind::Malformed, "{e}");
    assert!(e.message().contains("builder field"), "{e}");
    // a policy source is not a bundle
    let e = load(b"package acme\nentity X {}\n").expect_err("source");
    assert!(e.message().contains("magic"), "{e}");
}

#[test]
fn missing_file_is_an_error() {
    let e = Bundle::from_file("/nonexistent/dir/policy.jitb").expect_err("missing");
    assert!(
        e.message().contains("/nonexistent/dir/policy.jitb")
            && e.message().contains("no such file"),
        "{e}"
    );
    assert_eq!(e.kind, BundleErrorKind::Io);
}

// ------------------------------------------------------------------ hostile bundles

/// Applies `mutate` to a decoded bundle, re-serialises (which recomputes
/// the checksum) and returns the loader's verdict.
fn hostile(base: &Bundle, mutate: impl FnOnce(&mut Image)) -> Result<Bundle, BundleError> {
    let mut img = base.img.clone();
    mutate(&mut img);
    load(&img.to_bytes())
}

fn rejected(base: &Bundle, what: &str, expect: &[&str], mutate: impl FnOnce(&mut Image)) {
    match hostile(base, mutate) {
        Ok(_) => panic!("hostile bundle accepted: {what}"),
        Err(e) => {
            assert!(!e.message().is_empty(), "{what}");
            for x in expect {
                assert!(
                    e.message().contains(x),
                    "{what}: message `{}` should mention `{x}`",
                    e.message()
                );
            }
        }
    }
}

/// Appends `code` as a new block and points the first `when` of a permit at it.
fn with_block(b: &mut Image, code: &[Instr]) {
    let start = b.code.len() as u32;
    b.code.extend_from_slice(code);
    b.spans
        .extend(std::iter::repeat_n(SrcSpan::default(), code.len()));
    let rule = b
        .rules
        .iter_mut()
        .find(|r| r.when.is_some())
        .expect("a rule with `when`");
    rule.when = Some(Block {
        start,
        len: code.len() as u32,
        span: SrcSpan::default(),
    });
}

fn first_jump(b: &Image) -> (usize, Block) {
    for r in &b.rules {
        for blk in r
            .when
            .iter()
            .chain(r.unless.iter())
            .chain(r.requires.iter().map(|(b, _)| b))
        {
            for pc in blk.start..blk.start + blk.len {
                if b.code[pc as usize].jump().is_some() {
                    return (pc as usize, *blk);
                }
            }
        }
    }
    panic!("no jump in the bundle");
}

#[test]
fn hostile_bundles_with_valid_checksums_are_rejected() {
    let base = fixture("rotate_secrets");
    let nconst = base.img.consts.len() as u32;
    let nslot = base.img.schema.slot_count;
    let nstr = base.img.strings.len() as u32;

    // sanity: an unmodified clone loads
    assert!(hostile(&base, |_| {}).is_ok());

    // ---- code
    let (pc, blk) = first_jump(&base.img);
    let end = (blk.start + blk.len) as usize;
    rejected(
        &base,
        "jump past the block end",
        &["jump out of its block"],
        |b| {
            let off = (end - pc) as u32; // lands one past `Ret`
            match &mut b.code[pc] {
                Instr::JumpIfFalseOrPop { off: o }
                | Instr::JumpIfTrueOrPop { off: o }
                | Instr::JumpIfPresentOrPop { off: o } => *o = JumpOff(off),
                _ => unreachable!(),
            }
        },
    );
    rejected(&base, "jump far away", &["jump out of its block"], |b| {
        if let Instr::JumpIfFalseOrPop { off }
        | Instr::JumpIfTrueOrPop { off }
        | Instr::JumpIfPresentOrPop { off } = &mut b.code[pc]
        {
            *off = JumpOff(u32::MAX);
        }
    });
    rejected(
        &base,
        "constant index out of range",
        &["operand out of range"],
        |b| {
            let i = b
                .code
                .iter()
                .position(|i| matches!(i, Instr::Const { .. }))
                .expect("a Const");
            b.code[i] = Instr::Const {
                k: ConstIdx(nconst),
            };
        },
    );
    rejected(
        &base,
        "fused compare constant out of range",
        &["operand out of range"],
        |b| {
            let i = b
                .code
                .iter()
                .position(|i| matches!(i, Instr::CmpSlotConst { .. }))
                .expect("a CmpSlotConst");
            if let Instr::CmpSlotConst { k, .. } = &mut b.code[i] {
                *k = ConstIdx(u32::MAX);
            }
        },
    );
    rejected(
        &base,
        "fused compare slot out of range",
        &["operand out of range"],
        |b| {
            let i = b
                .code
                .iter()
                .position(|i| matches!(i, Instr::CmpSlotConst { .. }))
                .expect("a CmpSlotConst");
            if let Instr::CmpSlotConst { slot, .. } = &mut b.code[i] {
                *slot = SlotIdx(nslot);
            }
        },
    );
    rejected(
        &base,
        "fused compare op out of range",
        &["operand out of range"],
        |b| {
            let i = b
                .code
                .iter()
                .position(|i| matches!(i, Instr::CmpSlotConst { .. }))
                .expect("a CmpSlotConst");
            if let Instr::CmpSlotConst { op, .. } = &mut b.code[i] {
                *op = CmpOp(6);
            }
        },
    );
    rejected(&base, "slot out of range", &["operand out of range"], |b| {
        let i = b
            .code
            .iter()
            .position(|i| matches!(i, Instr::Slot { .. } | Instr::Rec { .. }))
            .expect("a Slot");
        b.code[i] = Instr::Slot {
            slot: SlotIdx(nslot),
        };
    });
    rejected(
        &base,
        "record slot out of range",
        &["operand out of range"],
        |b| {
            with_block(
                b,
                &[
                    Instr::Rec {
                        slot: SlotIdx(u32::MAX),
                    },
                    Instr::Has {},
                    Instr::Ret {},
                ],
            )
        },
    );
    let ctx = base.img.schema.context.1;
    rejected(&base, "field offset 0", &["operand out of range"], |b| {
        with_block(
            b,
            &[
                Instr::Rec { slot: SlotIdx(ctx) },
                Instr::Field { off: FieldOff(0) },
                Instr::Has {},
                Instr::Ret {},
            ],
        )
    });
    rejected(
        &base,
        "local out of range",
        &["operand out of range"],
        |b| {
            with_block(
                b,
                &[
                    Instr::Local { i: LocalIdx(0) },
                    Instr::Has {},
                    Instr::Ret {},
                ],
            )
        },
    );
    rejected(
        &base,
        "pattern out of range",
        &["operand out of range"],
        |b| {
            with_block(
                b,
                &[
                    Instr::Slot { slot: SlotIdx(0) },
                    Instr::Like { p: PatternIdx(99) },
                    Instr::Ret {},
                ],
            )
        },
    );
    rejected(
        &base,
        "method out of range",
        &["operand out of range"],
        |b| {
            with_block(
                b,
                &[
                    Instr::Slot { slot: SlotIdx(0) },
                    Instr::Method { m: MethodId(8) },
                    Instr::Ret {},
                ],
            )
        },
    );
    rejected(
        &base,
        "compare op out of range",
        &["operand out of range"],
        |b| {
            with_block(
                b,
                &[
                    Instr::Slot { slot: SlotIdx(0) },
                    Instr::Slot { slot: SlotIdx(0) },
                    Instr::Cmp { op: CmpOp(99) },
                    Instr::Ret {},
                ],
            )
        },
    );
    rejected(&base, "stack underflow", &["stack underflow"], |b| {
        with_block(b, &[Instr::Not {}, Instr::Ret {}])
    });
    rejected(&base, "binary op on one value", &["stack underflow"], |b| {
        with_block(
            b,
            &[
                Instr::Slot { slot: SlotIdx(0) },
                Instr::Add {},
                Instr::Ret {},
            ],
        )
    });
    rejected(
        &base,
        "`Ret` on an empty stack",
        &["stack underflow"],
        |b| with_block(b, &[Instr::Ret {}]),
    );
    rejected(
        &base,
        "`Ret` with two values",
        &["`Ret` with 2 values"],
        |b| {
            with_block(
                b,
                &[
                    Instr::Slot { slot: SlotIdx(0) },
                    Instr::Slot { slot: SlotIdx(0) },
                    Instr::Ret {},
                ],
            )
        },
    );
    rejected(&base, "early `Ret`", &["`Ret` before the end"], |b| {
        with_block(
            b,
            &[
                Instr::Slot { slot: SlotIdx(0) },
                Instr::Ret {},
                Instr::Slot { slot: SlotIdx(0) },
                Instr::Ret {},
            ],
        )
    });
    rejected(
        &base,
        "block not ending in `Ret`",
        &["does not end in `Ret`"],
        |b| with_block(b, &[Instr::Slot { slot: SlotIdx(0) }, Instr::Not {}]),
    );
    rejected(&base, "empty block", &["does not end in `Ret`"], |b| {
        with_block(b, &[])
    });
    rejected(
        &base,
        "inconsistent stack heights where paths join",
        &["inconsistent stack height"],
        |b| {
            let k = b.consts.len() as u32;
            b.consts.push(Val::Bool(true));
            with_block(
                b,
                &[
                    Instr::Const { k: ConstIdx(k) },
                    Instr::JumpIfFalseOrPop { off: JumpOff(2) },
                    Instr::Const { k: ConstIdx(k) },
                    Instr::Const { k: ConstIdx(k) },
                    Instr::Not {},
                    Instr::Ret {},
                ],
            )
        },
    );
    rejected(
        &base,
        "stack deeper than declared",
        &["stack deeper than declared"],
        |b| b.max_stack = 0,
    );
    rejected(
        &base,
        "stack limit above the maximum",
        &["limit exceeded"],
        |b| b.max_stack = MAX_STACK + 1,
    );
    rejected(
        &base,
        "locals limit above the maximum",
        &["limit exceeded"],
        |b| b.max_locals = u32::MAX,
    );
    rejected(&base, "block out of range", &["block out of range"], |b| {
        let r = b.rules.iter_mut().find(|r| r.when.is_some()).expect("when");
        if let Some(w) = &mut r.when {
            w.start = u32::MAX - 1;
        }
    });
    rejected(
        &base,
        "block longer than the code",
        &["block out of range"],
        |b| {
            let n = b.code.len() as u32;
            let r = b.rules.iter_mut().find(|r| r.when.is_some()).expect("when");
            if let Some(w) = &mut r.when {
                w.len = n + 1;
            }
        },
    );
    rejected(
        &base,
        "source map shorter than the code",
        &["source map"],
        |b| {
            b.spans.pop();
        },
    );
    rejected(
        &base,
        "source span in a missing file",
        &["file out of range"],
        |b| b.spans[0].file = 7,
    );

    // ---- strings and tables
    rejected(
        &base,
        "rule id string out of range",
        &["rule id", "out of range"],
        |b| b.rules[0].id = nstr,
    );
    rejected(
        &base,
        "require label string out of range",
        &["require label", "out of range"],
        |b| {
            let r = b
                .rules
                .iter_mut()
                .find(|r| !r.requires.is_empty())
                .expect("a rule with requires");
            r.requires[0].1 = u32::MAX;
        },
    );
    rejected(
        &base,
        "action name string out of range",
        &["action name"],
        |b| b.actions[0].name = nstr,
    );
    rejected(
        &base,
        "task name string out of range",
        &["task name"],
        |b| b.tasks[0].name = nstr + 5,
    );
    rejected(
        &base,
        "notify channel string out of range",
        &["notify channel"],
        |b| {
            let t = b
                .tasks
                .iter_mut()
                .find(|t| !t.notify.is_empty())
                .expect("a task with notify");
            t.notify[0] = nstr;
        },
    );
    rejected(
        &base,
        "enum variant string out of range",
        &["enum variant"],
        |b| b.schema.enums[0].1[0] = nstr,
    );
    rejected(
        &base,
        "record name string out of range",
        &["record name"],
        |b| b.schema.records[0].name = nstr,
    );
    rejected(
        &base,
        "entity name string out of range",
        &["entity name"],
        |b| b.schema.entities[0].name = nstr,
    );
    rejected(
        &base,
        "constant string out of range",
        &["constant string out of range"],
        |b| {
            let k = b
                .consts
                .iter()
                .position(|v| matches!(v, Val::Str(_)))
                .expect("a string constant");
            b.consts[k] = Val::Str(nstr);
        },
    );
    rejected(
        &base,
        "constant set out of range",
        &["constant set out of range"],
        |b| {
            b.consts.push(Val::Set(SetRef {
                arena: Arena::Const,
                start: 0,
                len: 1_000,
            }));
        },
    );
    rejected(
        &base,
        "constant set with overflowing range",
        &["constant set out of range"],
        |b| {
            b.consts.push(Val::Set(SetRef {
                arena: Arena::Const,
                start: u32::MAX,
                len: 2,
            }));
        },
    );
    rejected(
        &base,
        "request set in the constant pool",
        &["non-constant set"],
        |b| {
            b.consts.push(Val::Set(SetRef {
                arena: Arena::Request,
                start: 0,
                len: 0,
            }));
        },
    );
    rejected(&base, "nested set", &["nested"], |b| {
        b.const_sets.push(Val::Set(SetRef {
            arena: Arena::Const,
            start: 0,
            len: 0,
        }));
    });
    rejected(
        &base,
        "record in the constant pool",
        &["record in the constant pool"],
        |b| b.consts.push(Val::Rec(0)),
    );
    rejected(
        &base,
        "presence marker in the constant pool",
        &["record in the constant pool"],
        |b| b.consts.push(Val::Present),
    );
    rejected(
        &base,
        "string in a constant set out of range",
        &["out of range"],
        |b| b.const_sets.push(Val::Str(u32::MAX)),
    );
    rejected(&base, "empty pattern", &["empty pattern"], |b| {
        b.patterns.push(Vec::new())
    });
    rejected(&base, "pattern string out of range", &["pattern"], |b| {
        b.patterns.push(vec![nstr])
    });
    rejected(&base, "sensitivity out of range", &["sensitivity"], |b| {
        b.actions[0].sensitivity = 4
    });
    rejected(
        &base,
        "action resource type out of range",
        &["action resource type"],
        |b| b.actions[0].on.push(99),
    );

    // ---- schema
    rejected(
        &base,
        "built-in slot out of range",
        &["built-in slot"],
        |b| b.schema.special.now = nslot,
    );
    rejected(
        &base,
        "approvers slot out of range",
        &["built-in slot"],
        |b| b.schema.special.task_approvers = u32::MAX,
    );
    rejected(
        &base,
        "context record out of range",
        &["context or evidence"],
        |b| b.schema.context.0 = 99,
    );
    rejected(
        &base,
        "context slots out of range",
        &["context or evidence"],
        |b| b.schema.context.1 = nslot,
    );
    rejected(
        &base,
        "evidence slots overflowing",
        &["context or evidence"],
        |b| b.schema.evidence.1 = u32::MAX,
    );
    rejected(&base, "record field at offset 0", &["field offset"], |b| {
        let r = b
            .schema
            .records
            .iter_mut()
            .find(|r| !r.fields.is_empty())
            .expect("record");
        r.fields[0].slot = 0;
    });
    rejected(
        &base,
        "record field past its record",
        &["field offset"],
        |b| {
            let r = b
                .schema
                .records
                .iter_mut()
                .find(|r| !r.fields.is_empty())
                .expect("record");
            r.fields[0].slot = r.size;
        },
    );
    rejected(
        &base,
        "record referring to itself",
        &["refers to itself"],
        |b| {
            let i = b.schema.records.len() - 1;
            b.schema.records[i].fields[0].ty = TypeDesc::Record(i as u32);
        },
    );
    rejected(
        &base,
        "record referring to a later record",
        &["refers to itself or a later record"],
        |b| {
            assert!(b.schema.records.len() >= 2 && !b.schema.records[0].fields.is_empty());
            b.schema.records[0].fields[0].ty = TypeDesc::Optional(Box::new(TypeDesc::Record(1)));
        },
    );
    rejected(&base, "record out of range", &["record"], |b| {
        b.schema.entities[0].as_principal[1].ty = TypeDesc::Record(999);
    });
    rejected(&base, "enum out of range", &["enum out of range"], |b| {
        b.schema.entities[0].as_principal[1].ty = TypeDesc::Enum(999);
    });
    rejected(
        &base,
        "set of sets",
        &["unsupported set element type"],
        |b| {
            b.schema.entities[0].as_principal[1].ty =
                TypeDesc::Set(Box::new(TypeDesc::Set(Box::new(TypeDesc::Int))));
        },
    );
    rejected(
        &base,
        "type nested too deeply",
        &["nested too deeply"],
        |b| {
            let mut t = TypeDesc::Int;
            for _ in 0..40 {
                t = TypeDesc::Optional(Box::new(t));
            }
            b.schema.entities[0].as_principal[1].ty = t;
        },
    );
    rejected(
        &base,
        "entity field slot out of range",
        &["field slot"],
        |b| b.schema.entities[0].as_resource[0].slot = nslot,
    );
    rejected(
        &base,
        "entity field name out of range",
        &["field name"],
        |b| b.schema.entities[0].as_resource[0].name = nstr,
    );

    // ---- rules and the index
    rejected(
        &base,
        "rule task out of range",
        &["task out of range"],
        |b| {
            let n = b.tasks.len() as u32;
            b.rules[0].task = Some(n);
        },
    );
    rejected(
        &base,
        "rule entity type out of range",
        &["entity type out of range"],
        |b| {
            let r = b
                .rules
                .iter_mut()
                .find(|r| r.principal.is_some())
                .expect("typed rule");
            r.principal = Some(vec![u32::MAX]);
        },
    );
    rejected(
        &base,
        "rule action out of range",
        &["action out of range"],
        |b| b.rules[0].actions.push(77),
    );
    rejected(
        &base,
        "guard with requires",
        &["a guard with requires"],
        |b| {
            let req = b
                .rules
                .iter()
                .find_map(|r| r.requires.first().copied())
                .expect("a require");
            let g = b.rules.iter_mut().find(|r| r.forbid).expect("a guard");
            g.requires.push(req);
        },
    );
    rejected(&base, "too many requires", &["too many requires"], |b| {
        let r = b
            .rules
            .iter_mut()
            .find(|r| !r.requires.is_empty())
            .expect("requires");
        let q = r.requires[0];
        r.requires = vec![q; MAX_REQUIRES + 1];
    });
    rejected(&base, "index out of order", &["index"], |b| {
        assert!(b.index.len() >= 2);
        b.index.swap(0, 1);
    });
    rejected(&base, "duplicate index entry", &["index"], |b| {
        let e = b.index[0];
        b.index.insert(1, e);
    });
    rejected(
        &base,
        "rule missing from the index (empty range)",
        &["missing from the rule index"],
        |b| {
            let e = b
                .index
                .iter_mut()
                .find(|e| e.permits.1 > 0)
                .expect("permits");
            e.permits.1 = 0;
        },
    );
    rejected(
        &base,
        "rule missing from the index (no entry)",
        &["missing from the rule index"],
        |b| {
            let r = b
                .rules
                .iter()
                .position(|r| !r.forbid && r.task.is_some())
                .expect("task permit");
            let scope = b.rules[r].task.map_or(0, |t| t + 1);
            let action = b.rules[r].actions[0];
            b.index.retain(|e| (e.scope, e.action) != (scope, action));
        },
    );
    rejected(
        &base,
        "rule claims an action its index entry lacks",
        &["missing from the rule index"],
        |b| {
            let mut extra = b.actions[0].clone();
            extra.name = 0;
            b.actions.push(extra);
            let n = b.actions.len() as u32 - 1;
            b.rules[0].actions.push(n);
        },
    );
    rejected(
        &base,
        "index refers to a missing rule",
        &["missing rule"],
        |b| {
            // extend the last entry's permits (the last range of `index_rules`) by a rule that does not exist
            let n = b.rules.len() as u32;
            let last = b.index.len() - 1;
            assert_eq!(
                (b.index[last].permits.0 + b.index[last].permits.1) as usize,
                b.index_rules.len()
            );
            b.index_rules.push(n);
            b.index[last].permits.1 += 1;
        },
    );
    rejected(
        &base,
        "index entry disagrees with its rule",
        &["disagrees"],
        |b| {
            // list the last rule (a global guard) among the permits of the last entry (a task's)
            let n = b.rules.len() as u32 - 1;
            let last = b.index.len() - 1;
            assert!(b.rules[n as usize].forbid && b.index[last].scope > 0);
            assert!(b.index_rules.last().is_some_and(|r| *r < n));
            b.index_rules.push(n);
            b.index[last].permits.1 += 1;
        },
    );
    // entries that no rule refers to are only checked by the index pass
    fn extra_entry(b: &mut Image, guards: (u32, u32)) {
        let mut extra = b.actions[0].clone();
        extra.name = 0;
        b.actions.push(extra);
        let action = b.actions.len() as u32 - 1;
        let at = b
            .index
            .iter()
            .position(|e| e.scope > 0)
            .unwrap_or(b.index.len());
        b.index.insert(
            at,
            IndexEntry {
                scope: 0,
                action,
                guards,
                permits: (0, 0),
            },
        );
    }
    rejected(
        &base,
        "index range out of bounds",
        &["out of bounds"],
        |b| extra_entry(b, (u32::MAX, 2)),
    );
    rejected(&base, "index range past the end", &["out of bounds"], |b| {
        let n = b.index_rules.len() as u32;
        extra_entry(b, (n - 1, 2))
    });
    rejected(
        &base,
        "index range not ascending",
        &["not ascending"],
        |b| {
            let s = b
                .index_rules
                .windows(2)
                .position(|w| w[0] >= w[1])
                .expect("a descending pair across entries") as u32;
            extra_entry(b, (s, 2))
        },
    );
    rejected(
        &base,
        "index entry names an unrelated rule",
        &["disagrees"],
        |b| {
            let g = b
                .index_rules
                .iter()
                .position(|r| b.rules[*r as usize].forbid)
                .expect("a guard") as u32;
            extra_entry(b, (g, 1))
        },
    );
    rejected(
        &base,
        "index entry scope out of range",
        &["index entry out of range"],
        |b| {
            b.index.push(IndexEntry {
                scope: 99,
                action: 0,
                guards: (0, 0),
                permits: (0, 0),
            });
        },
    );
    rejected(
        &base,
        "index entry action out of range",
        &["index entry out of range"],
        |b| {
            let scope = b.tasks.len() as u32;
            b.index.push(IndexEntry {
                scope,
                action: 99,
                guards: (0, 0),
                permits: (0, 0),
            });
        },
    );
}

// ------------------------------------------------------------------ ill-typed bundles

/// The slot of `context.<name>` in `b`.
fn context_slot(b: &Image, name: &str) -> u32 {
    let (rec, base) = b.schema.context;
    let f = b.schema.records[rec as usize]
        .fields
        .iter()
        .find(|f| b.string(f.name) == name)
        .unwrap_or_else(|| panic!("no `context.{name}`"));
    base + f.slot
}

/// The position of the fused compare that reads `slot`.
fn fused_compare_on(b: &Image, slot: u32) -> (usize, ConstIdx) {
    b.code
        .iter()
        .enumerate()
        .find_map(|(pc, i)| match *i {
            Instr::CmpSlotConst { slot: s, k, .. } if s.0 == slot => Some((pc, k)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no fused compare on slot {slot}"))
}

/// A constant of `value`, appended to the pool.
fn push_const(b: &mut Image, value: Val) -> ConstIdx {
    b.consts.push(value);
    ConstIdx(b.consts.len() as u32 - 1)
}

/// A bundle whose checksum is repaired must still be well-typed to load:
/// verification assigns every slot the type its layout gives it, every
/// constant the type of its value, and checks every instruction's operands
/// and every block's result. Each class of ill-typed bundle is rejected,
/// and the message says what is wrong.
#[test]
fn ill_typed_bundles_with_valid_checksums_are_rejected() {
    let base = fixture("rotate_secrets");
    let img = &base.img;
    let risk = context_slot(img, "risk");
    let sp = img.schema.special.clone();
    // `forbid * when context.risk >= 80`, and `principal.team == "platform"`
    let (_, risk_k) = fused_compare_on(img, risk);
    assert_eq!(img.consts[risk_k.index()], Val::Int(80));
    let team_pc = img
        .code
        .iter()
        .position(|i| {
            matches!(i, Instr::CmpSlotConst { op, k, .. }
                if *op == crate::bytecode::cmp::EQ && img.string_of(*k) == Some("platform"))
        })
        .expect("the `team` compare");
    let Instr::CmpSlotConst { k: team_k, .. } = img.code[team_pc] else {
        unreachable!()
    };

    // ---- a constant's type changed under a comparison
    rejected(
        &base,
        "a guard's Int constant made a String",
        &["compares `Int` with `String`", "CmpSlotConst"],
        |b| b.consts[risk_k.index()] = Val::Str(0),
    );
    rejected(
        &base,
        "a permit's String constant made an Int",
        &["compares `String` with `Int`"],
        |b| b.consts[team_k.index()] = Val::Int(0),
    );
    rejected(
        &base,
        "a constant made a set",
        &["compares `Int` with a set of `String`"],
        |b| {
            b.const_sets.push(Val::Str(0));
            b.consts[risk_k.index()] = Val::Set(SetRef {
                arena: Arena::Const,
                start: b.const_sets.len() as u32 - 1,
                len: 1,
            });
        },
    );
    rejected(
        &base,
        "a constant set mixing types",
        &["a constant set mixes `String` and `Int`"],
        |b| {
            let start = b.const_sets.len() as u32;
            b.const_sets.extend([Val::Str(0), Val::Int(1)]);
            b.consts.push(Val::Set(SetRef {
                arena: Arena::Const,
                start,
                len: 2,
            }));
        },
    );
    rejected(
        &base,
        "an absent constant",
        &["absent value in the constant pool"],
        |b| b.consts[risk_k.index()] = Val::Absent,
    );

    // ---- slots laid over each other
    rejected(
        &base,
        "the context laid over `now`",
        &["`now` and `context` share slot"],
        |b| b.schema.context.1 = b.schema.special.now,
    );
    rejected(
        &base,
        "`action` laid over a context field",
        &["`action` and `context` share slot"],
        |b| {
            let risk = context_slot(b, "risk");
            b.schema.special.action = risk;
        },
    );
    rejected(
        &base,
        "two task slots sharing one",
        &["`task.name` and `task.id` share slot"],
        |b| b.schema.special.task_id = b.schema.special.task_name,
    );
    rejected(
        &base,
        "two principal fields sharing a slot",
        &["principal field `team` and principal field `env` share slot"],
        |b| {
            let e = &mut b.schema.entities[0].as_principal;
            e[2].slot = e[1].slot;
        },
    );
    rejected(
        &base,
        "a principal field over a resource field",
        &["share slot"],
        |b| {
            let e = &mut b.schema.entities[1];
            e.as_principal[1].slot = e.as_resource[1].slot;
        },
    );
    rejected(
        &base,
        "an entity's id field typed Int",
        &["the `id` field must be a `String`, not `Int`"],
        |b| b.schema.entities[0].as_principal[0].ty = TypeDesc::Int,
    );

    // ---- a slot read as a type it does not hold
    rejected(
        &base,
        "`context.risk` laid out as a String",
        &["compares `String` with `Int`"],
        |b| {
            let (rec, _) = b.schema.context;
            let f = b.schema.records[rec as usize]
                .fields
                .iter_mut()
                .find(|f| f.slot + b.schema.context.1 == risk)
                .expect("risk");
            f.ty = TypeDesc::String;
        },
    );
    rejected(
        &base,
        "a String slot read where an Int is expected",
        &["`Add` needs present `Int`, `Time`, `Duration` or `Decimal` operands, not `String`"],
        |b| {
            let one = push_const(b, Val::Int(1));
            with_block(
                b,
                &[
                    Instr::Slot {
                        slot: SlotIdx(sp.action),
                    },
                    Instr::Const { k: one },
                    Instr::Add {},
                    Instr::Const { k: one },
                    Instr::Cmp {
                        op: crate::bytecode::cmp::GT,
                    },
                    Instr::Ret {},
                ],
            )
        },
    );
    // ---- decimals: `Mul` takes one Decimal and one Int; no mixing in `Add`
    for (what, x, y, mnemonic, expect) in [
        (
            "a Decimal times a Decimal",
            Val::Dec(1),
            Val::Dec(2),
            Instr::Mul {},
            "`Mul` of `Decimal` and `Decimal`",
        ),
        (
            "an Int times an Int",
            Val::Int(1),
            Val::Int(2),
            Instr::Mul {},
            "`Mul` of `Int` and `Int`",
        ),
        (
            "a Decimal plus an Int",
            Val::Dec(1),
            Val::Int(2),
            Instr::Add {},
            "`Add` of `Decimal` and `Int`",
        ),
        (
            "a Duration times a Decimal",
            Val::Dur(1),
            Val::Dec(2),
            Instr::Mul {},
            "`Mul` needs present `Int` or `Decimal` operands, not `Duration`",
        ),
    ] {
        rejected(&base, what, &[expect], |b| {
            let (ka, kb) = (push_const(b, x), push_const(b, y));
            with_block(
                b,
                &[
                    Instr::Const { k: ka },
                    Instr::Const { k: kb },
                    mnemonic,
                    Instr::Const { k: ka },
                    Instr::Cmp {
                        op: crate::bytecode::cmp::EQ,
                    },
                    Instr::Ret {},
                ],
            )
        });
    }
    rejected(
        &base,
        "a record's presence marker read as a value",
        &["a record's presence marker, as a value"],
        |b| {
            let ctx = b.schema.context.1;
            with_block(
                b,
                &[
                    Instr::Slot { slot: SlotIdx(ctx) },
                    Instr::Has {},
                    Instr::Ret {},
                ],
            )
        },
    );
    rejected(
        &base,
        "a local read before it is set (a stale value of another block)",
        &["local 0 read before it is set"],
        |b| {
            b.max_locals = b.max_locals.max(1);
            with_block(
                b,
                &[
                    Instr::Local { i: LocalIdx(0) },
                    Instr::Has {},
                    Instr::Ret {},
                ],
            )
        },
    );

    // ---- paths meeting with different types
    rejected(
        &base,
        "a jump merging an Int and a String",
        &["disagree on a stack entry: `Int` and `String`"],
        |b| {
            let s = push_const(b, Val::Str(0));
            with_block(
                b,
                &[
                    Instr::Slot {
                        slot: SlotIdx(sp.task_approvals),
                    },
                    Instr::JumpIfPresentOrPop { off: JumpOff(1) },
                    Instr::Const { k: s },
                    Instr::Has {},
                    Instr::Ret {},
                ],
            )
        },
    );

    // ---- a condition that is not a Bool
    rejected(
        &base,
        "a block returning an Int as a condition",
        &["the condition is `Int`, not a `Bool`"],
        |b| {
            with_block(
                b,
                &[
                    Instr::Slot {
                        slot: SlotIdx(sp.task_approvals),
                    },
                    Instr::Ret {},
                ],
            )
        },
    );
    rejected(
        &base,
        "a block returning a possibly absent Bool",
        &["the condition is `Bool` (possibly absent), not a `Bool`"],
        |b| {
            let ticket = context_slot(b, "ticket");
            // `context.ticket?` holds a `Ticket`; make its first field a `Bool?`
            let (rec, _) = b.schema.context;
            let tf = b.schema.records[rec as usize]
                .fields
                .iter()
                .find(|f| b.string(f.name) == "ticket")
                .expect("ticket")
                .ty
                .clone();
            let TypeDesc::Optional(inner) = tf else {
                panic!("`ticket` is optional")
            };
            let TypeDesc::Record(t) = *inner else {
                panic!("`ticket` is a record")
            };
            b.schema.records[t as usize].fields[0].ty = TypeDesc::Bool;
            with_block(
                b,
                &[
                    Instr::Slot {
                        slot: SlotIdx(ticket + 1),
                    },
                    Instr::Ret {},
                ],
            )
        },
    );
    rejected(
        &base,
        "a jump on a String",
        &["`JumpIfFalseOrPop` needs a present `Bool`, not `String`"],
        |b| {
            with_block(
                b,
                &[
                    Instr::Slot {
                        slot: SlotIdx(sp.action),
                    },
                    Instr::JumpIfFalseOrPop { off: JumpOff(0) },
                    Instr::Has {},
                    Instr::Ret {},
                ],
            )
        },
    );
    // sanity: the same shapes, well-typed, load
    assert!(hostile(&base, |b| {
        let one = push_const(b, Val::Int(1));
        with_block(
            b,
            &[
                Instr::Slot {
                    slot: SlotIdx(sp.task_approvals),
                },
                Instr::Const { k: one },
                Instr::Add {},
                Instr::Const { k: one },
                Instr::Cmp {
                    op: crate::bytecode::cmp::GT,
                },
                Instr::Ret {},
            ],
        )
    })
    .is_ok());
}

/// Type-checking costs time and memory linear in the bundle: a block
/// crafted to keep very many jump targets pending, each with a deep stack,
/// and constant sets crafted to overlap (each scanned for its element
/// type) are rejected instead of making loading slow or unbounded.
#[test]
fn bundles_too_costly_to_verify_are_rejected() {
    let base = fixture("rotate_secrets");
    rejected(
        &base,
        "constant sets overlapping each other",
        &["constant sets overlap too much to verify"],
        |b| {
            let n = 2000u32;
            let start = b.const_sets.len() as u32;
            b.const_sets.extend((0..n).map(|i| Val::Int(i64::from(i))));
            for i in 0..n {
                b.consts.push(Val::Set(SetRef {
                    arena: Arena::Const,
                    start: start + i,
                    len: n - i,
                }));
            }
        },
    );
    rejected(
        &base,
        "many pending jump targets with deep stacks",
        &["block too complex to verify"],
        |b| {
            let t = push_const(b, Val::Bool(true));
            b.max_stack = MAX_STACK;
            let depth = MAX_STACK as usize - 1;
            let jumps = (1 << 22) / depth + 100;
            let mut code = vec![Instr::Const { k: t }; depth];
            for i in 0..jumps {
                code.push(Instr::Const { k: t });
                // each lands on its own instruction after the last jump
                let off = 2 * (jumps - i - 1) + i;
                code.push(Instr::JumpIfTrueOrPop {
                    off: JumpOff(off as u32),
                });
            }
            code.extend(std::iter::repeat_n(Instr::Not {}, jumps));
            code.push(Instr::Ret {});
            with_block(b, &code);
        },
    );
}

/// Comparing values of different types is an evaluation error, never an
/// answer, even in a bundle edited in memory past verification: a guard
/// with such a comparison denies, and a permit with one does not apply.
#[test]
fn a_comparison_of_mismatched_types_is_an_evaluation_error() {
    let base = fixture("rotate_secrets");
    let reqs = requests("rotate_secrets");
    let allow = reqs
        .iter()
        .map(|r| base.bind_str(r).expect("binds"))
        .find(|r| base.decide(r).is_allow())
        .expect("an allowed request");
    let risk = context_slot(&base.img, "risk");
    let team = base
        .img
        .code
        .iter()
        .find_map(|i| match *i {
            Instr::CmpSlotConst { slot, k, .. } if base.img.string_of(k) == Some("platform") => {
                Some(slot)
            }
            _ => None,
        })
        .expect("the `team` compare");
    let edit = |forbid: bool, code: Vec<Instr>| {
        let mut b = base.clone();
        let start = b.img.code.len() as u32;
        b.img.spans.extend(code.iter().map(|_| SrcSpan::default()));
        let len = code.len() as u32;
        b.img.code.extend(code);
        for r in b.img.rules.iter_mut().filter(|r| r.forbid == forbid) {
            if r.when.is_some() {
                r.when = Some(Block {
                    start,
                    len,
                    span: SrcSpan::default(),
                });
            }
        }
        b
    };
    // `context.risk == "platform"` in every guard: without the error, the
    // guards would answer false and the request would be allowed.
    let k_str = base
        .img
        .consts
        .iter()
        .position(|v| matches!(v, Val::Str(_)))
        .expect("a string constant") as u32;
    let b = edit(
        true,
        vec![
            Instr::CmpSlotConst {
                op: crate::bytecode::cmp::EQ,
                slot: SlotIdx(risk),
                k: ConstIdx(k_str),
            },
            Instr::Ret {},
        ],
    );
    let d = b.decide(&allow);
    assert_eq!(d.effect, crate::decision::Effect::Deny);
    assert_eq!(d.error, Some(crate::val::EvalError::Type));
    // `principal.team != 80` in every permit: without the error, they would
    // answer true and apply.
    let k_int = base
        .img
        .consts
        .iter()
        .position(|v| matches!(v, Val::Int(_)))
        .expect("an int constant") as u32;
    let b = edit(
        false,
        vec![
            Instr::CmpSlotConst {
                op: crate::bytecode::cmp::NE,
                slot: team,
                k: ConstIdx(k_int),
            },
            Instr::Ret {},
        ],
    );
    let d = b.decide(&allow);
    assert!(!d.is_allow(), "{:?}", d.effect);
}

#[test]
fn hostile_byte_level_encodings_are_rejected() {
    let base = fixture("rotate_secrets");
    let bytes = base.to_bytes();
    // the body starts with the package name: a length then bytes
    let name_len = u32::from_le_bytes(
        bytes[HEADER_LEN..HEADER_LEN + 4]
            .try_into()
            .expect("4 bytes"),
    ) as usize;
    assert_eq!(
        &bytes[HEADER_LEN + 4..HEADER_LEN + 4 + name_len],
        base.img.name.as_bytes()
    );
    // invalid UTF-8 in the name
    let mut bad = bytes.clone();
    bad[HEADER_LEN + 4] = 0xff;
    fix_checksum(&mut bad);
    assert!(load(&bad).expect_err("utf-8").message().contains("UTF-8"));
    // a huge length
    let mut bad = bytes.clone();
    bad[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fix_checksum(&mut bad);
    assert!(load(&bad)
        .expect_err("length")
        .message()
        .contains("exceeds the bundle"));
    // an unknown opcode: find the code section through a re-encoding of a known bundle
    let mut b = base.img.clone();
    b.code.push(Instr::Ret {});
    b.spans.push(SrcSpan::default());
    let with_ret = b.to_bytes();
    // the extra `Ret` (0x3f) is the first byte that differs
    let at = with_ret
        .iter()
        .zip(&bytes)
        .skip(HEADER_LEN)
        .position(|(a, b)| a != b)
        .expect("differs")
        + HEADER_LEN;
    // (the code length changed first; find the appended opcode)
    let code_len_at = at;
    let old_len = u32::from_le_bytes(bytes[code_len_at..code_len_at + 4].try_into().expect("4"));
    let op_at = code_len_at + 4 + old_len as usize;
    assert_eq!(with_ret[op_at], 0x3f);
    let mut bad = with_ret.clone();
    bad[op_at] = 0xee;
    fix_checksum(&mut bad);
    let e = load(&bad).expect_err("opcode");
    assert!(e.message().contains("unknown opcode 0xee"), "{e}");
    // a truncated instruction: give the code section one byte of an operand-taking opcode
    let mut bad = with_ret.clone();
    bad[op_at] = 0x01; // Const needs four operand bytes
    fix_checksum(&mut bad);
    let e = load(&bad).expect_err("truncated instruction");
    assert!(e.message().contains("truncated instruction"), "{e}");
}

/// Single-byte changes of the body (at the offsets of [`offsets`]), with
/// the checksum recomputed, are rejected or yield a bundle that still
/// decides every request without panicking.
#[test]
fn body_corruptions_with_valid_checksums_never_panic() {
    let base = fixture("rotate_secrets");
    let reqs = requests("rotate_secrets");
    let bytes = base.to_bytes();
    let mut accepted = 0;
    for i in offsets(&bytes, 256) {
        if i < HEADER_LEN {
            continue;
        }
        for v in [
            0x00u8,
            0x01,
            0x02,
            0x07,
            0x3f,
            0x80,
            0xff,
            bytes[i] ^ 0x01,
            bytes[i].wrapping_add(1),
        ] {
            if v == bytes[i] {
                continue;
            }
            let mut bad = bytes.clone();
            bad[i] = v;
            fix_checksum(&mut bad);
            if let Ok(b) = load(&bad) {
                accepted += 1;
                if b.img.schema.slot_count > 100_000 {
                    // see `a_huge_slot_count_is_rejected_at_load`: binding would
                    // allocate slot_count values (up to ~100 GB) and abort
                    continue;
                }
                let r = catch_unwind(AssertUnwindSafe(|| {
                    for r in &reqs {
                        let _ = b.decide_json(r);
                        if let Ok(bound) = b.bind_str(r) {
                            let _ = b.explain(&bound);
                        }
                    }
                    let _ = b.disassemble(None);
                }));
                assert!(
                    r.is_ok(),
                    "byte {i} set to {v:#04x}: a loaded bundle panicked"
                );
            }
        }
    }
    // plenty of bytes are free (span offsets, string contents): some must load
    assert!(accepted > 0);
}

/// `slot_count` itself is verified: a valid-checksum bundle claiming about
/// 10^9 slots would otherwise make every `bind_str` ask for ~25 GB.
#[test]
fn a_huge_slot_count_is_rejected_at_load() {
    let base = fixture("rotate_secrets");
    let needed = base.img.schema.slot_count;
    let e = hostile(&base, |b| b.schema.slot_count = 0x3f00_0000)
        .expect_err("a slot count far beyond the schema's fields must be rejected");
    assert!(e.message().contains("slot"), "{e}");
    // a few spare slots are harmless but should not be needed by the compiler
    assert!(needed < 1_000);
}

/// A loaded bundle's contents are private, but the VM does not rely on
/// that alone: with every invariant the loader checked broken in memory,
/// deciding, explaining and disassembling must still not panic (the VM
/// "never panics if they are wrong").
fn unverified_corruptions(check_disassembly: bool) -> Vec<String> {
    let base = fixture("rotate_secrets");
    let text = base.img.sources[0].clone();
    let reqs = requests("rotate_secrets");
    let bound: Vec<_> = reqs.iter().filter_map(|r| base.bind_str(r).ok()).collect();
    let nstr = base.img.strings.len() as u32;
    type M = Box<dyn Fn(&mut Image)>;
    let mutations: Vec<(&str, M)> = vec![
        ("code emptied", Box::new(|b| b.code.clear())),
        ("spans emptied", Box::new(|b| b.spans.clear())),
        ("consts emptied", Box::new(|b| b.consts.clear())),
        ("const_sets emptied", Box::new(|b| b.const_sets.clear())),
        ("strings emptied", Box::new(|b| b.strings.clear())),
        ("patterns emptied", Box::new(|b| b.patterns.clear())),
        ("tasks emptied", Box::new(|b| b.tasks.clear())),
        ("actions emptied", Box::new(|b| b.actions.clear())),
        ("index_rules emptied", Box::new(|b| b.index_rules.clear())),
        ("rules emptied", Box::new(|b| b.rules.clear())),
        ("files emptied", Box::new(|b| b.files.clear())),
        ("records emptied", Box::new(|b| b.schema.records.clear())),
        ("entities emptied", Box::new(|b| b.schema.entities.clear())),
        ("enums emptied", Box::new(|b| b.schema.enums.clear())),
        ("slot_count 0", Box::new(|b| b.schema.slot_count = 0)),
        ("max_stack 0", Box::new(|b| b.max_stack = 0)),
        ("max_locals 0", Box::new(|b| b.max_locals = 0)),
        (
            "every jump far",
            Box::new(|b| {
                for i in &mut b.code {
                    if let Instr::JumpIfFalseOrPop { off }
                    | Instr::JumpIfTrueOrPop { off }
                    | Instr::JumpIfPresentOrPop { off } = i
                    {
                        *off = JumpOff(u32::MAX);
                    }
                }
            }),
        ),
        (
            "every instruction a Ret",
            Box::new(|b| b.code.iter_mut().for_each(|i| *i = Instr::Ret {})),
        ),
        (
            "every instruction a Not",
            Box::new(|b| b.code.iter_mut().for_each(|i| *i = Instr::Not {})),
        ),
        (
            "every instruction an Add",
            Box::new(|b| b.code.iter_mut().for_each(|i| *i = Instr::Add {})),
        ),
        (
            "every instruction an In",
            Box::new(|b| b.code.iter_mut().for_each(|i| *i = Instr::In {})),
        ),
        (
            "every instruction a Field",
            Box::new(|b| {
                b.code.iter_mut().for_each(|i| {
                    *i = Instr::Field {
                        off: FieldOff(u32::MAX),
                    }
                })
            }),
        ),
        (
            "every instruction a Method",
            Box::new(|b| {
                b.code
                    .iter_mut()
                    .for_each(|i| *i = Instr::Method { m: MethodId(99) })
            }),
        ),
        (
            "every instruction SetLocal",
            Box::new(|b| {
                b.code.iter_mut().for_each(|i| {
                    *i = Instr::SetLocal {
                        i: LocalIdx(u32::MAX),
                    }
                })
            }),
        ),
        (
            "blocks at the end of the address space",
            Box::new(|b| {
                for r in &mut b.rules {
                    for blk in r
                        .when
                        .iter_mut()
                        .chain(r.unless.iter_mut())
                        .chain(r.requires.iter_mut().map(|(b, _)| b))
                    {
                        blk.start = u32::MAX - 1;
                        blk.len = u32::MAX;
                    }
                }
            }),
        ),
        (
            "spans with huge offsets",
            Box::new(|b| {
                for s in &mut b.spans {
                    s.start = u32::MAX;
                    s.end = 3;
                    s.file = u32::MAX;
                }
            }),
        ),
        (
            "rule ids out of range",
            Box::new(move |b| b.rules.iter_mut().for_each(|r| r.id = nstr + 1)),
        ),
        (
            "require labels out of range",
            Box::new(move |b| {
                b.rules
                    .iter_mut()
                    .for_each(|r| r.requires.iter_mut().for_each(|q| q.1 = u32::MAX))
            }),
        ),
        (
            "requires beyond 64",
            Box::new(|b| {
                b.rules.iter_mut().for_each(|r| {
                    if let Some(q) = r.requires.first().copied() {
                        r.requires = vec![q; 100];
                    }
                })
            }),
        ),
        (
            "rule tasks out of range",
            Box::new(|b| b.rules.iter_mut().for_each(|r| r.task = Some(u32::MAX))),
        ),
        (
            "ttl extremes",
            Box::new(|b| {
                b.rules
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, r)| r.ttl = Some(if i % 2 == 0 { i64::MAX } else { i64::MIN }))
            }),
        ),
        (
            "index ranges huge",
            Box::new(|b| {
                b.index.iter_mut().for_each(|e| {
                    e.guards = (u32::MAX, u32::MAX);
                    e.permits = (u32::MAX - 1, 5);
                })
            }),
        ),
        (
            "index rules out of range",
            Box::new(|b| b.index_rules.iter_mut().for_each(|r| *r = u32::MAX)),
        ),
        (
            "constant sets huge",
            Box::new(|b| {
                b.consts.push(Val::Set(SetRef {
                    arena: Arena::Const,
                    start: u32::MAX,
                    len: u32::MAX,
                }))
            }),
        ),
        (
            "constants replaced by sets",
            Box::new(|b| {
                b.consts.iter_mut().for_each(|c| {
                    *c = Val::Set(SetRef {
                        arena: Arena::Request,
                        start: u32::MAX,
                        len: u32::MAX,
                    })
                })
            }),
        ),
        (
            "constants replaced by records",
            Box::new(|b| b.consts.iter_mut().for_each(|c| *c = Val::Rec(u32::MAX))),
        ),
        (
            "index scopes shifted",
            Box::new(|b| b.index.iter_mut().for_each(|e| e.scope = u32::MAX)),
        ),
        (
            "task notify out of range",
            Box::new(|b| b.tasks.iter_mut().for_each(|t| t.notify = vec![u32::MAX])),
        ),
        (
            "record cycle",
            Box::new(|b| {
                let n = b.schema.records.len() as u32 - 1;
                for r in &mut b.schema.records {
                    for f in &mut r.fields {
                        f.ty = TypeDesc::Record(n);
                        f.slot = u32::MAX;
                    }
                }
            }),
        ),
        (
            "entity slots huge",
            Box::new(|b| {
                for e in &mut b.schema.entities {
                    for f in e.as_principal.iter_mut().chain(e.as_resource.iter_mut()) {
                        f.slot = u32::MAX;
                    }
                }
            }),
        ),
        (
            "special slots huge",
            Box::new(|b| {
                let s = &mut b.schema.special;
                s.now = u32::MAX;
                s.task_approvers = u32::MAX;
                b.schema.context.1 = u32::MAX;
            }),
        ),
    ];
    let mut panics = Vec::new();
    for (what, m) in &mutations {
        let mut b = base.clone();
        m(&mut b.img);
        let r = catch_unwind(AssertUnwindSafe(|| {
            for req in &bound {
                let d = b.decide(req);
                let _ = d.to_record();
                let _ = b.explain(req);
            }
            for req in &reqs {
                let _ = b.decide_json(req);
            }
        }));
        if r.is_err() {
            panics.push(format!("{what}: decide/explain"));
        }
        if !check_disassembly {
            continue;
        }
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _ = b.disassemble(Some(&|_| Some(text.clone())));
            let _ = b.disassemble(None);
        }));
        if r.is_err() {
            panics.push(format!("{what}: disassemble"));
        }
    }
    panics
}

#[test]
fn unverified_in_memory_corruption_never_panics_the_vm() {
    let panics = unverified_corruptions(false);
    assert!(
        panics.is_empty(),
        "panics on unverified bundles:\n{}",
        panics.join("\n")
    );
}

/// `disassemble` treats the fields of an in-memory bundle as untrusted too:
/// no unchecked `u32` arithmetic (`start + len`, `base + slot`) and no
/// endless walk of a record laid out inside itself.
#[test]
fn unverified_in_memory_corruption_never_panics_the_disassembler() {
    let panics = unverified_corruptions(true);
    assert!(
        panics.is_empty(),
        "panics on unverified bundles:\n{}",
        panics.join("\n")
    );
}

/// `from_image` verifies exactly what loading verifies: every hostile image
/// that loading rejects is rejected before it is ever encoded, and a valid
/// one makes the same bundle as its bytes.
#[cfg(feature = "compiler")]
#[test]
fn from_image_verifies_like_loading() {
    let base = fixture("rotate_secrets");
    let same = Bundle::from_image(base.img.clone()).expect("a valid image");
    assert_eq!(same, base);
    assert_eq!(same.checksum(), base.checksum());
    let mut bad = base.img.clone();
    bad.schema.slot_count += 1;
    let e = Bundle::from_image(bad).expect_err("a hostile image");
    assert_eq!(e.kind, BundleErrorKind::Invalid);
    let mut bad = base.img.clone();
    bad.consts.push(Val::Net(crate::value::Cidr {
        addr: std::net::IpAddr::from([10, 0, 0, 1]),
        prefix: 8,
    }));
    let e = Bundle::from_image(bad).expect_err("host bits in a network constant");
    assert!(e.message().contains("invalid network constant"), "{e}");
}

impl Image {
    /// The text of constant `k`, if it is a string.
    fn string_of(&self, k: ConstIdx) -> Option<&str> {
        match self.consts.get(k.index()) {
            Some(Val::Str(s)) => Some(self.string(*s)),
            _ => None,
        }
    }
}

#[test]
fn tasks_describe_what_a_decision_service_needs() {
    let b = fixture("breakglass");
    let names: Vec<&str> = b.tasks().map(|t| t.name).collect();
    assert_eq!(names, ["incident_response"]);
    let t = b.task("incident_response").expect("declared");
    assert_eq!(t.ttl_micros, Some(3_600_000_000));
    assert_eq!(t.approvals, 2);
    assert!(t.breakglass);
    assert_eq!(t.principal_types, Some(vec!["Operator"]));
    assert_eq!(
        t.granted_by,
        [GrantingAction {
            name: "tasks.approve_incident",
            resource_types: vec!["TaskRequest"],
        }]
    );
    assert!(b.task("incident").is_none());
    assert!(b.entity_types().any(|e| e == "Engineer"));
}
