//! The checked program: declarations resolved to ids, expressions typed.
//!
//! This is what every later stage consumes: the lowering to bytecode, the
//! reference interpreter and the analyser. Everything in it is already
//! known to be well-typed; later stages never re-check.

use crate::span::{FileId, Span};
use crate::syntax::ast::{Effect, Sensitivity, TaskKind};
use jitp_runtime::value::{Cidr, Decimal, Duration, Time};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u32);
        impl $name {
            /// The index into the program's table.
            pub fn index(self) -> usize { self.0 as usize }
        }
    )*};
}

id_type! {
    /// An entity type.
    EntityId;
    /// A record type.
    RecordId;
    /// An enum type.
    EnumId;
    /// A declared action.
    ActionId;
    /// A constant.
    ConstId;
    /// A function.
    FnId;
    /// A task or break-glass block.
    TaskId;
    /// A rule (permit or forbid), by its place in the program's rules.
    RuleId;
}

/// A type of the language.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// `Bool`
    Bool,
    /// `Int`
    Int,
    /// `String`
    String,
    /// `Time`
    Time,
    /// `Duration`
    Duration,
    /// `Decimal`: fixed point, six fractional digits.
    Decimal,
    /// `Ip`
    Ip,
    /// `Net`
    Net,
    /// `Set<T>`
    Set(Box<Type>),
    /// `T?`
    Optional(Box<Type>),
    /// A record.
    Record(RecordId),
    /// An enum.
    Enum(EnumId),
    /// One of these entity types (principal or resource). Only the fields
    /// every listed type has (at least `id`) can be read.
    Entity(Vec<EntityId>),
    /// The built-in `task` value (see [`TaskField`]).
    Task,
    /// The element type of an empty set literal: fits any type.
    Never,
    /// The type of an expression that already has an error; fits anything and
    /// produces no further diagnostics.
    Error,
}

impl Type {
    /// Strips one level of optional.
    pub fn unwrap_optional(&self) -> &Type {
        match self {
            Type::Optional(t) => t,
            t => t,
        }
    }

    /// Whether the type is `T?`.
    pub fn is_optional(&self) -> bool {
        matches!(self, Type::Optional(_))
    }

    /// Wraps in `?` unless already optional.
    pub fn optional(self) -> Type {
        match self {
            Type::Optional(_) | Type::Error => self,
            t => Type::Optional(Box::new(t)),
        }
    }

    /// Whether a value of this type can stand where `want` is expected
    /// (equal types; `Never` and `Error` fit anywhere).
    pub fn fits(&self, want: &Type) -> bool {
        match (self, want) {
            (Type::Error, _) | (_, Type::Error) | (Type::Never, _) | (_, Type::Never) => true,
            (Type::Set(a), Type::Set(b)) => a.fits(b),
            (Type::Optional(a), Type::Optional(b)) => a.fits(b),
            // A present value can stand where an optional one is expected.
            (a, Type::Optional(b)) => a.fits(b),
            (Type::Entity(a), Type::Entity(b)) => a == b,
            (a, b) => a == b,
        }
    }
}

/// A field of an entity, record or the context.
#[derive(Clone, Debug)]
pub struct FieldDef {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: Type,
    /// Where declared.
    pub span: Span,
    /// Documentation.
    pub doc: Option<String>,
}

/// An entity type. Field 0 is always the implicit `id: String`.
#[derive(Clone, Debug)]
pub struct EntityDef {
    /// Qualified name as written by users (`ServiceAccount`, `nhi.Workload`).
    pub name: String,
    /// Fields, `id` first.
    pub fields: Vec<FieldDef>,
    /// Where declared.
    pub span: Span,
    /// Documentation.
    pub doc: Option<String>,
}

/// A record type (also used for the context and evidence schemas).
#[derive(Clone, Debug)]
pub struct RecordDef {
    /// Qualified name.
    pub name: String,
    /// Fields in declaration order.
    pub fields: Vec<FieldDef>,
    /// Where declared.
    pub span: Span,
    /// Documentation.
    pub doc: Option<String>,
}

