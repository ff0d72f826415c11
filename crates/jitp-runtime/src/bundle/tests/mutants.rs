//! Structure-aware mutants: each fixture bundle is decoded, its data model
//! mutated at random (constants, operands, slots, types, jump offsets, rule
//! metadata), and re-encoded with a repaired checksum. Whatever loads is
//! decided on every request beside the example (`examples/*/requests`),
//! explained and disassembled.
//!
//! Every mutant: loading, binding, deciding, explaining and disassembling
//! never panic. Mutants made by one mutation that only changes a *type*,
//! so that a loaded one would be ill-typed (a constant or set element
//! replaced by a value of another type, a layout field given another type,
//! a slot moved onto another, a fused compare pointed at a slot of another
//! type, a constant operand pointed at a constant of another type):
//! whenever one loads, no request the original does not allow is allowed
//! by the mutant. Mutants that can legitimately change the policy's
//! meaning (a constant's value within its type, an operand, a jump, a
//! rule's metadata, a field's enum, a field made optional, two same-typed
//! fields swapped, several mutations at once, which can cancel each
//! other's type change) are only held to the first promise.
//!
//! The seed is fixed; `JITP_SEED=random` or `JITP_SEED=N` picks another
//! (printed, so a failure can be replayed), and `JITP_MUTANT_CASES=N` runs
//! `N` mutants instead of the default. `JITP_MUTANT_LOG=1` prints every
//! type-only mutant that loads.

use super::*;
use crate::bundle::types::{Base, Scalar, SlotUse, Ty};
use crate::value::Cidr;

/// Mutants run by default: a few seconds in a debug build.
const DEFAULT_CASES: usize = 1500;

fn seed() -> u64 {
    match std::env::var("JITP_SEED") {
        Err(_) => SEED,
        Ok(s) => {
            let seed = if s.trim() == "random" {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                (nanos ^ u64::from(std::process::id()).rotate_left(32)) % 1_000_000_000_000
            } else {
                s.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("JITP_SEED must be `random` or a number, not `{s}`"))
            };
            eprintln!("mutants: seed {seed} (JITP_SEED={seed} replays this run)");
            seed
        }
    }
}

fn cases() -> usize {
    match std::env::var("JITP_MUTANT_CASES") {
        Err(_) => DEFAULT_CASES,
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("JITP_MUTANT_CASES must be a number, not `{s}`")),
    }
}

/// Whether a mutation could legitimately change what the policy means.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Class {
    /// Only types change: a loaded mutant must not allow more.
    Typed,
    /// Meaning may change: a loaded mutant must not panic.
    Meaning,
}

/// What the original bundle's types are, to pick type-changing mutations.
struct Types {
    slots: Vec<Option<SlotUse>>,
    consts: Vec<Ty>,
}

impl Types {
    fn of(img: &Image) -> Types {
        let layout = img.layout().expect("fixture layout");
        Types {
            slots: (0..img.schema.slot_count).map(|s| layout.slot(s)).collect(),
            consts: img.const_types().expect("fixture constants"),
        }
    }
}

/// Whether `a` and `b` are types no well-typed use can take both of (enums
/// aside: an enum constant fits any enum with its variant).
fn distinct(img: &Image, a: Ty, b: Ty) -> bool {
    let enums = |t: Ty| {
        matches!(
            t.base,
            Base::Scalar(Scalar::Enum(_)) | Base::Set(Some(Scalar::Enum(_)))
        )
    };
    img.unify_ty(a, b).is_none() && !(enums(a) && enums(b))
}

/// A constant of a kind other than `v`'s (never a set: the empty set fits
/// every set type, so replacing one set by another is a change of value).
fn other_kind(rng: &mut Rng, img: &Image, v: &Val) -> Val {
    let nstr = img.strings.len().max(1);
    loop {
        let c = match rng.below(8) {
            0 => Val::Bool(rng.below(2) == 0),
            1 => Val::Int(rng.below(100) as i64),
            2 => Val::Str(rng.below(nstr) as u32),
            3 => Val::Time(1_700_000_000_000_000 + rng.below(1000) as i64),
            4 => Val::Dur(rng.below(1000) as i64 * 1_000_000),
            5 => Val::Ip(std::net::IpAddr::from([10, 0, 0, rng.below(256) as u8])),
            6 => Val::Net(Cidr {
                addr: std::net::IpAddr::from([10, 0, 0, 0]),
                prefix: 8,
            }),
            _ => Val::Enum(rng.below(3) as u32),
        };
        if std::mem::discriminant(&c) != std::mem::discriminant(v) {
            return c;
        }
    }
}

