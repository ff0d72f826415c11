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

use crate::bytecode::{decode_all, encode_all, method, DecodeError, Instr};
use crate::val::{Arena, SetRef, Val};
use crate::value::Cidr;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// A type as the request binder sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TypeDesc {
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
    /// An enum, by index.
    Enum(u32),
    /// A set.
    Set(Box<TypeDesc>),
    /// An optional.
    Optional(Box<TypeDesc>),
    /// A record, by index.
    Record(u32),
}

/// A field of a record or entity layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldLayout {
    /// Field name (string id).
    pub name: u32,
    /// Its type.
    pub ty: TypeDesc,
    /// For record fields: offset from the record's marker slot. For entity
    /// fields: the absolute slot.
    pub slot: u32,
}

/// A record's flattened layout: a presence marker slot, then its fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordLayout {
    /// Name (string id).
    pub name: u32,
    /// Slots used, marker included.
    pub size: u32,
    /// Fields with their offsets (>= 1).
    pub fields: Vec<FieldLayout>,
}

/// An entity type's layout: where each field of a bound principal or
/// resource of this type goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityLayout {
    /// Name (string id).
    pub name: u32,
    /// Fields as principal (absolute slots), `id` first.
    pub as_principal: Vec<FieldLayout>,
    /// Fields as resource (absolute slots), `id` first.
    pub as_resource: Vec<FieldLayout>,
}

/// Slots of the built-in request values.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SpecialSlots {
    /// `now`
    pub now: u32,
    /// `action`
    pub action: u32,
    /// `task.name`
    pub task_name: u32,
    /// `task.id`
    pub task_id: u32,
    /// `task.started_at`
    pub task_started_at: u32,
    /// `task.approvals`
    pub task_approvals: u32,
    /// `task.approvers`
    pub task_approvers: u32,
}

/// The request schema: how a request is bound to slots.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Schema {
    /// Enums: variant names (string ids).
    pub enums: Vec<(u32, Vec<u32>)>,
    /// Record layouts; a record only contains records of lower index.
    pub records: Vec<RecordLayout>,
    /// Entity layouts.
    pub entities: Vec<EntityLayout>,
    /// The context record and the slot of its marker.
    pub context: (u32, u32),
    /// The evidence record and the slot of its marker.
    pub evidence: (u32, u32),
    /// Built-in slots.
    pub special: SpecialSlots,
    /// Total number of slots.
    pub slot_count: u32,
}

/// A location in the policy source.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct SrcSpan {
    /// Index into [`Bundle::files`].
    pub file: u32,
    /// Byte offset of the start.
    pub start: u32,
    /// Byte offset of the end.
    pub end: u32,
    /// 1-based line of the start.
    pub line: u32,
    /// 1-based column of the start.
    pub col: u32,
}

/// A compiled condition: a range of the code ending in `Ret`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// First instruction.
    pub start: u32,
    /// Number of instructions.
    pub len: u32,
    /// The condition's source span.
    pub span: SrcSpan,
}

/// A declared action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionMeta {
    /// Name (string id).
    pub name: u32,
    /// Resource types it applies to.
    pub on: Vec<u32>,
    /// 0 low, 1 medium, 2 high, 3 critical.
    pub sensitivity: u8,
}

/// A task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskMeta {
    /// Name (string id).
    pub name: u32,
    /// Lifetime in microseconds.
    pub ttl: Option<i64>,
    /// Break-glass: grants carry an audit obligation.
    pub breakglass: bool,
    /// Notification channels (string ids).
    pub notify: Vec<u32>,
}

/// A rule's metadata and compiled conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMeta {
    /// Stable id (string id).
    pub id: u32,
    /// True for `forbid`.
    pub forbid: bool,
    /// Task index, if the rule is task-scoped.
    pub task: Option<u32>,
    /// Principal entity types; `None` is any.
    pub principal: Option<Vec<u32>>,
    /// Resource entity types; `None` is any.
    pub resource: Option<Vec<u32>>,
    /// Actions covered, ascending.
    pub actions: Vec<u32>,
    /// Lifetime after `task.started_at`, in microseconds.
    pub ttl: Option<i64>,
    /// `when`.
    pub when: Option<Block>,
    /// `unless`.
    pub unless: Option<Block>,
    /// `require` conditions with their labels (string ids).
    pub requires: Vec<(Block, u32)>,
    /// The whole rule.
    pub span: SrcSpan,
}

/// One entry of the rule index: the rules for (scope, action), where scope
/// 0 is global and `t + 1` is task `t`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// 0 or task index + 1.
    pub scope: u32,
    /// Action index.
    pub action: u32,
    /// Guards: range in [`Bundle::index_rules`].
    pub guards: (u32, u32),
    /// Permits: range in [`Bundle::index_rules`].
    pub permits: (u32, u32),
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