/// An enum type.
#[derive(Clone, Debug)]
pub struct EnumDef {
    /// Qualified name.
    pub name: String,
    /// Variants in declaration order.
    pub variants: Vec<String>,
    /// Where declared.
    pub span: Span,
    /// Documentation.
    pub doc: Option<String>,
}

/// A declared action.
#[derive(Clone, Debug)]
pub struct ActionDef {
    /// Dotted name, e.g. `secrets.rotate`.
    pub name: String,
    /// Resource types it applies to.
    pub on: Vec<EntityId>,
    /// Sensitivity (default medium).
    pub sensitivity: Sensitivity,
    /// The task that performing this action activates, if declared.
    pub grants: Option<TaskId>,
    /// Where declared.
    pub span: Span,
    /// Documentation.
    pub doc: Option<String>,
}

/// A named constant.
#[derive(Clone, Debug)]
pub struct ConstDef {
    /// Qualified name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Its defining expression (constant: no request names).
    pub value: Expr,
    /// Its value, computed by the checker from [`ConstDef::value`]. Always
    /// `Some` in a program returned by [`crate::check::check`].
    pub folded: Option<ConstValue>,
    /// Where declared.
    pub span: Span,
}

/// A value the checker computed: the value of a constant or of a set
/// literal that reads no request values. Lowering puts these into the
/// bundle's constant pool; the reference interpreter does not read them
/// (it evaluates the expressions itself).
///
/// The variants are ordered as the reference interpreter orders its values,
/// so sets iterate in the same order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConstValue {
    /// An absent optional.
    Absent,
    /// Bool.
    Bool(bool),
    /// Int.
    Int(i64),
    /// String.
    Str(String),
    /// Time (µs since the epoch).
    Time(i64),
    /// Duration (µs).
    Dur(i64),
    /// Decimal (millionths).
    Dec(i64),
    /// Ip.
    Ip(IpAddr),
    /// Net.
    Net(Cidr),
    /// Enum variant index.
    Enum(u32),
    /// Set.
    Set(BTreeSet<ConstValue>),
}

/// A pure helper function, inlined at its call sites.
#[derive(Clone, Debug)]
pub struct FnDef {
    /// Qualified name.
    pub name: String,
    /// Parameter names and types.
    pub params: Vec<(String, Type)>,
    /// Result type.
    pub ret: Type,
    /// The body; parameters are [`Var::Param`].
    pub body: Expr,
    /// Where declared.
    pub span: Span,
}

/// A task or break-glass block.
#[derive(Clone, Debug)]
pub struct TaskDef {
    /// Name.
    pub name: String,
    /// Task or break-glass.
    pub kind: TaskKind,
    /// How long the task's grants live after `task.started_at`.
    pub ttl: Option<Duration>,
    /// Notification channels (obligations of every grant).
    pub notify: Vec<String>,
    /// The record of the task's declared `params`, if it declares any.
    pub params: Option<RecordId>,
    /// Where declared (the name).
    pub span: Span,
    /// Documentation.
    pub doc: Option<String>,
}

/// A `require` clause.
#[derive(Clone, Debug)]
pub struct Require {
    /// The condition.
    pub cond: Expr,
    /// The label reported in `step_up` decisions.
    pub label: String,
    /// The clause's span.
    pub span: Span,
}

/// A checked rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Stable id (`@id`, or derived from task and position).
    pub id: String,
    /// Permit or forbid.
    pub effect: Effect,
    /// The task it belongs to; `None` for standing rules and global guards.
    pub task: Option<TaskId>,
    /// Principal types; `None` means any.
    pub principal: Option<Vec<EntityId>>,
    /// The actions it covers (wildcards expanded).
    pub actions: Vec<ActionId>,
    /// Whether the action pattern was a wildcard (`*` or `ns.*`).
    pub wildcard_action: bool,
    /// Resource types; `None` means any.
    pub resource: Option<Vec<EntityId>>,
    /// The `for` duration, if any.
    pub for_ttl: Option<Duration>,
    /// The effective lifetime: the smaller of the task's ttl and `for`.
    pub ttl: Option<Duration>,
    /// `when` condition.
    pub when: Option<Expr>,
    /// `unless` condition.
    pub unless: Option<Expr>,
    /// `require` clauses in source order.
    pub requires: Vec<Require>,
    /// `@standing("reason")`.
    pub standing_reason: Option<String>,
    /// Documentation.
    pub doc: Option<String>,
    /// The whole rule.
    pub span: Span,
    /// The head (`permit P to A on R`).
    pub head: Span,
}

