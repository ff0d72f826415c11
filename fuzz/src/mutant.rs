//! Target `bundle_mutant`: structured mutations of the fixture bundles.
//!
//! The fuzzer's bytes are read (with `arbitrary`) as a [`Plan`]: a fixture
//! and either edits of its encoded bytes (at offsets aimed at one section,
//! checksum repaired) or edits of its decoded values (loaded through
//! `Bundle::from_image`, which verifies exactly as loading does). Every
//! mutant that loads must re-encode and load back equal, and survive the
//! fixture's example requests. Beyond that, what a mutant may decide
//! depends on the edits ([`Class`]):
//!
//! - an edit that changes no decision by design (spans, source texts)
//!   must leave every decision as it was;
//! - an edit that makes the bundle inconsistent (a rule index that no
//!   longer matches its rules, a rule's actions or task changed without
//!   the index, stack limits) or ill-typed (a constant or a request field
//!   of another type) must not make the bundle allow a request the
//!   original does not allow: the verifier rejects such a bundle, or
//!   evaluation fails closed;
//! - any other edit writes a different, valid policy, which may decide
//!   anything: only the checks above apply. So does a constant that
//!   becomes absent or a field that becomes optional (`T` to `T?`):
//!   comparisons accept optional operands, and are false when absent.
//!
//! Only plans of one such edit (plus any neutral ones) are held to the
//! allow rule: two edits together can write a legitimately different
//! policy (a rule's new action and its index entry).

use crate::{decide_checked, exercise_bundle, loaded, Loaded};
use arbitrary::Arbitrary;
use jitp_runtime::decision::Effect;
use jitp_runtime::format::{
    checksum, encode_all, Arena, Image, Instr, SetRef, TypeDesc, Val, HEADER_LEN,
};
use jitp_runtime::value::Cidr;
use jitp_runtime::Bundle;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

/// What a mutant is held to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Class {
    /// A different, valid policy: no panic, round trip, consistent APIs.
    Free,
    /// Ill-typed: never allows what the original does not, once the
    /// verifier type-checks bundles (see [`typed_verifier`]).
    IllTyped,
    /// Inconsistent with itself (the rule index, stack limits): never
    /// allows what the original does not.
    Inconsistent,
    /// Changes nothing a decision depends on: every decision is unchanged.
    Neutral,
}

/// Whether ill-typed mutants are held to the no-new-allow rule: unless
/// `JITP_FUZZ_TYPED_VERIFIER=0`. The verifier type-checks every block and
/// the VM refuses to compare values of different kinds, so they must
/// never allow (fuzz/regressions/bundle_mutant/ holds the input that once
/// did); the variable only helps to look past a regression in a long run.
pub fn typed_verifier() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("JITP_FUZZ_TYPED_VERIFIER").map_or(true, |v| v != "0"))
}

/// A mutation of one fixture.
#[derive(Arbitrary, Debug)]
pub struct Plan {
    /// Which fixture (modulo their number).
    pub fixture: u8,
    /// What to change.
    pub mutation: Mutation,
}

/// Edits of the bytes or of the decoded values.
#[derive(Arbitrary, Debug)]
pub enum Mutation {
    /// Edits of the encoded bundle; the checksum is repaired afterwards.
    Bytes(Vec<ByteEdit>),
    /// Edits of the decoded image.
    Values(Vec<ValueEdit>),
}

/// Where in the body a byte edit lands.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Region {
    /// Everything before the bytecode: strings, schema, constants,
    /// patterns, actions, tasks, rules, the index.
    Tables,
    /// The bytecode (its length and instructions).
    Code,
    /// The spans, file names, sources and stack limits after the code.
    Tail,
    /// Anywhere in the body.
    Body,
}

/// One byte edit, at `at` modulo the region's length.
#[derive(Arbitrary, Debug)]
pub struct ByteEdit {
    /// The region.
    pub region: Region,
    /// The offset in it.
    pub at: u32,
    /// What to do there.
    pub op: ByteOp,
}

