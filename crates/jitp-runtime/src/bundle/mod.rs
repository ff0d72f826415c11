//! The bundle: a compiled policy set as self-contained, verified bytes.
//!
//! Layout (all integers little-endian): the magic `JITPBNDL`, a `u32`
//! format version, a `u64` [`checksum`] of everything after it, then the
//! body: string table, schema layout, constant pool, patterns, actions,
//! tasks, rule metadata, rule index, bytecode and its source map, the
//! source file names and their texts (so explanations, disassembly and
//! `jitp lint --baseline` need no sources on disk).
//!
//! **Loading verifies everything before any evaluation**: the checksum, the
//! version, every string, slot, constant, pattern and local index, every
//! jump (forward, inside its block), the stack depth of every block, the
//! record layouts (acyclic), the index (sorted, consistent with every
//! rule), the slot layout (every slot laid out once, none over another or
//! over the built-ins) and the types: every block is type-checked against
//! the slots' and constants' types, so a well-formed but ill-typed bundle
//! does not load. A bundle that fails any check is rejected with a [`BundleError`];
//! the VM can then rely on these facts, and still never panics if they are
//! wrong.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

mod checksum;
mod decode;
pub(crate) use decode::read_file;
mod encode;
mod model;
mod strindex;
mod tags;
#[cfg(test)]
mod tests;
mod types;
mod verify;

pub use checksum::checksum;
pub use decode::MAX_BUNDLE_BYTES;
pub use model::*;
pub(crate) use strindex::StrIndex;

pub use crate::error::{BundleError, BundleErrorKind};

/// The first bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"JITPBNDL";
/// The format version this build reads and writes. A build reads exactly
/// this version: a bundle of any other is refused, naming the `jitp` that
/// built it (see [`BUILDER_LEN`]), never misread.
///
/// Version 4 added the builder field to the header, task parameters,
/// the task an action grants and the approvals a task needs.
pub const FORMAT_VERSION: u32 = 5;
/// Bytes of the header's builder field: the `jitp` version that built the
/// bundle, ASCII, padded with NUL bytes. From format version 4 on, the
/// header is magic (8 bytes), format version (4, little endian), checksum
/// (8) and builder (16), at these offsets in every later version too, so
/// that any build can say which `jitp` wrote a bundle it refuses.
pub const BUILDER_LEN: usize = 16;
/// Where the checksummed bytes start: the checksum covers the builder
/// field and the body.
pub(crate) const SUMMED_FROM: usize = 20;
/// Deepest operand stack a block may need.
pub const MAX_STACK: u32 = 256;
/// Most locals a block may use.
pub const MAX_LOCALS: u32 = 256;
/// Most `require` clauses per rule (missing labels are a bit mask).
pub const MAX_REQUIRES: usize = 64;
/// Most request slots a bundle's schema may lay out (a bound request holds
/// one value per slot).
pub const MAX_SLOTS: u32 = 1 << 16;
/// Bytes before the body: magic, version, checksum, builder.
pub const HEADER_LEN: usize = SUMMED_FROM + BUILDER_LEN;
/// Nesting limit of type descriptors.
const MAX_TYPE_DEPTH: u32 = 16;

/// A verification failure.
fn err<T>(message: impl Into<String>) -> Result<T, BundleError> {
    Err(BundleError::new(BundleErrorKind::Invalid, None, message))
}

/// A compiled, verified policy set. Immutable and `Send + Sync`: share one
/// across threads and decide with `&self`.
///
/// Every way to get one verifies it completely ([`Bundle::from_bytes`],
/// [`Bundle::from_file`] and, for the compiler, `Bundle::from_image`), and
/// its contents cannot be edited afterwards: the VM runs only what the
/// verifier accepted.
#[derive(Clone, Debug, PartialEq)]
pub struct Bundle {
    pub(crate) img: Image,
    /// Lookup tables built at load time (not serialised).
    pub(crate) lookup: Lookup,
    /// The trusted key whose signature was verified when it loaded.
    pub(crate) signer: Option<crate::signature::KeyId>,
}

/// Name lookups built when a bundle is loaded.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Lookup {
    strings: StrIndex,
    /// Per string id: the entity, action and task with that name
    /// (`u32::MAX` where there is none), so names are hashed only once.
    named: Vec<[u32; 3]>,
    /// The bundle's checksum: bound requests remember it, so a request bound
    /// to one bundle is never decided against another.
    pub(crate) fingerprint: u64,
    /// Per rule: whether a condition reads `now`, so only those rules pay
    /// for computing a horizon.
    pub(crate) uses_now: Vec<bool>,
}