/// A fast, unkeyed (FxHash-style) hash of a name, for the bundle's own
/// string index. Requests only query that index, never insert into it, so
/// hostile keys cannot degrade it; tables that requests fill use the
/// standard keyed hasher. The high half is returned: the multiply mixes it
/// best.
fn name_hash(s: &str) -> u32 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = 0u64;
    let mut chunks = s.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let w = <[u8; 8]>::try_from(c).map_or(0, u64::from_le_bytes);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    for b in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(*b)).wrapping_mul(K);
    }
    (h >> 32) as u32
}

/// An index from string text to string id over [`Bundle::strings`]: open
/// addressing with linear probing, keyed by [`name_hash`]. Each slot holds
/// the hash and the id, so a probe compares texts only when the hashes
/// match, and building the index allocates one table rather than a copy of
/// every string.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct StrIndex {
    /// `(hash, id)`; an id of `u32::MAX` marks an empty slot. The length is
    /// a power of two, at least twice the number of strings.
    slots: Vec<(u32, u32)>,
}

impl StrIndex {
    const EMPTY: (u32, u32) = (0, u32::MAX);

    /// Indexes `strings`; the first of equal strings wins.
    fn build(strings: &[String]) -> StrIndex {
        let len = (strings.len() * 2).max(8).next_power_of_two();
        let mut index = StrIndex {
            slots: vec![Self::EMPTY; len],
        };
        for (id, s) in strings.iter().enumerate() {
            let hash = name_hash(s);
            if let Err(free) = index.find(strings, s, hash) {
                if let Some(slot) = index.slots.get_mut(free) {
                    *slot = (hash, id as u32);
                }
            }
        }
        index
    }

    /// The id of `s` in `strings` (the slice the index was built from).
    fn get(&self, strings: &[String], s: &str) -> Option<u32> {
        self.find(strings, s, name_hash(s)).ok()
    }