/// A byte-level change.
#[derive(Arbitrary, Debug)]
pub enum ByteOp {
    /// Set the byte.
    Set(u8),
    /// Flip bits.
    Xor(u8),
    /// Add to the byte.
    Add(u8),
    /// Overwrite four bytes with a little-endian `u32`.
    U32(u32),
    /// Overwrite four bytes with a boundary value.
    Boundary(u8),
    /// Insert a byte.
    Insert(u8),
    /// Remove up to this many bytes.
    Remove(u8),
    /// Copy up to `len` bytes from another offset of the body over these.
    Copy {
        /// Source offset (modulo the body length).
        from: u32,
        /// Length.
        len: u8,
    },
}

/// A value for a constant or a constant set element.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AnyVal {
    /// `Absent`.
    Absent,
    /// `Present`.
    Present,
    /// `Bool`.
    Bool(bool),
    /// `Int`.
    Int(i64),
    /// `Str` (a string id).
    Str(u32),
    /// `Time`.
    Time(i64),
    /// `Dur`.
    Dur(i64),
    /// An IPv4 address.
    Ip4(u32),
    /// An IPv6 address.
    Ip6(u128),
    /// An IPv4 network.
    Net4(u32, u8),
    /// `Enum`.
    Enum(u32),
    /// A set in the constant arena.
    ConstSet(u32, u32),
    /// A set in the request arena (never in a valid bundle's constants).
    RequestSet(u32, u32),
    /// `Rec`.
    Rec(u32),
}

impl AnyVal {
    fn val(self) -> Val {
        match self {
            AnyVal::Absent => Val::Absent,
            AnyVal::Present => Val::Present,
            AnyVal::Bool(b) => Val::Bool(b),
            AnyVal::Int(i) => Val::Int(i),
            AnyVal::Str(s) => Val::Str(s),
            AnyVal::Time(t) => Val::Time(t),
            AnyVal::Dur(d) => Val::Dur(d),
            AnyVal::Ip4(a) => Val::Ip(IpAddr::V4(Ipv4Addr::from(a))),
            AnyVal::Ip6(a) => Val::Ip(IpAddr::V6(Ipv6Addr::from(a))),
            AnyVal::Net4(a, prefix) => Val::Net(Cidr {
                addr: IpAddr::V4(Ipv4Addr::from(a)),
                prefix,
            }),
            AnyVal::Enum(e) => Val::Enum(e),
            AnyVal::ConstSet(start, len) => Val::Set(SetRef {
                arena: Arena::Const,
                start,
                len,
            }),
            AnyVal::RequestSet(start, len) => Val::Set(SetRef {
                arena: Arena::Request,
                start,
                len,
            }),
            AnyVal::Rec(r) => Val::Rec(r),
        }
    }
}

/// A request field type.
#[derive(Arbitrary, Debug, Clone)]
pub enum AnyTy {
    /// Bool.
    Bool,
    /// Int.
    Int,
    /// String.
    String,
    /// Time.
    Time,
    /// Duration.
    Duration,
    /// Ip.
    Ip,
    /// Net.
    Net,
    /// Enum.
    Enum(u32),
    /// Set.
    Set(Box<AnyTy>),
    /// Optional.
    Optional(Box<AnyTy>),
    /// Record.
    Record(u32),
}

impl AnyTy {
    fn ty(&self) -> TypeDesc {
        match self {
            AnyTy::Bool => TypeDesc::Bool,
            AnyTy::Int => TypeDesc::Int,
            AnyTy::String => TypeDesc::String,
            AnyTy::Time => TypeDesc::Time,
            AnyTy::Duration => TypeDesc::Duration,
            AnyTy::Ip => TypeDesc::Ip,
            AnyTy::Net => TypeDesc::Net,
            AnyTy::Enum(e) => TypeDesc::Enum(*e),
            AnyTy::Set(t) => TypeDesc::Set(Box::new(t.ty())),
            AnyTy::Optional(t) => TypeDesc::Optional(Box::new(t.ty())),
            AnyTy::Record(r) => TypeDesc::Record(*r),
        }
    }
}

