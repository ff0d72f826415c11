//! The bundle's data model: what the encoder writes, the decoder reads and
//! the verifier checks. An [`Image`] is unverified; the only way from one to
//! a [`super::Bundle`] is [`super::Bundle::from_image`], which verifies it
//! exactly as loading does.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use crate::bytecode::Instr;
use crate::val::Val;

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
    /// Decimal.
    Decimal,
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
    /// Tasks that declare `params`: (task index, record, slot of its
    /// marker), strictly ascending by task.
    pub task_params: Vec<(u32, u32, u32)>,
    /// Total number of slots.
    pub slot_count: u32,
}

/// A location in the policy source.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct SrcSpan {
    /// Index of the file, in [`crate::Bundle::sources`] order.
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
    /// The task performing this action approves (`grants task`), by index.
    pub grants: Option<u32>,
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
    /// How many approvals (by others than the principal) the task needs
    /// before it starts, as the compiler derived it from the task's rules.
    pub approvals: u32,
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
    /// Guards: range in [`Image::index_rules`].
    pub guards: (u32, u32),
    /// Permits: range in [`Image::index_rules`].
    pub permits: (u32, u32),
}

/// A policy set's contents, unverified: every table of a bundle as plain
/// data. The compiler assembles one and hands it to
/// [`super::Bundle::from_image`]; the decoder produces one from bytes.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Image {
    /// The version of the `jitp` that built the bundle (its
    /// `CARGO_PKG_VERSION`): at most [`super::BUILDER_LEN`] bytes of ASCII
    /// letters, digits, `.`, `+` and `-`, stored in the header.
    pub builder: String,
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
    /// The text of each file in [`Image::files`], so explanations and
    /// analyses of a bundle need no sources on disk.
    pub sources: Vec<String>,
    /// Deepest stack any block needs.
    pub max_stack: u32,
    /// Locals any block needs.
    pub max_locals: u32,
}

impl Image {
    /// The string with id `id` (empty if out of range, which verification
    /// rules out for every id a bundle holds).
    #[cfg_attr(not(feature = "compiler"), allow(dead_code))]
    pub fn string(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", String::as_str)
    }

    /// The rule numbers of an index range (empty if out of range).
    pub fn index_slice(&self, range: (u32, u32)) -> &[u32] {
        let (start, len) = (range.0 as usize, range.1 as usize);
        start
            .checked_add(len)
            .and_then(|end| self.index_rules.get(start..end))
            .unwrap_or(&[])
    }
}