/// A checked policy set.
#[derive(Clone, Debug, Default)]
pub struct Program {
    /// The package name, if declared.
    pub package: Option<String>,
    /// Entity types.
    pub entities: Vec<EntityDef>,
    /// Record types, including the context (see [`Program::context`]).
    pub records: Vec<RecordDef>,
    /// Enum types.
    pub enums: Vec<EnumDef>,
    /// Actions.
    pub actions: Vec<ActionDef>,
    /// Constants.
    pub consts: Vec<ConstDef>,
    /// Functions.
    pub fns: Vec<FnDef>,
    /// Tasks.
    pub tasks: Vec<TaskDef>,
    /// Rules in source order.
    pub rules: Vec<Rule>,
    /// The value of every set literal in a rule condition or a function
    /// body that reads no request values and no parameters, by the
    /// literal's span (computed by the checker).
    pub closed_sets: HashMap<Span, ConstValue>,
    /// The context schema.
    pub context: RecordId,
    /// The evidence schema (`std.nhi.Evidence`).
    pub evidence: RecordId,
    /// The files the program was built from: the policy set's own, then
    /// the modules it loaded (directly or through other modules), each
    /// once. A bundle embeds exactly these.
    pub files: Vec<FileId>,
}

impl Program {
    /// The entity with id `id`.
    pub fn entity(&self, id: EntityId) -> &EntityDef {
        &self.entities[id.index()]
    }
    /// The record with id `id`.
    pub fn record(&self, id: RecordId) -> &RecordDef {
        &self.records[id.index()]
    }
    /// The enum with id `id`.
    pub fn enum_def(&self, id: EnumId) -> &EnumDef {
        &self.enums[id.index()]
    }
    /// The action with id `id`.
    pub fn action(&self, id: ActionId) -> &ActionDef {
        &self.actions[id.index()]
    }
    /// The task with id `id`.
    pub fn task(&self, id: TaskId) -> &TaskDef {
        &self.tasks[id.index()]
    }
    /// Looks an action up by name.
    pub fn action_by_name(&self, name: &str) -> Option<ActionId> {
        self.actions
            .iter()
            .position(|a| a.name == name)
            .map(|i| ActionId(i as u32))
    }
    /// Looks a task up by name.
    pub fn task_by_name(&self, name: &str) -> Option<TaskId> {
        self.tasks
            .iter()
            .position(|t| t.name == name)
            .map(|i| TaskId(i as u32))
    }
    /// Looks an entity type up by name.
    pub fn entity_by_name(&self, name: &str) -> Option<EntityId> {
        self.entities
            .iter()
            .position(|e| e.name == name)
            .map(|i| EntityId(i as u32))
    }

    /// Renders a type for messages.
    pub fn type_name(&self, ty: &Type) -> String {
        match ty {
            Type::Bool => "Bool".into(),
            Type::Int => "Int".into(),
            Type::String => "String".into(),
            Type::Time => "Time".into(),
            Type::Duration => "Duration".into(),
            Type::Decimal => "Decimal".into(),
            Type::Ip => "Ip".into(),
            Type::Net => "Net".into(),
            Type::Set(t) => format!("Set<{}>", self.type_name(t)),
            Type::Optional(t) => format!("{}?", self.type_name(t)),
            Type::Record(r) => self
                .records
                .get(r.index())
                .map_or("?".into(), |r| r.name.clone()),
            Type::Enum(e) => self
                .enums
                .get(e.index())
                .map_or("?".into(), |e| e.name.clone()),
            Type::Entity(ids) if ids.is_empty() => "entity".into(),
            Type::Task => "task".into(),
            Type::Entity(ids) => ids
                .iter()
                .map(|i| {
                    self.entities
                        .get(i.index())
                        .map_or("?", |e| e.name.as_str())
                })
                .collect::<Vec<_>>()
                .join(" | "),
            Type::Never => "empty set element".into(),
            Type::Error => "{unknown}".into(),
        }
    }
}