/// Which list of field layouts.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Fields {
    /// A record's fields.
    Record,
    /// An entity's fields as principal.
    Principal,
    /// An entity's fields as resource.
    Resource,
}

/// An edit of a rule that writes another policy.
#[derive(Arbitrary, Debug)]
pub enum RuleEdit {
    /// Flip permit/forbid.
    Forbid,
    /// Set the principal types.
    Principal(Option<Vec<u32>>),
    /// Set the resource types.
    Resource(Option<Vec<u32>>),
    /// Set the ttl.
    Ttl(Option<i64>),
    /// Drop the `when`.
    DropWhen,
    /// Drop the `unless`.
    DropUnless,
    /// Drop a `require`.
    DropRequire(u8),
    /// Move a block (`0` when, `1` unless, else a require).
    Block {
        /// Which block.
        which: u8,
        /// New start.
        start: u32,
        /// New length.
        len: u32,
    },
    /// Set the label of a `require`.
    Label(u8, u32),
}

/// One edit of the decoded image.
#[derive(Arbitrary, Debug)]
pub enum ValueEdit {
    /// Replace a constant (ill-typed when its kind changes).
    Const(u16, AnyVal),
    /// Replace an element of a constant set (ill-typed when its kind changes).
    ConstSetElem(u16, AnyVal),
    /// Change a request field's type.
    FieldType {
        /// Which list.
        list: Fields,
        /// Which record or entity.
        owner: u16,
        /// Which field.
        field: u16,
        /// The new type.
        ty: AnyTy,
    },
    /// Move a request field to another slot.
    FieldSlot {
        /// Which list.
        list: Fields,
        /// Which record or entity.
        owner: u16,
        /// Which field.
        field: u16,
        /// The new slot.
        slot: u32,
    },
    /// Change one number of an index entry (scope, action, guards, permits).
    Index(u16, u8, u32),
    /// Change a rule number of the index.
    IndexRule(u16, u32),
    /// Remove an index entry.
    IndexDrop(u16),
    /// Add an action to a rule (or remove it, if it has it), index untouched.
    RuleAction(u16, u32),
    /// Set a rule's task, index untouched.
    RuleTask(u16, Option<u32>),
    /// Set a limit: the deepest stack (`true`) or the locals.
    Limit(bool, u32),
    /// Any other change of a rule.
    Rule(u16, RuleEdit),
    /// Change one byte of an instruction's encoding.
    InstrByte(u16, u8, u8),
    /// Replace an instruction with another of the same bundle.
    InstrCopy(u16, u16),
    /// Change a built-in slot (`now`, `action`, the task's values).
    Special(u8, u32),
    /// Change a string.
    Str(u16, String),
    /// Change a piece of a `like` pattern.
    Pattern(u16, u8, u32),
    /// Change an action's sensitivity.
    Sensitivity(u16, u8),
    /// Change a task's ttl.
    TaskTtl(u16, Option<i64>),
    /// Change one number of a span (of an instruction or a rule).
    Span(u16, u8, u32, bool),
    /// Replace a source text.
    Source(u8, String),
}

/// Picks an element of `v` by `i`, if there is one.
fn pick<T>(v: &mut [T], i: impl Into<u64>) -> Option<&mut T> {
    let n = v.len() as u64;
    if n == 0 {
        return None;
    }
    v.get_mut((i.into() % n) as usize)
}

fn set_span(s: &mut jitp_runtime::format::SrcSpan, which: u8, v: u32) {
    match which % 5 {
        0 => s.file = v,
        1 => s.start = v,
        2 => s.end = v,
        3 => s.line = v,
        _ => s.col = v,
    }
}