    /// `Ok(id)` if `s` (whose [`name_hash`] is `hash`) is indexed, else
    /// `Err(empty slot where it would go)`.
    fn find(&self, strings: &[String], s: &str, hash: u32) -> Result<u32, usize> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = hash as usize & mask;
        // The table is never full, so an empty slot ends every probe; the
        // bound only guards against a corrupt table.
        for _ in 0..self.slots.len() {
            let Some(&(h, id)) = self.slots.get(i) else {
                break;
            };
            if id == u32::MAX {
                return Err(i);
            }
            if h == hash && strings.get(id as usize).map(String::as_str) == Some(s) {
                return Ok(id);
            }
            i = (i + 1) & mask;
        }
        Err(usize::MAX)
    }
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

    // ------------------------------------------------------------ encoding

    /// Serialises the bundle.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.str(&self.name);
        w.u32(self.strings.len() as u32);
        for s in &self.strings {
            w.str(s);
        }
        let s = &self.schema;
        w.u32(s.enums.len() as u32);
        for (name, variants) in &s.enums {
            w.u32(*name);
            w.u32s(variants);
        }
        w.u32(s.records.len() as u32);
        for r in &s.records {
            w.u32(r.name);
            w.u32(r.size);
            w.fields(&r.fields);
        }
        w.u32(s.entities.len() as u32);
        for e in &s.entities {
            w.u32(e.name);
            w.fields(&e.as_principal);
            w.fields(&e.as_resource);
        }
        for v in [
            s.context.0,
            s.context.1,
            s.evidence.0,
            s.evidence.1,
            s.special.now,
            s.special.action,
            s.special.task_name,
            s.special.task_id,
            s.special.task_started_at,
            s.special.task_approvals,
            s.special.task_approvers,
            s.slot_count,
        ] {
            w.u32(v);
        }
        w.u32(self.consts.len() as u32);
        for v in &self.consts {
            w.val(v);
        }
        w.u32(self.const_sets.len() as u32);
        for v in &self.const_sets {
            w.val(v);
        }
        w.u32(self.patterns.len() as u32);
        for p in &self.patterns {
            w.u32s(p);
        }
        w.u32(self.actions.len() as u32);
        for a in &self.actions {
            w.u32(a.name);
            w.u32s(&a.on);
            w.u8(a.sensitivity);
        }
        w.u32(self.tasks.len() as u32);
        for t in &self.tasks {
            w.u32(t.name);
            w.opt_i64(t.ttl);
            w.u8(u8::from(t.breakglass));
            w.u32s(&t.notify);
        }
        w.u32(self.rules.len() as u32);
        for r in &self.rules {
            w.u32(r.id);
            w.u8(u8::from(r.forbid));
            w.u32(r.task.unwrap_or(u32::MAX));
            w.opt_u32s(r.principal.as_deref());
            w.opt_u32s(r.resource.as_deref());
            w.u32s(&r.actions);
            w.opt_i64(r.ttl);
            w.opt_block(r.when.as_ref());
            w.opt_block(r.unless.as_ref());
            w.u32(r.requires.len() as u32);
            for (b, label) in &r.requires {
                w.block(b);
                w.u32(*label);
            }
            w.span(&r.span);
        }
        w.u32(self.index.len() as u32);
        for e in &self.index {
            for v in [
                e.scope,
                e.action,
                e.guards.0,
                e.guards.1,
                e.permits.0,
                e.permits.1,
            ] {
                w.u32(v);
            }
        }
        w.u32s(&self.index_rules);
        let code = encode_all(&self.code);
        w.u32(code.len() as u32);
        w.bytes.extend_from_slice(&code);
        w.u32(self.spans.len() as u32);
        for s in &self.spans {
            w.span(s);
        }
        w.u32(self.files.len() as u32);
        for f in &self.files {
            w.str(f);
        }
        // One text per file, so the count is implied.
        for i in 0..self.files.len() {
            w.str(self.sources.get(i).map_or("", String::as_str));
        }
        w.u32(self.max_stack);
        w.u32(self.max_locals);

        let mut out = Vec::with_capacity(w.bytes.len() + 20);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&checksum(&w.bytes).to_le_bytes());
        out.extend_from_slice(&w.bytes);
        out
    }

    /// Loads and verifies a bundle.
    pub fn from_bytes(bytes: &[u8]) -> Result<Bundle, BundleError> {
        let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
            return err("not a jitp bundle (bad magic bytes)");
        };
        let Some((version, rest)) = rest.split_first_chunk::<4>() else {
            return err("truncated header");
        };
        let version = u32::from_le_bytes(*version);
        if version != FORMAT_VERSION {
            return err(format!(
                "format version {version} is not supported (this build reads version {FORMAT_VERSION}); rebuild the bundle with this jitp"
            ));
        }
        let Some((sum, body)) = rest.split_first_chunk::<8>() else {
            return err("truncated header");
        };
        if u64::from_le_bytes(*sum) != checksum(body) {
            return err("checksum mismatch: the bundle is corrupt or truncated");
        }
        let mut r = Reader {
            bytes: body,
            pos: 0,
        };
        let mut b = r.bundle()?;
        if r.pos != body.len() {
            return err(format!(
                "{} unexpected bytes after the bundle",
                body.len() - r.pos
            ));
        }
        b.verify()?;
        b.lookup.fingerprint = u64::from_le_bytes(*sum);
        b.build_lookup();
        Ok(b)
    }

    /// Reads and verifies a bundle file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Bundle, BundleError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| BundleError {
            message: format!(
                "cannot read `{}`: {}",
                path.display(),
                e.to_string().to_lowercase()
            ),
        })?;
        Bundle::from_bytes(&bytes)
    }

    /// The policy sources the bundle was compiled from, as (file name,
    /// text) in file-id order: the `file` of every span indexes this list.
    pub fn sources(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.files
            .iter()
            .zip(&self.sources)
            .map(|(name, text)| (name.as_str(), text.as_str()))
    }

    // ------------------------------------------------------------ verification

    /// Checks every internal reference. Called by [`Bundle::from_bytes`] and
    /// by the compiler on what it produces.
    pub(crate) fn verify(&self) -> Result<(), BundleError> {
        if self.sources.len() != self.files.len() {
            return err(format!(
                "{} source texts for {} files",
                self.sources.len(),
                self.files.len()
            ));
        }
        let nstr = self.strings.len() as u32;
        let s = &self.schema;
        let str_ok = |id: u32, what: &str| -> Result<(), BundleError> {
            if id < nstr {
                Ok(())
            } else {
                err(format!("{what}: string {id} out of range"))
            }
        };
        let slot_ok = |slot: u32, what: &str| -> Result<(), BundleError> {
            if slot < s.slot_count {
                Ok(())
            } else {
                err(format!("{what}: slot {slot} out of range"))
            }
        };
        for (name, variants) in &s.enums {
            str_ok(*name, "enum name")?;
            for v in variants {
                str_ok(*v, "enum variant")?;
            }
        }
        let type_ok = |t: &TypeDesc, below_record: u32| -> Result<u32, BundleError> {
            type_size(t, &s.records, &s.enums, below_record, 0)
        };
        if s.slot_count > MAX_SLOTS {
            return err(format!(
                "{} request slots, more than the {MAX_SLOTS} a bundle may have",
                s.slot_count
            ));
        }
        // Records are laid out as a presence marker followed by their
        // fields, back to back; each fits in the request's slots.
        for (i, r) in s.records.iter().enumerate() {
            str_ok(r.name, "record name")?;
            let mut next = 1u32;
            for f in &r.fields {
                str_ok(f.name, "field name")?;
                let size = type_ok(&f.ty, i as u32)?;
                if f.slot != next {
                    return err(format!("record {i}: field offset {} out of range", f.slot));
                }
                next = next.saturating_add(size);
            }
            if r.size != next || r.size > s.slot_count {
                return err(format!(
                    "record {i}: size {} does not match its fields",
                    r.size
                ));
            }
        }
        // Every slot belongs to something: the built-ins, the context, the
        // evidence or an entity field.
        let mut used = 0u32;
        let nrec = s.records.len() as u32;
        for (i, e) in s.entities.iter().enumerate() {
            str_ok(e.name, "entity name")?;
            for f in e.as_principal.iter().chain(&e.as_resource) {
                str_ok(f.name, "field name")?;
                let size = type_ok(&f.ty, nrec)?;
                let end = f.slot.checked_add(size);
                if end.is_none_or(|end| end > s.slot_count) {
                    return err(format!("entity {i}: field slot {} out of range", f.slot));
                }
                used = used.max(end.unwrap_or(0));
            }
        }
        for (rec, base) in [s.context, s.evidence] {
            let Some(r) = s.records.get(rec as usize) else {
                return err("context or evidence record out of range");
            };
            let end = base.checked_add(r.size);
            if end.is_none_or(|end| end > s.slot_count) {
                return err("context or evidence slots out of range");
            }
            used = used.max(end.unwrap_or(0));
        }
        let sp = &s.special;
        for slot in [
            sp.now,
            sp.action,
            sp.task_name,
            sp.task_id,
            sp.task_started_at,
            sp.task_approvals,
            sp.task_approvers,
        ] {
            slot_ok(slot, "built-in slot")?;
            used = used.max(slot + 1);
        }
        if used != s.slot_count {
            return err(format!(
                "{} request slots declared but {used} laid out",
                s.slot_count
            ));
        }
        for v in self.consts.iter() {
            self.verify_val(v, true)?;
        }
        for v in self.const_sets.iter() {
            self.verify_val(v, false)?;
        }
        for p in &self.patterns {
            if p.is_empty() {
                return err("empty pattern");
            }
            for id in p {
                str_ok(*id, "pattern")?;
            }
        }
        let nent = s.entities.len() as u32;
        for a in &self.actions {
            str_ok(a.name, "action name")?;
            if a.sensitivity > 3 {
                return err("action sensitivity out of range");
            }
            if a.on.iter().any(|e| *e >= nent) {
                return err("action resource type out of range");
            }
        }
        for t in &self.tasks {
            str_ok(t.name, "task name")?;
            for n in &t.notify {
                str_ok(*n, "notify channel")?;
            }
        }
        if self.spans.len() != self.code.len() {
            return err("source map does not match the code");
        }
        for sp in &self.spans {
            if sp.file as usize >= self.files.len().max(1) {
                return err("source span file out of range");
            }
        }
        if self.max_stack > MAX_STACK || self.max_locals > MAX_LOCALS {
            return err("stack or locals limit exceeded");
        }
        let nact = self.actions.len() as u32;
        let ntask = self.tasks.len() as u32;
        let mut pairs = 0usize;
        for (ri, r) in self.rules.iter().enumerate() {
            str_ok(r.id, "rule id")?;
            if r.task.is_some_and(|t| t >= ntask) {
                return err(format!("rule {ri}: task out of range"));
            }
            for list in [&r.principal, &r.resource].into_iter().flatten() {
                if list.iter().any(|e| *e >= nent) {
                    return err(format!("rule {ri}: entity type out of range"));
                }
            }
            if r.actions.iter().any(|a| *a >= nact) {
                return err(format!("rule {ri}: action out of range"));
            }
            if r.actions.windows(2).any(|w| w[0] >= w[1]) {
                return err(format!("rule {ri}: actions not ascending"));
            }
            if r.requires.len() > MAX_REQUIRES {
                return err(format!("rule {ri}: too many requires"));
            }
            if r.forbid && !r.requires.is_empty() {
                return err(format!("rule {ri}: a guard with requires"));
            }
            for b in r
                .when
                .iter()
                .chain(r.unless.iter())
                .chain(r.requires.iter().map(|(b, _)| b))
            {
                self.verify_block(b).map_err(|e| BundleError {
                    message: format!("rule {ri}: {}", e.message),
                })?;
            }
            for (_, label) in &r.requires {
                str_ok(*label, "require label")?;
            }
            pairs += r.actions.len();
        }
        // Every listing in the index is checked below to be a distinct
        // (rule, action) pair of a rule with that scope and kind; as many
        // listings as pairs then means every pair is listed.
        let mut listings = 0usize;
        let nrules = self.rules.len() as u32;
        let mut prev: Option<(u32, u32)> = None;
        for e in &self.index {
            if e.scope > ntask || e.action >= nact {
                return err("index entry out of range");
            }
            if prev.is_some_and(|p| p >= (e.scope, e.action)) {
                return err("index is not sorted");
            }
            prev = Some((e.scope, e.action));
            for (range, forbid) in [(e.guards, true), (e.permits, false)] {
                let end = range.0.checked_add(range.1);
                if end.is_none_or(|end| end as usize > self.index_rules.len()) {
                    return err("index range out of bounds");
                }
                let slice = self.index_slice(range);
                if slice.windows(2).any(|w| w[0] >= w[1]) {
                    return err("index range not ascending");
                }
                listings += slice.len();
                for &ri in slice {
                    let Some(r) = self.rules.get(ri as usize).filter(|_| ri < nrules) else {
                        return err("index refers to a missing rule");
                    };
                    if r.forbid != forbid
                        || r.task.map_or(0, |t| t + 1) != e.scope
                        || r.actions.binary_search(&e.action).is_err()
                    {
                        return err("index entry disagrees with its rule");
                    }
                }
            }
        }
        if listings != pairs {
            return err("a rule is missing from the rule index");
        }
        Ok(())
    }

    fn verify_val(&self, v: &Val, allow_sets: bool) -> Result<(), BundleError> {
        match *v {
            Val::Str(id) if id as usize >= self.strings.len() => {
                err("constant string out of range")
            }
            Val::Set(SetRef { arena, start, len }) => {
                if !allow_sets || arena != Arena::Const {
                    return err("nested or non-constant set in the constant pool");
                }
                match start.checked_add(len) {
                    Some(end) if end as usize <= self.const_sets.len() => Ok(()),
                    _ => err("constant set out of range"),
                }
            }
            Val::Rec(_) | Val::Present => err("record in the constant pool"),
            _ => Ok(()),
        }
    }

    /// Checks one block: operands in range, jumps forward and inside, stack
    /// heights consistent, within limits, and exactly one value at `Ret`.
    fn verify_block(&self, b: &Block) -> Result<(), BundleError> {
        let start = b.start as usize;
        let end = start
            .checked_add(b.len as usize)
            .filter(|e| *e <= self.code.len());
        let Some(end) = end else {
            return err("block out of range");
        };
        if b.len == 0 || !matches!(self.code.get(end - 1), Some(Instr::Ret {})) {
            return err("block does not end in `Ret`");
        }
        let code = &self.code[start..end];
        let mut height: Vec<Option<u32>> = vec![None; code.len() + 1];
        height[0] = Some(0);
        let nconst = self.consts.len() as u32;
        let nslot = self.schema.slot_count;
        for (pc, instr) in code.iter().enumerate() {
            let Some(h) = height[pc] else {
                return err(format!("unreachable instruction at {}", start + pc));
            };
            let in_range = match *instr {
                Instr::Const { k } => k < nconst,
                Instr::Slot { slot } | Instr::Rec { slot } => slot < nslot,
                Instr::Field { off } | Instr::FieldRec { off } => off >= 1 && off < nslot,
                Instr::Local { i } | Instr::SetLocal { i } => i < self.max_locals,
                Instr::Cmp { op } => op < 6,
                Instr::CmpSlotConst { op, slot, k } => op < 6 && slot < nslot && k < nconst,
                Instr::Like { p } => (p as usize) < self.patterns.len(),
                Instr::Method { m } => (m as usize) < method::ARGS.len(),
                _ => true,
            };
            if !in_range {
                return err(format!("operand out of range at {}", start + pc));
            }
            let (pop, push) = instr.stack_effect();
            let after = h.checked_sub(pop).ok_or_else(|| BundleError {
                message: format!("stack underflow at {}", start + pc),
            })?;
            if let Instr::Ret {} = instr {
                if h != 1 {
                    return err(format!(
                        "`Ret` with {h} values on the stack at {}",
                        start + pc
                    ));
                }
                if pc + 1 != code.len() {
                    // an early return would leave later code unreachable
                    return err(format!("`Ret` before the end of a block at {}", start + pc));
                }
                continue;
            }
            let next = after + push;
            if next > self.max_stack {
                return err(format!("stack deeper than declared at {}", start + pc));
            }
            let mut flow = |target: usize, h: u32| -> Result<(), BundleError> {
                // The last instruction is `Ret`: jumps may land on it but not past it.
                if target >= code.len() {
                    return err(format!("jump out of its block at {}", start + pc));
                }
                match height[target] {
                    None => {
                        height[target] = Some(h);
                        Ok(())
                    }
                    Some(existing) if existing == h => Ok(()),
                    Some(_) => err(format!("inconsistent stack height at {}", start + target)),
                }
            };
            flow(pc + 1, next)?;
            if let Some(off) = instr.jump() {
                let target = pc + 1 + off as usize;
                flow(target, h)?;
            }
        }
        Ok(())
    }
}