/// A type descriptor of another kind than `t` (never another enum).
fn other_type(rng: &mut Rng, img: &Image, t: &TypeDesc) -> TypeDesc {
    let nenum = img.schema.enums.len() as u32;
    loop {
        let c = match rng.below(11) {
            0 => TypeDesc::Bool,
            1 => TypeDesc::Int,
            2 => TypeDesc::String,
            3 => TypeDesc::Time,
            4 => TypeDesc::Duration,
            5 => TypeDesc::Ip,
            6 => TypeDesc::Net,
            7 => TypeDesc::Set(Box::new(TypeDesc::String)),
            8 => TypeDesc::Set(Box::new(TypeDesc::Int)),
            9 => match t {
                TypeDesc::Optional(inner) => (**inner).clone(),
                t => TypeDesc::Optional(Box::new(t.clone())),
            },
            _ if nenum > 0 => TypeDesc::Enum(rng.below(nenum as usize) as u32),
            _ => continue,
        };
        let enum_to_enum = |t: &TypeDesc| matches!(t, TypeDesc::Enum(_));
        if c != *t && !(enum_to_enum(&c) && enum_to_enum(t)) {
            return c;
        }
    }
}

/// Every field of the layout: (record or entity, which list, index).
#[derive(Copy, Clone, Debug)]
enum FieldAt {
    Record(usize, usize),
    Entity(usize, bool, usize),
}

fn fields(img: &Image) -> Vec<FieldAt> {
    let mut v = Vec::new();
    for (r, rec) in img.schema.records.iter().enumerate() {
        v.extend((0..rec.fields.len()).map(|f| FieldAt::Record(r, f)));
    }
    for (e, ent) in img.schema.entities.iter().enumerate() {
        v.extend((0..ent.as_principal.len()).map(|f| FieldAt::Entity(e, true, f)));
        v.extend((0..ent.as_resource.len()).map(|f| FieldAt::Entity(e, false, f)));
    }
    v
}

fn field_mut(img: &mut Image, at: FieldAt) -> &mut FieldLayout {
    match at {
        FieldAt::Record(r, f) => &mut img.schema.records[r].fields[f],
        FieldAt::Entity(e, true, f) => &mut img.schema.entities[e].as_principal[f],
        FieldAt::Entity(e, false, f) => &mut img.schema.entities[e].as_resource[f],
    }
}