impl ValueEdit {
    /// Applies the edit; returns what the mutant is held to (`None` if
    /// the edit did not apply, e.g. an empty table).
    fn apply(&self, img: &mut Image) -> Option<Class> {
        use Class::*;
        match self {
            ValueEdit::Const(i, v) | ValueEdit::ConstSetElem(i, v) => {
                let table = if matches!(self, ValueEdit::Const(..)) {
                    &mut img.consts
                } else {
                    &mut img.const_sets
                };
                let constant = matches!(self, ValueEdit::Const(..));
                let slot = pick(table, *i)?;
                let new = v.val();
                // A constant that becomes absent turns a `T` into a `T?`,
                // which comparisons, `in`, `like` and the predicates accept
                // (and find false): a valid policy, just another one. An
                // absent set element is never valid (E0306).
                let retyped = std::mem::discriminant(slot) != std::mem::discriminant(&new)
                    && !(constant && new == Val::Absent);
                *slot = new;
                Some(if retyped { IllTyped } else { Free })
            }
            ValueEdit::FieldType {
                list,
                owner,
                field,
                ty,
            } => {
                let f = fields(img, *list, *owner, *field)?;
                let new = ty.ty();
                let class = if f.ty == new {
                    Neutral
                } else if new == TypeDesc::Optional(Box::new(f.ty.clone())) {
                    // `T` to `T?`: the request may now leave the field out,
                    // and comparisons with it are then false. Valid.
                    Free
                } else {
                    IllTyped
                };
                f.ty = new;
                Some(class)
            }
            ValueEdit::FieldSlot {
                list,
                owner,
                field,
                slot,
            } => {
                fields(img, *list, *owner, *field)?.slot = *slot;
                Some(Free)
            }
            ValueEdit::Index(i, which, v) => {
                let e = pick(&mut img.index, *i)?;
                match which % 6 {
                    0 => e.scope = *v,
                    1 => e.action = *v,
                    2 => e.guards.0 = *v,
                    3 => e.guards.1 = *v,
                    4 => e.permits.0 = *v,
                    _ => e.permits.1 = *v,
                }
                Some(Inconsistent)
            }
            ValueEdit::IndexRule(i, v) => {
                *pick(&mut img.index_rules, *i)? = *v;
                Some(Inconsistent)
            }
            ValueEdit::IndexDrop(i) => {
                if img.index.is_empty() {
                    return None;
                }
                img.index.remove(usize::from(*i) % img.index.len());
                Some(Inconsistent)
            }
            ValueEdit::RuleAction(r, a) => {
                let rule = pick(&mut img.rules, *r)?;
                match rule.actions.binary_search(a) {
                    Ok(at) => {
                        rule.actions.remove(at);
                    }
                    Err(at) => rule.actions.insert(at, *a),
                }
                Some(Inconsistent)
            }
            ValueEdit::RuleTask(r, t) => {
                pick(&mut img.rules, *r)?.task = *t;
                Some(Inconsistent)
            }
            ValueEdit::Limit(stack, v) => {
                if *stack {
                    img.max_stack = *v;
                } else {
                    img.max_locals = *v;
                }
                Some(Inconsistent)
            }
            ValueEdit::Rule(r, edit) => {
                let rule = pick(&mut img.rules, *r)?;
                match edit {
                    RuleEdit::Forbid => rule.forbid = !rule.forbid,
                    RuleEdit::Principal(p) => rule.principal = p.clone(),
                    RuleEdit::Resource(p) => rule.resource = p.clone(),
                    RuleEdit::Ttl(t) => rule.ttl = *t,
                    RuleEdit::DropWhen => rule.when = None,
                    RuleEdit::DropUnless => rule.unless = None,
                    RuleEdit::DropRequire(i) => {
                        if !rule.requires.is_empty() {
                            rule.requires.remove(usize::from(*i) % rule.requires.len());
                        }
                    }
                    RuleEdit::Block { which, start, len } => {
                        let block = match which {
                            0 => rule.when.as_mut(),
                            1 => rule.unless.as_mut(),
                            i => pick(&mut rule.requires, *i).map(|(b, _)| b),
                        }?;
                        block.start = *start;
                        block.len = *len;
                    }
                    RuleEdit::Label(i, label) => pick(&mut rule.requires, *i)?.1 = *label,
                }
                Some(Free)
            }
            ValueEdit::InstrByte(i, at, v) => {
                let instr = pick(&mut img.code, *i)?;
                let mut bytes = Vec::new();
                instr.encode(&mut bytes);
                if let Some(b) = pick(&mut bytes, *at) {
                    *b = *v;
                }
                *instr = Instr::decode(&bytes).ok()?.0;
                Some(Free)
            }
            ValueEdit::InstrCopy(i, from) => {
                let from = *pick(&mut img.code, *from)?;
                *pick(&mut img.code, *i)? = from;
                Some(Free)
            }
            ValueEdit::Special(which, slot) => {
                let s = &mut img.schema.special;
                match which % 7 {
                    0 => s.now = *slot,
                    1 => s.action = *slot,
                    2 => s.task_name = *slot,
                    3 => s.task_id = *slot,
                    4 => s.task_started_at = *slot,
                    5 => s.task_approvals = *slot,
                    _ => s.task_approvers = *slot,
                }
                Some(Free)
            }
            ValueEdit::Str(i, s) => {
                *pick(&mut img.strings, *i)? = s.clone();
                Some(Free)
            }
            ValueEdit::Pattern(i, piece, v) => {
                *pick(pick(&mut img.patterns, *i)?, *piece)? = *v;
                Some(Free)
            }
            ValueEdit::Sensitivity(i, v) => {
                pick(&mut img.actions, *i)?.sensitivity = *v;
                Some(Free)
            }
            ValueEdit::TaskTtl(i, ttl) => {
                pick(&mut img.tasks, *i)?.ttl = *ttl;
                Some(Free)
            }
            ValueEdit::Span(i, which, v, rule) => {
                let span = if *rule {
                    &mut pick(&mut img.rules, *i)?.span
                } else {
                    pick(&mut img.spans, *i)?
                };
                set_span(span, *which, *v);
                Some(Neutral)
            }
            ValueEdit::Source(i, text) => {
                *pick(&mut img.sources, *i)? = text.clone();
                Some(Neutral)
            }
        }
    }
}

