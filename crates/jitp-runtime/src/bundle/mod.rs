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
//! rule). A bundle that fails any check is rejected with a [`BundleError`];
//! the VM can then rely on these facts, and still never panics if they are
//! wrong.

mod checksum;
mod decode;
mod encode;
mod model;
mod strindex;
mod tags;
mod verify;

pub use checksum::checksum;
pub use model::*;
pub(crate) use strindex::StrIndex;

use crate::bytecode::Instr;
use crate::val::Val;
use std::fmt;

/// The first bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"JITPBNDL";
/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 3;
/// Deepest operand stack a block may need.
pub const MAX_STACK: u32 = 256;
/// Most locals a block may use.
pub const MAX_LOCALS: u32 = 256;
/// Most `require` clauses per rule (missing labels are a bit mask).
pub const MAX_REQUIRES: usize = 64;
/// Most request slots a bundle's schema may lay out (a bound request holds
/// one value per slot).
pub const MAX_SLOTS: u32 = 1 << 16;
/// Nesting limit of type descriptors.
const MAX_TYPE_DEPTH: u32 = 16;

/// Why a bundle was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleError {
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid bundle: {}", self.message)
    }
}

impl std::error::Error for BundleError {}

fn err<T>(message: impl Into<String>) -> Result<T, BundleError> {
    Err(BundleError {
        message: message.into(),
    })
}

/// A compiled, verified policy set. Immutable and `Send + Sync`: share one
/// across threads and decide with `&self`.
#[derive(Clone, Debug, PartialEq)]
pub struct Bundle {
    /// The package name (may be empty).
    pub name: String,
    /// Interned strings.
    pub strings: Vec<String>,
    /// Request schema.
    pub schema: Schema,
    /// Constant pool.
    pub consts: Vec<Val>,
    /// Elements of constant sets.
    pub const_sets: Vec<Val>,
    /// `like` patterns: pieces between wildcards (string ids).
    pub patterns: Vec<Vec<u32>>,
    /// Actions.
    pub actions: Vec<ActionMeta>,
    /// Tasks.
    pub tasks: Vec<TaskMeta>,
    /// Rules in source order.
    pub rules: Vec<RuleMeta>,
    /// Rule index, sorted by (scope, action).
    pub index: Vec<IndexEntry>,
    /// Rule numbers referenced by the index, each range ascending.
    pub index_rules: Vec<u32>,
    /// Bytecode.
    pub code: Vec<Instr>,
    /// Source span of each instruction.
    pub spans: Vec<SrcSpan>,
    /// Source file names.
    pub files: Vec<String>,
    /// The text of each file in [`Bundle::files`], so explanations and
    /// analyses of a bundle need no sources on disk.
    pub sources: Vec<String>,
    /// Deepest stack any block needs.
    pub max_stack: u32,
    /// Locals any block needs.
    pub max_locals: u32,
    /// Lookup tables built at load time (not serialised).
    #[doc(hidden)]
    pub lookup: Lookup,
}
/// Name lookups built when a bundle is loaded.
#[doc(hidden)]
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lookup {
    strings: StrIndex,
    /// Per string id: the entity, action and task with that name
    /// (`u32::MAX` where there is none), so names are hashed only once.
    pub named: Vec<[u32; 3]>,
    /// The bundle's checksum: bound requests remember it, so a request bound
    /// to one bundle is never decided against another.
    pub fingerprint: u64,
}

impl Bundle {
    /// The string with id `id` (empty if out of range).
    pub fn string(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", String::as_str)
    }

    /// Builds the name lookups; called after decoding or compiling.
    pub(crate) fn build_lookup(&mut self) {
        let mut l = Lookup {
            strings: StrIndex::build(&self.strings),
            named: vec![[u32::MAX; 3]; self.strings.len()],
            fingerprint: 0,
        };
        let names = [
            self.schema
                .entities
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>(),
            self.actions.iter().map(|a| a.name).collect(),
            self.tasks.iter().map(|t| t.name).collect(),
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
        l.fingerprint = self.lookup.fingerprint;
        self.lookup = l;
    }

    /// Builds the lookups of a freshly assembled bundle and verifies it
    /// completely, as loading does: what the compiler produces passes the
    /// same checks as what a service loads.
    pub fn seal(mut self) -> Result<Bundle, BundleError> {
        self.verify()?;
        self.build_lookup();
        self.set_fingerprint();
        Ok(self)
    }

    /// Sets the fingerprint from the serialised form.
    pub(crate) fn set_fingerprint(&mut self) {
        let bytes = self.to_bytes();
        let sum = bytes
            .get(12..20)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .map_or(0, u64::from_le_bytes);
        self.lookup.fingerprint = sum;
    }

    /// The id of the interned string `s`, if the bundle has it.
    pub(crate) fn string_id(&self, s: &str) -> Option<u32> {
        self.lookup.strings.get(&self.strings, s)
    }

    /// The entity (kind 0), action (1) or task (2) called `name`.
    pub(crate) fn named(&self, kind: usize, name: &str) -> Option<u32> {
        let id = self.string_id(name)?;
        let found = *self.lookup.named.get(id as usize)?.get(kind)?;
        (found != u32::MAX).then_some(found)
    }

    /// The index entry for (scope, action).
    pub fn index_entry(&self, scope: u32, action: u32) -> Option<&IndexEntry> {
        self.index
            .binary_search_by(|e| (e.scope, e.action).cmp(&(scope, action)))
            .ok()
            .and_then(|i| self.index.get(i))
    }

    /// The rule numbers of an index range.
    pub fn index_slice(&self, range: (u32, u32)) -> &[u32] {
        let (start, len) = (range.0 as usize, range.1 as usize);
        self.index_rules.get(start..start + len).unwrap_or(&[])
    }
}

impl Bundle {
    /// The policy sources the bundle was compiled from, as (file name,
    /// text) in file-id order: the `file` of every span indexes this list.
    pub fn sources(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.files
            .iter()
            .zip(&self.sources)
            .map(|(name, text)| (name.as_str(), text.as_str()))
    }
}