/// Slots a type occupies, checking its references.
fn type_size(
    t: &TypeDesc,
    records: &[RecordLayout],
    enums: &[(u32, Vec<u32>)],
    below: u32,
    depth: u32,
) -> Result<u32, BundleError> {
    if depth > MAX_TYPE_DEPTH {
        return err("type nested too deeply");
    }
    match t {
        TypeDesc::Enum(e) if *e as usize >= enums.len() => err("enum out of range"),
        TypeDesc::Record(r) => {
            if *r >= below {
                return err("record layout refers to itself or a later record");
            }
            records
                .get(*r as usize)
                .map(|r| r.size)
                .ok_or_else(|| BundleError {
                    message: "record out of range".into(),
                })
        }
        TypeDesc::Optional(inner) => type_size(inner, records, enums, below, depth + 1),
        TypeDesc::Set(inner) => match **inner {
            TypeDesc::Set(_) | TypeDesc::Optional(_) | TypeDesc::Record(_) => {
                err("unsupported set element type")
            }
            _ => type_size(inner, records, enums, below, depth + 1).map(|_| 1),
        },
        _ => Ok(1),
    }
}

/// The bundle checksum: four 64-bit lanes over little-endian 8-byte words
/// (so the lanes run in parallel, several bytes per cycle), folded together
/// with the length. Each step is a bijection of both the lane and the word,
/// so any single changed byte changes the result; so does, barring a 2^-64
/// accident, any other change. It detects corruption; it is not a MAC.
pub fn checksum(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    fn step(lane: u64, word: &[u8]) -> u64 {
        let w = <[u8; 8]>::try_from(word).map_or(0, u64::from_le_bytes);
        (lane ^ w).wrapping_mul(K).rotate_left(29)
    }
    let mut lanes: [u64; 4] = [
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ];
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            *lane = step(*lane, word);
        }
    }
    let mut tail = [0u8; 32];
    for (t, b) in tail.iter_mut().zip(blocks.remainder()) {
        *t = *b;
    }
    for (lane, word) in lanes.iter_mut().zip(tail.chunks_exact(8)) {
        *lane = step(*lane, word);
    }
    let mut h = bytes.len() as u64;
    for lane in lanes {
        h = (h ^ lane).wrapping_mul(K).rotate_left(31);
    }
    h ^ (h >> 32)
}

