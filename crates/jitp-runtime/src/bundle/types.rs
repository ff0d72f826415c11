//! The types verification assigns: to every request slot (from the schema
//! layout), every constant (from its value) and every stack entry and local
//! of a block (by abstract interpretation, in `verify.rs`). See the
//! [`super::verify`] module for the rules.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::val::{Arena, SetRef, Val};

/// An enum type. Enum constants carry their variant but not their enum, so
/// a constant's enum is whichever its use requires, if it has that many
/// variants.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum EnumTy {
    /// Enum `e` of the schema.
    Of(u32),
    /// A constant: some enum with more than this many variants.
    Variant(u32),
}

/// A scalar type: what a set can hold.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Scalar {
    Bool,
    Int,
    Str,
    Time,
    Dur,
    Dec,
    Ip,
    Net,
    Enum(EnumTy),
}

/// A value's type, presence aside.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Base {
    /// A scalar.
    Scalar(Scalar),
    /// A set of the scalar; `None` for the empty constant set, whose
    /// element type is whatever its use requires.
    Set(Option<Scalar>),
    /// A reference to a record of layout `r`.
    Rec(u32),
}

/// A value's type: its base and whether it may be absent.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Ty {
    pub(super) base: Base,
    pub(super) opt: bool,
}

impl Ty {
    pub(super) const BOOL: Ty = Ty::scalar(Scalar::Bool);
    pub(super) const INT: Ty = Ty::scalar(Scalar::Int);

    pub(super) const fn scalar(s: Scalar) -> Ty {
        Ty {
            base: Base::Scalar(s),
            opt: false,
        }
    }

    /// The same type, possibly absent if `opt`.
    pub(super) fn or_absent(self, opt: bool) -> Ty {
        Ty {
            base: self.base,
            opt: self.opt || opt,
        }
    }

    /// The scalar, if the type is one.
    pub(super) fn as_scalar(self) -> Option<Scalar> {
        match self.base {
            Base::Scalar(s) => Some(s),
            _ => None,
        }
    }
}

/// What a request slot holds, as the schema lays it out.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum SlotUse {
    /// A value of this type (absent where the type is optional, inside an
    /// optional record, or for a field of an entity type the request's
    /// entity does not have).
    Value(Ty),
    /// The presence marker of a record with layout `rec`; `opt` when the
    /// record may be absent.
    Marker { rec: u32, opt: bool },
}