/// Applies one random mutation; returns its class and a description, or
/// `None` when the bundle has nothing of the kind drawn.
fn mutate(rng: &mut Rng, img: &mut Image, types: &Types) -> Option<(Class, String)> {
    let nslot = img.schema.slot_count as usize;
    let ncode = img.code.len();
    let all_fields = fields(img);
    Some(match rng.below(17) {
        // ---- type changes
        0 => {
            let k = rng.below(img.consts.len());
            let old = *img.consts.get(k)?;
            let new = other_kind(rng, img, &old);
            img.consts[k] = new;
            (Class::Typed, format!("constant {k}: {old:?} -> {new:?}"))
        }
        1 => {
            let at = *all_fields.get(rng.below(all_fields.len()))?;
            let old = field_mut(img, at).ty.clone();
            let new = other_type(rng, img, &old);
            field_mut(img, at).ty = new.clone();
            // A field made optional binds requests without it, which the
            // original rejects: a change of what the schema admits, not
            // one verification can tell from a policy that declared it so.
            let class = if new == TypeDesc::Optional(Box::new(old.clone())) {
                Class::Meaning
            } else {
                Class::Typed
            };
            (class, format!("field {at:?}: {old:?} -> {new:?}"))
        }
        2 => {
            let to = rng.below(nslot) as u32;
            let sp = &mut img.schema.special;
            let which = rng.below(9);
            let slot = match which {
                0 => &mut sp.now,
                1 => &mut sp.action,
                2 => &mut sp.task_name,
                3 => &mut sp.task_id,
                4 => &mut sp.task_started_at,
                5 => &mut sp.task_approvals,
                6 => &mut sp.task_approvers,
                7 => &mut img.schema.context.1,
                _ => &mut img.schema.evidence.1,
            };
            if *slot == to {
                return None;
            }
            let old = std::mem::replace(slot, to);
            (
                Class::Typed,
                format!("built-in {which}: slot {old} -> {to}"),
            )
        }
        3 => {
            let at = *all_fields.get(rng.below(all_fields.len()))?;
            let f = field_mut(img, at);
            let old = f.slot;
            f.slot = match at {
                FieldAt::Record(..) => 1 + rng.below(8) as u32,
                FieldAt::Entity(..) => rng.below(nslot) as u32,
            };
            if f.slot == old {
                return None;
            }
            let new = f.slot;
            (Class::Typed, format!("field {at:?}: slot {old} -> {new}"))
        }
        4 => {
            // a fused compare on a slot of another type
            let fused: Vec<usize> = (0..ncode)
                .filter(|&pc| matches!(img.code[pc], Instr::CmpSlotConst { .. }))
                .collect();
            let pc = *fused.get(rng.below(fused.len()))?;
            let Instr::CmpSlotConst { op, slot, k } = img.code[pc] else {
                unreachable!()
            };
            let Some(Some(SlotUse::Value(old))) = types.slots.get(slot.index()) else {
                return None;
            };
            let others: Vec<usize> = (0..nslot)
                .filter(|&s| match types.slots[s] {
                    Some(SlotUse::Value(t)) => distinct(img, t, *old),
                    _ => true,
                })
                .collect();
            let to = *others.get(rng.below(others.len()))?;
            img.code[pc] = Instr::CmpSlotConst {
                op,
                slot: SlotIdx(to as u32),
                k,
            };
            (
                Class::Typed,
                format!("code {pc}: fused slot {} -> {to}", slot.0),
            )
        }
        5 => {
            // a constant operand pointed at a constant of another type
            let uses: Vec<usize> = (0..ncode)
                .filter(|&pc| {
                    matches!(
                        img.code[pc],
                        Instr::Const { .. } | Instr::CmpSlotConst { .. }
                    )
                })
                .collect();
            let pc = *uses.get(rng.below(uses.len()))?;
            let (Instr::Const { k } | Instr::CmpSlotConst { k, .. }) = img.code[pc] else {
                unreachable!()
            };
            let old = *types.consts.get(k.index())?;
            let others: Vec<usize> = (0..types.consts.len())
                .filter(|&j| distinct(img, types.consts[j], old))
                .collect();
            let to = ConstIdx(*others.get(rng.below(others.len()))? as u32);
            match &mut img.code[pc] {
                Instr::Const { k } | Instr::CmpSlotConst { k, .. } => *k = to,
                _ => unreachable!(),
            }
            (
                Class::Typed,
                format!("code {pc}: constant {} -> {}", k.0, to.0),
            )
        }
        6 => {
            let i = rng.below(img.const_sets.len());
            let old = *img.const_sets.get(i)?;
            let new = other_kind(rng, img, &old);
            img.const_sets[i] = new;
            (Class::Typed, format!("set element {i}: {old:?} -> {new:?}"))
        }
        // ---- changes of meaning
        7 => {
            let k = rng.below(img.consts.len());
            let old = *img.consts.get(k)?;
            let d = rng.below(5) as i64 - 2;
            let new = match old {
                Val::Bool(b) => Val::Bool(!b),
                Val::Int(i) => Val::Int(i.wrapping_add(d)),
                Val::Str(_) => Val::Str(rng.below(img.strings.len()) as u32),
                Val::Time(t) => Val::Time(t.wrapping_add(d * 3_600_000_000)),
                Val::Dur(t) => Val::Dur(t.wrapping_add(d * 60_000_000)),
                Val::Enum(_) => Val::Enum(rng.below(4) as u32),
                _ => return None,
            };
            img.consts[k] = new;
            (Class::Meaning, format!("constant {k}: {old:?} -> {new:?}"))
        }
        8 => {
            // any operand of any instruction, through its encoding
            let pc = rng.below(ncode);
            let mut bytes = Vec::new();
            img.code.get(pc)?.encode(&mut bytes);
            let nops = (bytes.len() - 1) / 4;
            if nops == 0 {
                return None;
            }
            let at = 1 + 4 * rng.below(nops);
            let v: u32 = match rng.below(4) {
                0 => rng.below(4) as u32,
                1 => rng.below(nslot + 4) as u32,
                2 => rng.below(img.consts.len() + 4) as u32,
                _ => rng.next() as u32,
            };
            bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
            let (new, _) = Instr::decode(&bytes).expect("same opcode");
            let old = std::mem::replace(&mut img.code[pc], new);
            (Class::Meaning, format!("code {pc}: {old:?} -> {new:?}"))
        }
        9 => {
            let jumps: Vec<usize> = (0..ncode)
                .filter(|&pc| img.code[pc].jump().is_some())
                .collect();
            let pc = *jumps.get(rng.below(jumps.len()))?;
            let off = JumpOff(rng.below(12) as u32);
            match &mut img.code[pc] {
                Instr::JumpIfFalseOrPop { off: o }
                | Instr::JumpIfTrueOrPop { off: o }
                | Instr::JumpIfPresentOrPop { off: o } => *o = off,
                _ => unreachable!(),
            }
            (Class::Meaning, format!("code {pc}: jump -> {}", off.0))
        }
        10 => {
            // one instruction replaced by another of the bundle's
            let (pc, from) = (rng.below(ncode), rng.below(ncode));
            let new = *img.code.get(from)?;
            let old = std::mem::replace(&mut img.code[pc], new);
            (Class::Meaning, format!("code {pc}: {old:?} -> {new:?}"))
        }
        11 => {
            let r = rng.below(img.rules.len());
            let nact = img.actions.len();
            let ntask = img.tasks.len();
            let rule = img.rules.get_mut(r)?;
            let what = match rng.below(8) {
                0 => {
                    rule.forbid = !rule.forbid;
                    "effect"
                }
                1 => {
                    rule.task = match rng.below(ntask + 1) {
                        0 => None,
                        t => Some(t as u32 - 1),
                    };
                    "task"
                }
                2 => {
                    rule.actions = vec![rng.below(nact) as u32];
                    "actions"
                }
                3 => {
                    rule.ttl = Some(rng.below(100) as i64 * 60_000_000);
                    "ttl"
                }
                4 => {
                    rule.principal = None;
                    "principal"
                }
                5 => {
                    std::mem::swap(&mut rule.when, &mut rule.unless);
                    "when/unless"
                }
                6 => {
                    rule.requires.pop();
                    "requires"
                }
                _ => {
                    rule.when = None;
                    "when"
                }
            };
            (Class::Meaning, format!("rule {r}: {what}"))
        }
        12 => {
            let at = *all_fields.get(rng.below(all_fields.len()))?;
            let nenum = img.schema.enums.len();
            let f = field_mut(img, at);
            let TypeDesc::Enum(old) = f.ty else {
                return None;
            };
            f.ty = TypeDesc::Enum(rng.below(nenum) as u32);
            (
                Class::Meaning,
                format!("field {at:?}: enum {old} -> {:?}", f.ty),
            )
        }
        13 => {
            // two fields of one type swap slots
            let (a, b) = (
                *all_fields.get(rng.below(all_fields.len()))?,
                *all_fields.get(rng.below(all_fields.len()))?,
            );
            let (fa, fb) = (field_mut(img, a).clone(), field_mut(img, b).clone());
            if fa.ty != fb.ty || fa.slot == fb.slot {
                return None;
            }
            field_mut(img, a).slot = fb.slot;
            field_mut(img, b).slot = fa.slot;
            (Class::Meaning, format!("fields {a:?} and {b:?} swap slots"))
        }
        14 => {
            img.max_stack = rng.below(8) as u32;
            img.max_locals = rng.below(4) as u32;
            (Class::Meaning, "limits".into())
        }
        15 => {
            let r = rng.below(img.rules.len());
            let rule = img.rules.get_mut(r)?;
            let b = rule.when.as_mut()?;
            b.start = b.start.wrapping_add(rng.below(5) as u32).wrapping_sub(2);
            b.len = b.len.wrapping_add(rng.below(5) as u32).wrapping_sub(2);
            (Class::Meaning, format!("rule {r}: `when` block moved"))
        }
        _ => {
            let a = rng.below(img.actions.len());
            let ne = img.schema.entities.len();
            img.actions.get_mut(a)?.on = vec![rng.below(ne) as u32];
            (Class::Meaning, format!("action {a}: resource type"))
        }
    })
}