fn fields(
    img: &mut Image,
    list: Fields,
    owner: u16,
    field: u16,
) -> Option<&mut jitp_runtime::format::FieldLayout> {
    let s = &mut img.schema;
    let fields = match list {
        Fields::Record => &mut pick(&mut s.records, owner)?.fields,
        Fields::Principal => &mut pick(&mut s.entities, owner)?.as_principal,
        Fields::Resource => &mut pick(&mut s.entities, owner)?.as_resource,
    };
    pick(fields, field)
}

/// Where the regions of each fixture's body are: (start of the code
/// section's length, end of the code), in body offsets.
fn regions() -> &'static [(usize, usize)] {
    static REGIONS: OnceLock<Vec<(usize, usize)>> = OnceLock::new();
    REGIONS.get_or_init(|| {
        loaded()
            .iter()
            .map(|l| {
                let body = l.fixture.bytes.get(HEADER_LEN..).unwrap_or_default();
                let code = encode_all(&l.bundle.image().code);
                let mut counted = (code.len() as u32).to_le_bytes().to_vec();
                counted.extend_from_slice(&code);
                let start = body
                    .windows(counted.len())
                    .position(|w| w == counted)
                    .unwrap_or_else(|| panic!("{}: code section not found", l.fixture.name));
                (start, start + counted.len())
            })
            .collect()
    })
}

impl ByteEdit {
    fn apply(&self, body: &mut Vec<u8>, (code_start, code_end): (usize, usize)) {
        let (lo, hi) = match self.region {
            Region::Tables => (0, code_start),
            Region::Code => (code_start, code_end),
            Region::Tail => (code_end, body.len()),
            Region::Body => (0, body.len()),
        };
        let hi = hi.min(body.len());
        if lo >= hi {
            return;
        }
        let at = lo + self.at as usize % (hi - lo);
        let put = |body: &mut Vec<u8>, bytes: &[u8]| {
            for (k, b) in bytes.iter().enumerate() {
                if let Some(slot) = body.get_mut(at + k) {
                    *slot = *b;
                }
            }
        };
        match self.op {
            ByteOp::Set(v) => body[at] = v,
            ByteOp::Xor(v) => body[at] ^= v,
            ByteOp::Add(v) => body[at] = body[at].wrapping_add(v),
            ByteOp::U32(v) => put(body, &v.to_le_bytes()),
            ByteOp::Boundary(v) => {
                const VALUES: [u32; 8] = [0, 1, 2, 0x7f, 0x80, 0xffff, 0x7fff_ffff, u32::MAX];
                put(body, &VALUES[usize::from(v) % VALUES.len()].to_le_bytes())
            }
            ByteOp::Insert(v) => body.insert(at, v),
            ByteOp::Remove(n) => {
                let end = (at + usize::from(n).max(1)).min(body.len());
                body.drain(at..end);
            }
            ByteOp::Copy { from, len } => {
                let from = from as usize % body.len();
                let end = (from + usize::from(len)).min(body.len());
                let chunk = body[from..end].to_vec();
                put(body, &chunk);
            }
        }
    }
}