/// The names an expression can read.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Var {
    /// `principal`
    Principal,
    /// `resource`
    Resource,
    /// `action` (its name, a String)
    Action,
    /// `context`
    Context,
    /// `now`
    Now,
    /// `task`
    Task,
    /// `evidence`
    Evidence,
    /// `task.params` of a rule inside this task (a record of the task's
    /// declared parameters).
    TaskParams(TaskId),
    /// A function parameter, by position.
    Param(u32),
}

/// Fields of the built-in `task` value.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TaskField {
    /// `task.name`
    Name,
    /// `task.id`
    Id,
    /// `task.started_at`
    StartedAt,
    /// `task.approvals`: distinct approvers other than the principal.
    Approvals,
    /// `task.approvers`: those approvers' names.
    Approvers,
}

impl TaskField {
    /// All fields with their names and types.
    pub const ALL: [(TaskField, &'static str); 5] = [
        (TaskField::Name, "name"),
        (TaskField::Id, "id"),
        (TaskField::StartedAt, "started_at"),
        (TaskField::Approvals, "approvals"),
        (TaskField::Approvers, "approvers"),
    ];

    /// The field's type.
    pub fn ty(self) -> Type {
        match self {
            TaskField::Name | TaskField::Id => Type::String,
            TaskField::StartedAt => Type::Time,
            TaskField::Approvals => Type::Int,
            TaskField::Approvers => Type::Set(Box::new(Type::String)),
        }
    }
}

/// Comparison operators.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// Arithmetic operators (checked: overflow is an evaluation error).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*` (a `Decimal` by an `Int`)
    Mul,
}

/// Built-in methods.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `s.starts_with(p)`
    StartsWith,
    /// `s.ends_with(p)`
    EndsWith,
    /// `s.contains(p)` on strings
    StrContains,
    /// `set.contains(x)`
    Contains,
    /// `set.contains_any(other)`
    ContainsAny,
    /// `set.contains_all(other)`
    ContainsAll,
    /// `set.is_empty()`
    IsEmpty,
    /// `set.len()`
    Len,
}

impl Method {
    /// The method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::StartsWith => "starts_with",
            Method::EndsWith => "ends_with",
            Method::StrContains | Method::Contains => "contains",
            Method::ContainsAny => "contains_any",
            Method::ContainsAll => "contains_all",
            Method::IsEmpty => "is_empty",
            Method::Len => "len",
        }
    }

    /// Whether the method is a predicate (false when an operand is absent).
    pub fn is_predicate(self) -> bool {
        !matches!(self, Method::Len)
    }
}

/// A `like` pattern, split at its `*` wildcards.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pattern {
    /// The literal pieces between wildcards; `n` wildcards give `n + 1` pieces.
    pub pieces: Vec<String>,
}

impl Pattern {
    /// Parses a pattern: `*` is a wildcard, `\*` (lexed as `\*`) a literal star.
    pub fn parse(text: &str) -> Pattern {
        let mut pieces = vec![String::new()];
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'*') => {
                    chars.next();
                    if let Some(p) = pieces.last_mut() {
                        p.push('*');
                    }
                }
                '*' => pieces.push(String::new()),
                c => {
                    if let Some(p) = pieces.last_mut() {
                        p.push(c);
                    }
                }
            }
        }
        Pattern { pieces }
    }

    /// Whether `s` matches.
    pub fn matches(&self, s: &str) -> bool {
        let (first, rest) = match self.pieces.split_first() {
            Some(x) => x,
            None => return s.is_empty(),
        };
        let Some(mut tail) = s.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return tail.is_empty();
        };
        for piece in middle {
            match tail.find(piece.as_str()) {
                Some(i) => tail = &tail[i + piece.len()..],
                None => return false,
            }
        }
        tail.len() >= last.len() && tail.ends_with(last.as_str())
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escaped: Vec<String> = self.pieces.iter().map(|p| p.replace('*', "\\*")).collect();
        write!(f, "{}", escaped.join("*"))
    }
}