/// What running the mutants found.
#[derive(Default)]
struct Tally {
    ran: [usize; 2],
    loaded: [usize; 2],
    panics: Vec<String>,
    violations: Vec<String>,
}

/// Decides `req` with `b`: `Some(allowed)`, `None` when it does not bind.
/// Explains it and checks that nothing panics.
fn outcome(b: &Bundle, req: &str) -> Result<Option<bool>, ()> {
    catch_unwind(AssertUnwindSafe(|| {
        b.bind_str(req).ok().map(|r| {
            let d = b.decide(&r);
            let _ = b.explain(&r);
            d.is_allow()
        })
    }))
    .map_err(|_| ())
}

fn run(cases: usize, seed: u64) -> Tally {
    let bases: Vec<(String, Bundle, Vec<String>, Vec<bool>)> = fixtures()
        .into_iter()
        .map(|(name, bytes)| {
            let b = load(&bytes).expect("fixture loads");
            let reqs = requests(&name);
            let allowed = reqs
                .iter()
                .map(|r| b.bind_str(r).is_ok_and(|r| b.decide(&r).is_allow()))
                .collect();
            (name, b, reqs, allowed)
        })
        .collect();
    let types: Vec<Types> = bases.iter().map(|(_, b, _, _)| Types::of(&b.img)).collect();
    let mut rng = Rng(seed | 1);
    let mut t = Tally::default();
    let mut n = 0;
    while n < cases {
        let i = n % bases.len();
        let (name, base, reqs, allowed) = &bases[i];
        let mut img = base.img.clone();
        let mut class = Class::Typed;
        let mut what = Vec::new();
        for _ in 0..1 + rng.below(3) {
            if let Some((c, w)) = mutate(&mut rng, &mut img, &types[i]) {
                if c == Class::Meaning {
                    class = Class::Meaning;
                }
                what.push(w);
            }
        }
        if what.is_empty() {
            continue;
        }
        // Two type changes can cancel out (a fused compare moved to a
        // string slot and given a string constant): only a single one is
        // held to "never allows more".
        if what.len() > 1 {
            class = Class::Meaning;
        }
        n += 1;
        let c = class as usize;
        t.ran[c] += 1;
        let what = format!("{name}: {}", what.join("; "));
        let bytes = img.to_bytes();
        let m = match catch_unwind(AssertUnwindSafe(|| Bundle::from_bytes(&bytes))) {
            Err(_) => {
                t.panics.push(format!("loading panicked: {what}"));
                continue;
            }
            Ok(Err(_)) => continue,
            Ok(Ok(m)) => m,
        };
        t.loaded[c] += 1;
        if class == Class::Typed && std::env::var_os("JITP_MUTANT_LOG").is_some() {
            eprintln!("loaded: {what}");
        }
        if catch_unwind(AssertUnwindSafe(|| m.disassemble(None))).is_err() {
            t.panics.push(format!("disassembly panicked: {what}"));
        }
        for (req, was_allowed) in reqs.iter().zip(allowed) {
            match outcome(&m, req) {
                Err(()) => t.panics.push(format!("deciding panicked: {what}")),
                Ok(Some(true)) if class == Class::Typed && !was_allowed => t.violations.push(
                    format!("a type-only mutant allows what the original does not: {what}"),
                ),
                Ok(_) => {}
            }
        }
    }
    t
}

/// Random structure-aware mutants never panic anything, and those that only
/// change types never allow what the original does not.
#[test]
fn mutated_bundles_never_panic_and_type_changes_never_allow_more() {
    let (cases, seed) = (cases(), seed());
    let t = run(cases, seed);
    eprintln!(
        "mutants: {} run ({} type-only, {} of which loaded; {} that may change meaning, {} of which loaded)",
        t.ran[0] + t.ran[1],
        t.ran[0],
        t.loaded[0],
        t.ran[1],
        t.loaded[1],
    );
    assert!(t.panics.is_empty(), "{}", t.panics.join("\n"));
    assert!(t.violations.is_empty(), "{}", t.violations.join("\n"));
    // the mutator reaches both classes, and some meaning changes load
    assert!(t.ran[0] > 0 && t.ran[1] > 0 && t.loaded[1] > 0);
}