/// The target: applies the plan and checks the mutant.
pub fn run(plan: &Plan) {
    let all = loaded();
    let which = usize::from(plan.fixture) % all.len();
    let original = &all[which];
    match &plan.mutation {
        Mutation::Bytes(edits) => {
            if edits.is_empty() {
                return;
            }
            let mut body = original.fixture.bytes[HEADER_LEN..].to_vec();
            for edit in edits {
                edit.apply(&mut body, regions()[which]);
            }
            let mut bytes = original.fixture.bytes[..HEADER_LEN].to_vec();
            bytes.extend_from_slice(&body);
            // The checksum (bytes 12..20) covers the builder field and the body.
            let sum = checksum(&bytes[20..]);
            bytes[12..20].copy_from_slice(&sum.to_le_bytes());
            if let Ok(mutant) = Bundle::from_bytes(&bytes) {
                assert!(
                    mutant.to_bytes() == bytes,
                    "a loaded mutant re-encodes to other bytes"
                );
                check(original, &mutant, Class::Free, plan);
            }
        }
        Mutation::Values(edits) => {
            let mut img = original.bundle.image().clone();
            let mut classes = Vec::new();
            for edit in edits {
                if let Some(class) = edit.apply(&mut img) {
                    classes.push(class);
                }
            }
            if classes.is_empty() {
                return;
            }
            let class = held_to(&classes);
            let Ok(mutant) = Bundle::from_image(img) else {
                return;
            };
            let bytes = mutant.to_bytes();
            match Bundle::from_bytes(&bytes) {
                Ok(back) => assert!(
                    back == mutant,
                    "an image that verifies loads back from its bytes different"
                ),
                Err(e) => panic!("an image that verifies does not load from its bytes: {e}"),
            }
            check(original, &mutant, class, plan);
        }
    }
}

/// What a plan of edits of these classes is held to: neutral if all are;
/// the class of the one that is not, if there is one; otherwise free.
fn held_to(classes: &[Class]) -> Class {
    let mut others = classes.iter().filter(|c| **c != Class::Neutral);
    match (others.next(), others.next()) {
        (None, _) => Class::Neutral,
        (Some(c), None) => *c,
        (Some(_), Some(_)) => Class::Free,
    }
}

fn check(original: &Loaded, mutant: &Bundle, class: Class, plan: &Plan) {
    exercise_bundle(mutant);
    for ((file, text), before) in original.fixture.requests.iter().zip(&original.decisions) {
        let after = decide_checked(mutant, text);
        let name = original.fixture.name;
        match class {
            Class::Free => {}
            Class::IllTyped if !typed_verifier() => {}
            Class::IllTyped | Class::Inconsistent => assert!(
                before.decision == Effect::Allow || after.decision != Effect::Allow,
                "{name}: an ill-typed or inconsistent mutant allows {file}, which the original \
                 decides {}\nplan: {plan:#?}\nmutant decides: {}",
                before.to_json(),
                after.to_json()
            ),
            Class::Neutral => assert!(
                *before == after,
                "{name}: a mutant that changes no decision decides {file} differently\n\
                 plan: {plan:#?}\nbefore: {}\nafter: {}",
                before.to_json(),
                after.to_json()
            ),
        }
    }
}