/// Who owns a slot, for messages about overlaps.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Owner {
    Special(&'static str),
    Record(&'static str),
    Entity {
        principal: bool,
        name: u32,
        ty: TypeDesc,
        start: u32,
    },
}

/// The type of every request slot.
pub(super) struct Layout {
    slots: Vec<Option<(SlotUse, usize)>>,
}

impl Layout {
    /// What slot `slot` holds (`None` out of range).
    pub(super) fn slot(&self, slot: u32) -> Option<SlotUse> {
        self.slots
            .get(slot as usize)
            .copied()
            .flatten()
            .map(|(u, _)| u)
    }
}

impl Image {
    /// A type descriptor as a value type (records as references).
    pub(super) fn desc_ty(&self, t: &TypeDesc) -> Result<Ty, BundleError> {
        let scalar = |t: &TypeDesc| -> Result<Scalar, BundleError> {
            Ok(match t {
                TypeDesc::Bool => Scalar::Bool,
                TypeDesc::Int => Scalar::Int,
                TypeDesc::String => Scalar::Str,
                TypeDesc::Time => Scalar::Time,
                TypeDesc::Duration => Scalar::Dur,
                TypeDesc::Decimal => Scalar::Dec,
                TypeDesc::Ip => Scalar::Ip,
                TypeDesc::Net => Scalar::Net,
                TypeDesc::Enum(e) => Scalar::Enum(EnumTy::Of(*e)),
                _ => return err("unsupported set element type"),
            })
        };
        Ok(match t {
            TypeDesc::Optional(inner) => match **inner {
                TypeDesc::Optional(_) => return err("nested optional type"),
                _ => self.desc_ty(inner)?.or_absent(true),
            },
            TypeDesc::Set(inner) => Ty {
                base: Base::Set(Some(scalar(inner)?)),
                opt: false,
            },
            TypeDesc::Record(r) => Ty {
                base: Base::Rec(*r),
                opt: false,
            },
            t => Ty::scalar(scalar(t)?),
        })
    }

    /// The type of every constant of the pool. Constant sets are scanned
    /// once per distinct range, and their ranges may not overlap much (the
    /// compiler never overlaps them), so a bundle cannot make this quadratic.
    pub(super) fn const_types(&self) -> Result<Vec<Ty>, BundleError> {
        let mut seen: std::collections::HashMap<(u32, u32), Ty> = Default::default();
        let budget = self.const_sets.len().saturating_mul(2).saturating_add(64);
        let mut scanned = 0usize;
        let mut out = Vec::with_capacity(self.consts.len());
        for (k, v) in self.consts.iter().enumerate() {
            let t = match *v {
                Val::Set(SetRef { start, len, .. }) => match seen.get(&(start, len)) {
                    Some(t) => Ok(*t),
                    None => {
                        scanned = scanned.saturating_add(len as usize);
                        if scanned > budget {
                            return err("constant sets overlap too much to verify");
                        }
                        self.val_ty(v).inspect(|t| {
                            seen.insert((start, len), *t);
                        })
                    }
                },
                _ => self.val_ty(v),
            };
            out.push(t.map_err(|e| {
                BundleError::new(e.kind, e.offset, format!("constant {k}: {}", e.message()))
            })?);
        }
        Ok(out)
    }

    /// The type of a constant.
    pub(super) fn val_ty(&self, v: &Val) -> Result<Ty, BundleError> {
        Ok(Ty::scalar(match *v {
            Val::Bool(_) => Scalar::Bool,
            Val::Int(_) => Scalar::Int,
            Val::Str(_) => Scalar::Str,
            Val::Time(_) => Scalar::Time,
            Val::Dur(_) => Scalar::Dur,
            Val::Dec(_) => Scalar::Dec,
            Val::Ip(_) => Scalar::Ip,
            Val::Net(_) => Scalar::Net,
            Val::Enum(v) => Scalar::Enum(EnumTy::Variant(v)),
            Val::Set(SetRef {
                arena: Arena::Const,
                start,
                len,
            }) => {
                let items = start
                    .checked_add(len)
                    .and_then(|end| self.const_sets.get(start as usize..end as usize));
                let Some(items) = items else {
                    return err("constant set out of range");
                };
                let mut elem: Option<Scalar> = None;
                for item in items {
                    let Some(s) = self.val_ty(item)?.as_scalar() else {
                        return err("a constant set holds a set");
                    };
                    elem = Some(match elem {
                        None => s,
                        Some(e) => self.unify(e, s).ok_or_else(|| {
                            BundleError::new(
                                BundleErrorKind::Invalid,
                                None,
                                format!(
                                    "a constant set mixes {} and {}",
                                    self.scalar_name(e),
                                    self.scalar_name(s)
                                ),
                            )
                        })?,
                    });
                }
                return Ok(Ty {
                    base: Base::Set(elem),
                    opt: false,
                });
            }
            Val::Set(_) => return err("nested or non-constant set in the constant pool"),
            Val::Absent => return err("absent value in the constant pool"),
            Val::Rec(_) | Val::Present => return err("record in the constant pool"),
        }))
    }

    /// The number of variants of enum `e` (0 if out of range).
    fn variants(&self, e: u32) -> usize {
        self.schema
            .enums
            .get(e as usize)
            .map_or(0, |(_, v)| v.len())
    }

    /// The common type of two scalars, if they have one.
    pub(super) fn unify(&self, a: Scalar, b: Scalar) -> Option<Scalar> {
        use EnumTy::*;
        match (a, b) {
            (Scalar::Enum(x), Scalar::Enum(y)) => Some(Scalar::Enum(match (x, y) {
                (Of(e), Of(f)) if e == f => Of(e),
                (Of(e), Variant(v)) | (Variant(v), Of(e)) if (v as usize) < self.variants(e) => {
                    Of(e)
                }
                (Variant(v), Variant(w)) => Variant(v.max(w)),
                _ => return None,
            })),
            (a, b) if a == b => Some(a),
            _ => None,
        }
    }

    /// The common type of two types (absent if either may be), if any.
    pub(super) fn unify_ty(&self, a: Ty, b: Ty) -> Option<Ty> {
        let base = match (a.base, b.base) {
            (Base::Scalar(x), Base::Scalar(y)) => Base::Scalar(self.unify(x, y)?),
            (Base::Set(None), Base::Set(e)) | (Base::Set(e), Base::Set(None)) => Base::Set(e),
            (Base::Set(Some(x)), Base::Set(Some(y))) => Base::Set(Some(self.unify(x, y)?)),
            (Base::Rec(r), Base::Rec(s)) if r == s => Base::Rec(r),
            _ => return None,
        };
        Some(Ty {
            base,
            opt: a.opt || b.opt,
        })
    }

    fn scalar_name(&self, s: Scalar) -> String {
        match s {
            Scalar::Bool => "`Bool`".into(),
            Scalar::Int => "`Int`".into(),
            Scalar::Str => "`String`".into(),
            Scalar::Time => "`Time`".into(),
            Scalar::Dur => "`Duration`".into(),
            Scalar::Dec => "`Decimal`".into(),
            Scalar::Ip => "`Ip`".into(),
            Scalar::Net => "`Net`".into(),
            Scalar::Enum(EnumTy::Of(e)) => {
                let name = self.schema.enums.get(e as usize).map_or("", |(n, _)| {
                    self.strings.get(*n as usize).map_or("", String::as_str)
                });
                format!("enum `{name}`")
            }
            Scalar::Enum(EnumTy::Variant(v)) => format!("an enum variant ({v})"),
        }
    }

    /// A type for messages: `` `Int` ``, `` `Int?` ``, `` `Set<String>` ``, …
    pub(super) fn ty_name(&self, t: Ty) -> String {
        let base = match t.base {
            Base::Scalar(s) => self.scalar_name(s),
            Base::Set(None) => "the empty set".into(),
            Base::Set(Some(s)) => format!("a set of {}", self.scalar_name(s)),
            Base::Rec(r) => {
                let name = self.schema.records.get(r as usize).map_or("", |r| {
                    self.strings.get(r.name as usize).map_or("", String::as_str)
                });
                format!("record `{name}`")
            }
        };
        if t.opt {
            format!("{base} (possibly absent)")
        } else {
            base
        }
    }

    /// The type of every slot, checking that the schema lays out each slot
    /// exactly once: the built-in slots, the context and evidence records
    /// and the entity fields are disjoint, and every slot belongs to one of
    /// them. Entity types may share a slot for a field with the same name
    /// and type (a request binds one principal and one resource), never
    /// between principal and resource.
    pub(super) fn layout(&self) -> Result<Layout, BundleError> {
        let s = &self.schema;
        let mut owners: Vec<Owner> = Vec::new();
        let mut l = Layout {
            slots: vec![None; s.slot_count.min(MAX_SLOTS) as usize],
        };
        let sp = &s.special;
        let str_set = Ty {
            base: Base::Set(Some(Scalar::Str)),
            opt: false,
        };
        for (name, slot, ty) in [
            ("now", sp.now, Ty::scalar(Scalar::Time)),
            ("action", sp.action, Ty::scalar(Scalar::Str)),
            ("task.name", sp.task_name, Ty::scalar(Scalar::Str)),
            ("task.id", sp.task_id, Ty::scalar(Scalar::Str)),
            (
                "task.started_at",
                sp.task_started_at,
                Ty::scalar(Scalar::Time),
            ),
            ("task.approvals", sp.task_approvals, Ty::INT),
            ("task.approvers", sp.task_approvers, str_set),
        ] {
            owners.push(Owner::Special(name));
            self.place(&mut l, &owners, slot, SlotUse::Value(ty))?;
        }
        for (name, (rec, base)) in [("context", s.context), ("evidence", s.evidence)] {
            owners.push(Owner::Record(name));
            self.place_record(&mut l, &owners, rec, base, false)?;
        }
        for &(_, rec, base) in &s.task_params {
            owners.push(Owner::Record("task.params"));
            self.place_record(&mut l, &owners, rec, base, false)?;
        }
        let mut fields_seen: std::collections::HashSet<Owner> = Default::default();
        for (i, e) in s.entities.iter().enumerate() {
            for (principal, fields) in [(true, &e.as_principal), (false, &e.as_resource)] {
                for (n, f) in fields.iter().enumerate() {
                    // The binder writes the entity's id, a string, into the
                    // first field.
                    if n == 0 && f.ty != TypeDesc::String {
                        return err(format!(
                            "entity {i}: the `id` field must be a `String`, not {}",
                            self.ty_name(self.desc_ty(&f.ty)?)
                        ));
                    }
                    let owner = Owner::Entity {
                        principal,
                        name: f.name,
                        ty: f.ty.clone(),
                        start: f.slot,
                    };
                    // the same field of another entity type: shared
                    if !fields_seen.insert(owner.clone()) {
                        continue;
                    }
                    owners.push(owner);
                    match f.ty {
                        TypeDesc::Record(r) => {
                            self.place_record(&mut l, &owners, r, f.slot, false)?
                        }
                        TypeDesc::Optional(ref inner) if matches!(**inner, TypeDesc::Record(_)) => {
                            if let TypeDesc::Record(r) = **inner {
                                self.place_record(&mut l, &owners, r, f.slot, true)?
                            }
                        }
                        ref t => {
                            let ty = self.desc_ty(t)?;
                            self.place(&mut l, &owners, f.slot, SlotUse::Value(ty))?
                        }
                    }
                }
            }
        }
        if let Some(gap) = l.slots.iter().position(Option::is_none) {
            return err(format!("slot {gap} is not laid out"));
        }
        Ok(l)
    }

    /// Lays out record `rec` with its marker at `base`, and the records it
    /// contains (iteratively: records nest as deep as a bundle has them, and
    /// contain only lower-numbered records, so this ends).
    fn place_record(
        &self,
        l: &mut Layout,
        owners: &[Owner],
        rec: u32,
        base: u32,
        opt: bool,
    ) -> Result<(), BundleError> {
        let mut todo = vec![(rec, base, opt)];
        while let Some((rec, base, opt)) = todo.pop() {
            let Some(r) = self.schema.records.get(rec as usize) else {
                return err("record out of range");
            };
            self.place(l, owners, base, SlotUse::Marker { rec, opt })?;
            for f in &r.fields {
                let Some(at) = base.checked_add(f.slot) else {
                    return err("record slots out of range");
                };
                let (inner, fopt) = match &f.ty {
                    TypeDesc::Optional(inner) => (&**inner, true),
                    t => (t, false),
                };
                match inner {
                    TypeDesc::Record(r2) if *r2 < rec => todo.push((*r2, at, opt || fopt)),
                    TypeDesc::Record(_) => {
                        return err("record layout refers to itself or a later record")
                    }
                    _ => {
                        let ty = self.desc_ty(&f.ty)?.or_absent(opt);
                        self.place(l, owners, at, SlotUse::Value(ty))?
                    }
                }
            }
        }
        Ok(())
    }

    /// Gives `slot` to the last of `owners`, unless another has it.
    fn place(
        &self,
        l: &mut Layout,
        owners: &[Owner],
        slot: u32,
        u: SlotUse,
    ) -> Result<(), BundleError> {
        let who = owners.len().saturating_sub(1);
        match l.slots.get_mut(slot as usize) {
            None => err(format!(
                "{}: slot {slot} out of range",
                self.owner_name(owners.get(who))
            )),
            Some(Some((_, other))) => err(format!(
                "{} and {} share slot {slot}",
                self.owner_name(owners.get(*other)),
                self.owner_name(owners.get(who))
            )),
            Some(free) => {
                *free = Some((u, who));
                Ok(())
            }
        }
    }

    fn owner_name(&self, o: Option<&Owner>) -> String {
        match o {
            None => "a field".into(),
            Some(Owner::Special(n)) => format!("`{n}`"),
            Some(Owner::Record(n)) => format!("`{n}`"),
            Some(Owner::Entity {
                principal, name, ..
            }) => format!(
                "{} field `{}`",
                if *principal { "principal" } else { "resource" },
                self.strings.get(*name as usize).map_or("", String::as_str)
            ),
        }
    }
}