impl Lookup {
    /// Builds the name lookups of `img`.
    fn build(img: &Image, fingerprint: u64) -> Lookup {
        let mut l = Lookup {
            strings: StrIndex::build(&img.strings),
            named: vec![[u32::MAX; 3]; img.strings.len()],
            fingerprint,
            uses_now: img.rules.iter().map(|r| reads_now(img, r)).collect(),
        };
        let names = [
            img.schema
                .entities
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>(),
            img.actions.iter().map(|a| a.name).collect(),
            img.tasks.iter().map(|t| t.name).collect(),
        ];
        for (kind, names) in names.iter().enumerate() {
            for (i, name) in names.iter().enumerate() {
                if let Some(slot) = l
                    .named
                    .get_mut(*name as usize)
                    .and_then(|n| n.get_mut(kind))
                {
                    *slot = i as u32;
                }
            }
        }
        l
    }
}

/// Whether one of `r`'s conditions reads the `now` slot.
fn reads_now(img: &Image, r: &RuleMeta) -> bool {
    let now = img.schema.special.now;
    let reads = |b: &Block| {
        let (start, len) = (b.start as usize, b.len as usize);
        img.code
            .get(start..start.saturating_add(len))
            .unwrap_or(&[])
            .iter()
            .any(|i| match i {
                crate::bytecode::Instr::Slot { slot }
                | crate::bytecode::Instr::CmpSlotConst { slot, .. } => slot.0 == now,
                _ => false,
            })
    };
    r.when.iter().chain(r.unless.iter()).any(reads) || r.requires.iter().any(|(b, _)| reads(b))
}

impl Bundle {
    /// Verifies `img` and builds its lookups. `fingerprint` is the checksum
    /// of its encoded body.
    fn seal(img: Image, fingerprint: u64) -> Result<Bundle, BundleError> {
        img.verify()?;
        let lookup = Lookup::build(&img, fingerprint);
        Ok(Bundle {
            img,
            lookup,
            signer: None,
        })
    }

    /// Verifies an assembled image completely, exactly as loading does
    /// (what the compiler produces passes the same checks as what a service
    /// loads), and makes it a bundle.
    ///
    /// Part of the `compiler` feature, outside the semver promise.
    #[cfg(feature = "compiler")]
    pub fn from_image(image: Image) -> Result<Bundle, BundleError> {
        let sum = checksum(&image.encode_summed());
        Bundle::seal(image, sum)
    }

    /// The bundle's contents, read-only.
    ///
    /// Part of the `compiler` feature, outside the semver promise.
    #[cfg(feature = "compiler")]
    pub fn image(&self) -> &Image {
        &self.img
    }

    /// The version of the `jitp` that built the bundle, as its header
    /// records it.
    pub fn built_by(&self) -> &str {
        &self.img.builder
    }

    /// The package name (empty when the policy set declares none).
    pub fn name(&self) -> &str {
        &self.img.name
    }

    /// The number of rules.
    pub fn rule_count(&self) -> usize {
        self.img.rules.len()
    }

    /// The number of declared actions.
    pub fn action_count(&self) -> usize {
        self.img.actions.len()
    }

    /// The number of declared tasks (break-glass included).
    pub fn task_count(&self) -> usize {
        self.img.tasks.len()
    }

    /// The declared entity types' names, in declaration order.
    pub fn entity_types(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.img.schema.entities.iter().map(|e| self.string(e.name))
    }

    /// The declared tasks (break-glass included), in declaration order.
    pub fn tasks(&self) -> impl Iterator<Item = TaskInfo<'_>> + '_ {
        (0..self.img.tasks.len()).filter_map(|i| self.task_info(i))
    }