#[derive(Default)]
struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn u128(&mut self, v: u128) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.bytes.extend_from_slice(s.as_bytes());
    }
    fn u32s(&mut self, v: &[u32]) {
        self.u32(v.len() as u32);
        for x in v {
            self.u32(*x);
        }
    }
    fn opt_u32s(&mut self, v: Option<&[u32]>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.u32s(v);
            }
        }
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.i64(v);
            }
        }
    }
    fn ty(&mut self, t: &TypeDesc) {
        match t {
            TypeDesc::Bool => self.u8(0),
            TypeDesc::Int => self.u8(1),
            TypeDesc::String => self.u8(2),
            TypeDesc::Time => self.u8(3),
            TypeDesc::Duration => self.u8(4),
            TypeDesc::Ip => self.u8(5),
            TypeDesc::Net => self.u8(6),
            TypeDesc::Enum(e) => {
                self.u8(7);
                self.u32(*e);
            }
            TypeDesc::Set(inner) => {
                self.u8(8);
                self.ty(inner);
            }
            TypeDesc::Optional(inner) => {
                self.u8(9);
                self.ty(inner);
            }
            TypeDesc::Record(r) => {
                self.u8(10);
                self.u32(*r);
            }
        }
    }
    fn fields(&mut self, fields: &[FieldLayout]) {
        self.u32(fields.len() as u32);
        for f in fields {
            self.u32(f.name);
            self.ty(&f.ty);
            self.u32(f.slot);
        }
    }
    fn ip(&mut self, ip: &IpAddr) {
        match ip {
            IpAddr::V4(v4) => {
                self.u8(4);
                self.u32(u32::from(*v4));
            }
            IpAddr::V6(v6) => {
                self.u8(6);
                self.u128(u128::from(*v6));
            }
        }
    }
    fn val(&mut self, v: &Val) {
        match v {
            Val::Absent => self.u8(0),
            Val::Present => self.u8(1),
            Val::Bool(b) => {
                self.u8(2);
                self.u8(u8::from(*b));
            }
            Val::Int(i) => {
                self.u8(3);
                self.i64(*i);
            }
            Val::Str(s) => {
                self.u8(4);
                self.u32(*s);
            }
            Val::Time(t) => {
                self.u8(5);
                self.i64(*t);
            }
            Val::Dur(d) => {
                self.u8(6);
                self.i64(*d);
            }
            Val::Ip(ip) => {
                self.u8(7);
                self.ip(ip);
            }
            Val::Net(n) => {
                self.u8(8);
                self.ip(&n.addr);
                self.u8(n.prefix);
            }
            Val::Enum(e) => {
                self.u8(9);
                self.u32(*e);
            }
            Val::Set(s) => {
                self.u8(10);
                self.u8(u8::from(s.arena == Arena::Request));
                self.u32(s.start);
                self.u32(s.len);
            }
            Val::Rec(r) => {
                self.u8(11);
                self.u32(*r);
            }
        }
    }
    fn span(&mut self, s: &SrcSpan) {
        for v in [s.file, s.start, s.end, s.line, s.col] {
            self.u32(v);
        }
    }
    fn block(&mut self, b: &Block) {
        self.u32(b.start);
        self.u32(b.len);
        self.span(&b.span);
    }
    fn opt_block(&mut self, b: Option<&Block>) {
        match b {
            None => self.u8(0),
            Some(b) => {
                self.u8(1);
                self.block(b);
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    #[inline]
    fn take(&mut self, n: usize) -> Result<&[u8], BundleError> {
        let end = self.pos.saturating_add(n);
        match self.bytes.get(self.pos..end) {
            Some(s) => {
                self.pos = end;
                Ok(s)
            }
            None => err(format!("truncated at byte {}", self.pos)),
        }
    }
    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], BundleError> {
        let at = self.pos;
        <[u8; N]>::try_from(self.take(N)?).or_else(|_| err(format!("truncated at byte {at}")))
    }
    #[inline]
    fn u8(&mut self) -> Result<u8, BundleError> {
        self.array::<1>().map(|[b]| b)
    }
    #[inline]
    fn u32(&mut self) -> Result<u32, BundleError> {
        self.array().map(u32::from_le_bytes)
    }
    fn i64(&mut self) -> Result<i64, BundleError> {
        self.array().map(i64::from_le_bytes)
    }
    fn u128(&mut self) -> Result<u128, BundleError> {
        self.array().map(u128::from_le_bytes)
    }
    /// A count, bounded by the bytes left (each item needs at least `min` bytes),
    /// so a hostile length cannot make us allocate much.
    fn count(&mut self, min: usize) -> Result<usize, BundleError> {
        let n = self.u32()? as usize;
        let left = self.bytes.len() - self.pos;
        if n.saturating_mul(min.max(1)) > left {
            return err(format!(
                "length {n} at byte {} exceeds the bundle",
                self.pos - 4
            ));
        }
        Ok(n)
    }
    /// A counted list whose items take at least `min` bytes each. The
    /// vector is allocated once: [`Reader::count`] bounds its length.
    fn list<T>(
        &mut self,
        min: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, BundleError>,
    ) -> Result<Vec<T>, BundleError> {
        let n = self.count(min)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }
    fn str(&mut self) -> Result<String, BundleError> {
        let n = self.count(1)?;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| BundleError {
            message: format!("invalid UTF-8 in a string at byte {}", self.pos - n),
        })
    }
    fn u32s(&mut self) -> Result<Vec<u32>, BundleError> {
        self.list(4, Self::u32)
    }
    fn flag(&mut self) -> Result<bool, BundleError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => err(format!("invalid flag {b} at byte {}", self.pos - 1)),
        }
    }
    fn opt_u32s(&mut self) -> Result<Option<Vec<u32>>, BundleError> {
        Ok(if self.flag()? {
            Some(self.u32s()?)
        } else {
            None
        })
    }
    fn opt_i64(&mut self) -> Result<Option<i64>, BundleError> {
        Ok(if self.flag()? {
            Some(self.i64()?)
        } else {
            None
        })
    }
    fn ty(&mut self, depth: u32) -> Result<TypeDesc, BundleError> {
        if depth > MAX_TYPE_DEPTH {
            return err("type nested too deeply");
        }
        Ok(match self.u8()? {
            0 => TypeDesc::Bool,
            1 => TypeDesc::Int,
            2 => TypeDesc::String,
            3 => TypeDesc::Time,
            4 => TypeDesc::Duration,
            5 => TypeDesc::Ip,
            6 => TypeDesc::Net,
            7 => TypeDesc::Enum(self.u32()?),
            8 => TypeDesc::Set(Box::new(self.ty(depth + 1)?)),
            9 => TypeDesc::Optional(Box::new(self.ty(depth + 1)?)),
            10 => TypeDesc::Record(self.u32()?),
            t => return err(format!("unknown type tag {t}")),
        })
    }
    fn fields(&mut self) -> Result<Vec<FieldLayout>, BundleError> {
        self.list(9, |r| {
            Ok(FieldLayout {
                name: r.u32()?,
                ty: r.ty(0)?,
                slot: r.u32()?,
            })
        })
    }
    fn ip(&mut self) -> Result<IpAddr, BundleError> {
        match self.u8()? {
            4 => Ok(IpAddr::V4(Ipv4Addr::from(self.u32()?))),
            6 => Ok(IpAddr::V6(Ipv6Addr::from(self.u128()?))),
            t => err(format!("unknown address family {t}")),
        }
    }
    fn val(&mut self) -> Result<Val, BundleError> {
        Ok(match self.u8()? {
            0 => Val::Absent,
            1 => Val::Present,
            2 => Val::Bool(self.flag()?),
            3 => Val::Int(self.i64()?),
            4 => Val::Str(self.u32()?),
            5 => Val::Time(self.i64()?),
            6 => Val::Dur(self.i64()?),
            7 => Val::Ip(self.ip()?),
            8 => {
                let addr = self.ip()?;
                let prefix = self.u8()?;
                let text = format!("{addr}/{prefix}");
                Val::Net(Cidr::parse(&text).map_err(|e| BundleError {
                    message: format!("invalid network constant: {e}"),
                })?)
            }
            9 => Val::Enum(self.u32()?),
            10 => {
                let arena = if self.flag()? {
                    Arena::Request
                } else {
                    Arena::Const
                };
                Val::Set(SetRef {
                    arena,
                    start: self.u32()?,
                    len: self.u32()?,
                })
            }
            11 => Val::Rec(self.u32()?),
            t => return err(format!("unknown value tag {t}")),
        })
    }
    fn span(&mut self) -> Result<SrcSpan, BundleError> {
        Ok(SrcSpan {
            file: self.u32()?,
            start: self.u32()?,
            end: self.u32()?,
            line: self.u32()?,
            col: self.u32()?,
        })
    }
    fn block(&mut self) -> Result<Block, BundleError> {
        Ok(Block {
            start: self.u32()?,
            len: self.u32()?,
            span: self.span()?,
        })
    }
    fn opt_block(&mut self) -> Result<Option<Block>, BundleError> {
        Ok(if self.flag()? {
            Some(self.block()?)
        } else {
            None
        })
    }

    fn bundle(&mut self) -> Result<Bundle, BundleError> {
        let name = self.str()?;
        let strings = self.list(4, Self::str)?;
        let enums = self.list(8, |r| Ok((r.u32()?, r.u32s()?)))?;
        let records = self.list(12, |r| {
            Ok(RecordLayout {
                name: r.u32()?,
                size: r.u32()?,
                fields: r.fields()?,
            })
        })?;
        let entities = self.list(12, |r| {
            Ok(EntityLayout {
                name: r.u32()?,
                as_principal: r.fields()?,
                as_resource: r.fields()?,
            })
        })?;
        let mut v = [0u32; 12];
        for x in &mut v {
            *x = self.u32()?;
        }
        let schema = Schema {
            enums,
            records,
            entities,
            context: (v[0], v[1]),
            evidence: (v[2], v[3]),
            special: SpecialSlots {
                now: v[4],
                action: v[5],
                task_name: v[6],
                task_id: v[7],
                task_started_at: v[8],
                task_approvals: v[9],
                task_approvers: v[10],
            },
            slot_count: v[11],
        };
        let consts = self.list(1, Self::val)?;
        let const_sets = self.list(1, Self::val)?;
        let patterns = self.list(4, Self::u32s)?;
        let actions = self.list(9, |r| {
            Ok(ActionMeta {
                name: r.u32()?,
                on: r.u32s()?,
                sensitivity: r.u8()?,
            })
        })?;
        let tasks = self.list(10, |r| {
            Ok(TaskMeta {
                name: r.u32()?,
                ttl: r.opt_i64()?,
                breakglass: r.flag()?,
                notify: r.u32s()?,
            })
        })?;
        let rules = self.list(30, |r| {
            Ok(RuleMeta {
                id: r.u32()?,
                forbid: r.flag()?,
                task: match r.u32()? {
                    u32::MAX => None,
                    t => Some(t),
                },
                principal: r.opt_u32s()?,
                resource: r.opt_u32s()?,
                actions: r.u32s()?,
                ttl: r.opt_i64()?,
                when: r.opt_block()?,
                unless: r.opt_block()?,
                requires: r.list(32, |r| Ok((r.block()?, r.u32()?)))?,
                span: r.span()?,
            })
        })?;
        let index = self.list(24, |r| {
            Ok(IndexEntry {
                scope: r.u32()?,
                action: r.u32()?,
                guards: (r.u32()?, r.u32()?),
                permits: (r.u32()?, r.u32()?),
            })
        })?;
        let index_rules = self.u32s()?;
        let n = self.count(1)?;
        let code_bytes = self.take(n)?;
        let code = decode_all(code_bytes).map_err(|(at, e)| BundleError {
            message: match e {
                DecodeError::UnknownOpcode(op) => {
                    format!("unknown opcode {op:#04x} at code byte {at}")
                }
                DecodeError::Truncated => format!("truncated instruction at code byte {at}"),
            },
        })?;
        let spans = self.list(20, Self::span)?;
        let files = self.list(4, Self::str)?;
        // One source text per file, so the count is the files' count.
        let mut sources = Vec::with_capacity(files.len());
        for _ in &files {
            sources.push(self.str()?);
        }
        let max_stack = self.u32()?;
        let max_locals = self.u32()?;
        Ok(Bundle {
            name,
            strings,
            schema,
            consts,
            const_sets,
            patterns,
            actions,
            tasks,
            rules,
            index,
            index_rules,
            code,
            spans,
            files,
            sources,
            max_stack,
            max_locals,
            lookup: Lookup::default(),
        })
    }
}