/// A literal value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Literal {
    /// Bool.
    Bool(bool),
    /// Int.
    Int(i64),
    /// String.
    Str(String),
    /// Time.
    Time(Time),
    /// Duration.
    Duration(Duration),
    /// Decimal.
    Decimal(Decimal),
    /// Ip.
    Ip(IpAddr),
    /// Net.
    Net(Cidr),
    /// An enum variant.
    Enum(EnumId, u32),
}

/// A typed expression.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// Its type.
    pub ty: Type,
    /// Where it was written.
    pub span: Span,
}

impl Expr {
    /// Whether the expression reads nothing from the request or from
    /// function parameters (so its value is known when the policy is
    /// checked).
    pub fn is_closed(&self) -> bool {
        match &self.kind {
            ExprKind::Lit(_) | ExprKind::Const(_) => true,
            ExprKind::Var(_) | ExprKind::TaskField(_) | ExprKind::Error => false,
            ExprKind::Set(items) | ExprKind::Call(_, items) => items.iter().all(Expr::is_closed),
            ExprKind::Field { base, .. } => base.is_closed(),
            ExprKind::Method { recv, args, .. } => {
                recv.is_closed() && args.iter().all(Expr::is_closed)
            }
            ExprKind::Not(x) | ExprKind::Neg(x) | ExprKind::Has(x) | ExprKind::Like(x, _) => {
                x.is_closed()
            }
            ExprKind::And(a, b)
            | ExprKind::Or(a, b)
            | ExprKind::Cmp(_, a, b)
            | ExprKind::Arith(_, a, b)
            | ExprKind::In(a, b)
            | ExprKind::Default(a, b) => a.is_closed() && b.is_closed(),
        }
    }
}

/// Typed expression forms.
#[derive(Clone, Debug)]
pub enum ExprKind {
    /// A literal.
    Lit(Literal),
    /// A set literal.
    Set(Vec<Expr>),
    /// A variable.
    Var(Var),
    /// A named constant.
    Const(ConstId),
    /// A field of a record, entity, context or evidence (by name; optional
    /// chaining when `optional`).
    Field {
        /// The value read from.
        base: Box<Expr>,
        /// The field name.
        name: String,
        /// Written `?.`: absent base gives absent result.
        optional: bool,
    },
    /// A field of the built-in `task` value.
    TaskField(TaskField),
    /// A call of a helper function.
    Call(FnId, Vec<Expr>),
    /// A built-in method call. An absent receiver or argument makes a
    /// predicate false and `len` absent.
    Method {
        /// The method.
        method: Method,
        /// The receiver.
        recv: Box<Expr>,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// `not e`
    Not(Box<Expr>),
    /// `-e`
    Neg(Box<Expr>),
    /// `a and b`
    And(Box<Expr>, Box<Expr>),
    /// `a or b`
    Or(Box<Expr>, Box<Expr>),
    /// A comparison (false when an operand is absent).
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// `+` or `-` on Int, Time, Duration and Decimal; `*` of a Decimal by an Int.
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    /// `x in set`, `ip in net`, `t in window` (false when an operand is absent).
    In(Box<Expr>, Box<Expr>),
    /// `x like "pattern"`.
    Like(Box<Expr>, Pattern),
    /// `a ?? b`
    Default(Box<Expr>, Box<Expr>),
    /// `has e` where `e` is optional.
    Has(Box<Expr>),
    /// A subexpression with an error; never reaches later stages.
    Error,
}