    /// The task named `name`, if the bundle declares it.
    pub fn task(&self, name: &str) -> Option<TaskInfo<'_>> {
        let i = self
            .img
            .tasks
            .iter()
            .position(|t| self.string(t.name) == name)?;
        self.task_info(i)
    }

    fn task_info(&self, i: usize) -> Option<TaskInfo<'_>> {
        let t = self.img.tasks.get(i)?;
        let entity = |e: &u32| {
            self.img
                .schema
                .entities
                .get(*e as usize)
                .map_or("", |l| self.string(l.name))
        };
        let mut principal_types: Option<Vec<&str>> = Some(Vec::new());
        for r in self
            .img
            .rules
            .iter()
            .filter(|r| !r.forbid && r.task == Some(i as u32))
        {
            match (&r.principal, principal_types.as_mut()) {
                (None, _) => principal_types = None,
                (Some(list), Some(types)) => types.extend(list.iter().map(entity)),
                (Some(_), None) => {}
            }
        }
        if let Some(types) = principal_types.as_mut() {
            types.sort_unstable();
            types.dedup();
        }
        let granted_by = self
            .img
            .actions
            .iter()
            .filter(|a| a.grants == Some(i as u32))
            .map(|a| GrantingAction {
                name: self.string(a.name),
                resource_types: a.on.iter().map(entity).collect(),
            })
            .collect();
        Some(TaskInfo {
            name: self.string(t.name),
            ttl_micros: t.ttl,
            approvals: t.approvals,
            breakglass: t.breakglass,
            principal_types,
            granted_by,
        })
    }

    /// The rules' stable ids, in source order.
    pub fn rule_ids(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.img.rules.iter().map(|r| self.string(r.id))
    }

    /// The checksum of the bundle's encoded body, as stored in its header:
    /// equal bundles have equal checksums, and a request bound to one
    /// bundle is only decided against a bundle with the same checksum. It
    /// detects corruption; it is not a MAC.
    pub fn checksum(&self) -> u64 {
        self.lookup.fingerprint
    }

    /// The bundle's revision: [`Bundle::checksum`] as 16 lowercase hex
    /// digits, suitable as an `ETag` or a version label.
    pub fn revision(&self) -> String {
        format!("{:016x}", self.lookup.fingerprint)
    }

    /// The policy sources the bundle was compiled from, as (file name,
    /// text) in file-id order: the `file` of every span indexes this list.
    pub fn sources(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.img
            .files
            .iter()
            .zip(&self.img.sources)
            .map(|(name, text)| (name.as_str(), text.as_str()))
    }

    /// The string with id `id`. Ids come from a verified bundle, so one out
    /// of range is a bug: it asserts in debug builds and reads as empty
    /// otherwise.
    pub(crate) fn string(&self, id: u32) -> &str {
        let s = self.img.strings.get(id as usize);
        invariant!(s.is_some(), "string id {id} out of range");
        s.map_or("", String::as_str)
    }

    /// The id of the interned string `s`, if the bundle has it.
    pub(crate) fn string_id(&self, s: &str) -> Option<u32> {
        self.lookup.strings.get(&self.img.strings, s)
    }

    /// The entity (kind 0), action (1) or task (2) called `name`.
    pub(crate) fn named(&self, kind: usize, name: &str) -> Option<u32> {
        let id = self.string_id(name)?;
        let found = *self.lookup.named.get(id as usize)?.get(kind)?;
        (found != u32::MAX).then_some(found)
    }

    /// The index entry for (scope, action).
    pub(crate) fn index_entry(&self, scope: u32, action: u32) -> Option<&IndexEntry> {
        let index = &self.img.index;
        index
            .binary_search_by(|e| (e.scope, e.action).cmp(&(scope, action)))
            .ok()
            .and_then(|i| index.get(i))
    }

    /// The rule numbers of an index range.
    pub(crate) fn index_slice(&self, range: (u32, u32)) -> &[u32] {
        let slice = self.img.index_slice(range);
        invariant!(
            slice.len() == range.1 as usize,
            "index range {range:?} out of bounds"
        );
        slice
    }
}

/// A task as a bundle declares it: what a decision service holding tasks
/// needs to start, approve and expire one ([`Bundle::tasks`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo<'a> {
    /// The task's name.
    pub name: &'a str,
    /// How long its grants live after it starts, in microseconds; `None`
    /// when the task declares no `ttl`.
    pub ttl_micros: Option<i64>,
    /// How many approvals (by others than its principal) it needs before
    /// it starts, as the compiler derived them from its rules.
    pub approvals: u32,
    /// Whether it is a `breakglass` task (its grants carry an audit
    /// obligation).
    pub breakglass: bool,
    /// The principal types its permits apply to, sorted; `None` when a
    /// permit applies to any principal.
    pub principal_types: Option<Vec<&'a str>>,
    /// The actions declared `grants` this task: approving it is a decision
    /// on one of them.
    pub granted_by: Vec<GrantingAction<'a>>,
}

/// An action declared `grants T`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantingAction<'a> {
    /// The action's name.
    pub name: &'a str,
    /// The resource types it is declared on, in declaration order.
    pub resource_types: Vec<&'a str>,
}
