//! The abstract syntax tree, exactly as written (before name resolution).
//!
//! Every node that a diagnostic may point at is a [`Node`], whose span is
//! excluded from equality.

use crate::span::{Node, Span};
use jitp_runtime::value::{Cidr, Decimal, Duration};
use std::net::IpAddr;

/// An identifier.
pub type Ident = Node<String>;

/// A dotted path such as `acme.platform`, `time.Window` or `secrets.read`.
#[derive(Clone, Debug, PartialEq)]
pub struct Path(pub Vec<Ident>);

impl Path {
    /// The path as written, e.g. `time.Window`.
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self.0.iter().map(|i| i.node.as_str()).collect();
        parts.join(".")
    }

    /// The span from the first to the last segment.
    pub fn span(&self) -> Span {
        match (self.0.first(), self.0.last()) {
            (Some(a), Some(b)) => a.span.to(b.span),
            _ => Span::default(),
        }
    }
}

/// One parsed file.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct File {
    /// The items in source order.
    pub items: Vec<Node<Item>>,
}

/// A `///` documentation comment attached to an item or rule.
pub type Doc = Option<Node<String>>;

/// A top-level item.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `package a.b`
    Package(Doc, Node<Path>),
    /// `use std.time`
    Use(Node<Path>),
    /// `entity Name { ... }`
    Entity(TypeDecl),
    /// `record Name { ... }`
    Record(TypeDecl),
    /// `enum Name { a, b }`
    Enum(EnumDecl),
    /// `context { ... }`
    Context(Doc, Vec<Field>),
    /// `evidence { ... }`: the policy set's own evidence fields, beside the
    /// standard `nhi.Evidence` ones.
    Evidence(Doc, Vec<Field>),
    /// `action ns.verb on T ...`
    Action(ActionDecl),
    /// `const NAME = expr`
    Const(ConstDecl),
    /// `fn name(params) -> T = expr`
    Fn(FnDecl),
    /// `task name { ... }` or `breakglass name { ... }`
    Task(TaskDecl),
    /// A standing rule.
    Rule(Rule),
    /// Where the parser recovered from a syntax error.
    Error,
}

/// An entity or record declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeDecl {
    /// Documentation.
    pub doc: Doc,
    /// The type's name.
    pub name: Ident,
    /// Its fields.
    pub fields: Vec<Field>,
}

/// `name: Type`
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Documentation.
    pub doc: Doc,
    /// Field name.
    pub name: Ident,
    /// Field type.
    pub ty: Node<TypeExpr>,
}

/// A type as written.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeExpr {
    /// A named type, possibly module-qualified.
    Named(Path),
    /// `Set<T>`
    Set(Box<Node<TypeExpr>>),
    /// `T?`
    Optional(Box<Node<TypeExpr>>),
}

/// `enum Name { a, b }`
#[derive(Clone, Debug, PartialEq)]
pub struct EnumDecl {
    /// Documentation.
    pub doc: Doc,
    /// The enum's name.
    pub name: Ident,
    /// Its variants in order.
    pub variants: Vec<Ident>,
}

/// How sensitive an action is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    /// Harmless reads.
    Low,
    /// The default.
    Medium,
    /// Changes to production, reads of secrets.
    High,
    /// Irreversible or organisation-wide effects.
    Critical,
}

impl Sensitivity {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Low => "low",
            Sensitivity::Medium => "medium",
            Sensitivity::High => "high",
            Sensitivity::Critical => "critical",
        }
    }
}

/// An attribute of an action declaration.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionAttr {
    /// `sensitivity high`
    Sensitivity(Ident),
    /// `grants task_name`
    Grants(Ident),
}

/// `action ns.verb on T [sensitivity s] [grants task]`
#[derive(Clone, Debug, PartialEq)]
pub struct ActionDecl {
    /// Documentation.
    pub doc: Doc,
    /// The dotted action name.
    pub name: Node<Path>,
    /// Resource types it applies to.
    pub on: Vec<Node<Path>>,
    /// Attributes (checked for duplicates by the resolver).
    pub attrs: Vec<Node<ActionAttr>>,
}

/// `const NAME [: T] = expr`
#[derive(Clone, Debug, PartialEq)]
pub struct ConstDecl {
    /// Documentation.
    pub doc: Doc,
    /// The constant's name.
    pub name: Ident,
    /// An optional declared type.
    pub ty: Option<Node<TypeExpr>>,
    /// Its value.
    pub value: Node<Expr>,
}

/// `fn name(a: T) -> U = expr`
#[derive(Clone, Debug, PartialEq)]
pub struct FnDecl {
    /// Documentation.
    pub doc: Doc,
    /// The function's name.
    pub name: Ident,
    /// Parameters.
    pub params: Vec<Field>,
    /// Declared result type.
    pub ret: Node<TypeExpr>,
    /// The body.
    pub body: Node<Expr>,
}

/// `task` or `breakglass`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// An ordinary task.
    Task,
    /// An emergency task whose grants carry an audit obligation.
    Breakglass,
}

/// `task name { ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct TaskDecl {
    /// Documentation.
    pub doc: Doc,
    /// Task or break-glass.
    pub kind: TaskKind,
    /// The task's name.
    pub name: Ident,
    /// Settings and rules in source order.
    pub items: Vec<Node<TaskItem>>,
}

/// One entry of a task body.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskItem {
    /// `ttl 15m`
    Ttl(Node<Duration>),
    /// `notify "channel"`
    Notify(Node<String>),
    /// `params { ticket: String }`: the task's typed parameters.
    Params(Vec<Field>),
    /// A rule scoped to the task.
    Rule(Rule),
    /// An unknown setting such as `tll 5m`.
    Unknown(Ident),
    /// Where the parser recovered from a syntax error.
    Error,
}

/// `@name("arg")`
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    /// Annotation name (`id`, `standing`).
    pub name: Ident,
    /// Its argument.
    pub arg: Node<String>,
}

/// Permit or forbid.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// A grant.
    Permit,
    /// A guard.
    Forbid,
}

/// A principal or resource type pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum TypePattern {
    /// `*`
    Any,
    /// One or more named entity types: `Analyst, ReportingJob`.
    Named(Vec<Node<Path>>),
}

/// An action pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionPattern {
    /// `*`
    Any,
    /// `ns.*`
    Namespace(Path),
    /// `ns.verb`
    Exact(Path),
}

/// A rule clause.
#[derive(Clone, Debug, PartialEq)]
pub enum Clause {
    /// `for 5m`
    For(Node<Duration>),
    /// `when E`
    When(Node<Expr>),
    /// `unless E`
    Unless(Node<Expr>),
    /// `require E [else "label"]`
    Require(Node<Expr>, Option<Node<String>>),
}

/// `permit ...` or `forbid ...`
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Documentation.
    pub doc: Doc,
    /// Annotations before the rule.
    pub annotations: Vec<Annotation>,
    /// Permit or forbid.
    pub effect: Node<Effect>,
    /// The principal pattern (`None` for a forbid, which covers every principal).
    pub principal: Option<Node<TypePattern>>,
    /// Action patterns.
    pub actions: Vec<Node<ActionPattern>>,
    /// The resource pattern (`None`: derived from the actions).
    pub resource: Option<Node<TypePattern>>,
    /// Clauses in source order.
    pub clauses: Vec<Node<Clause>>,
    /// The span of the head (`permit ... on R`), for labels.
    pub head: Span,
}

/// A unary operator.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// `not`
    Not,
    /// `-`
    Neg,
}

/// A binary operator.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `or`
    Or,
    /// `and`
    And,
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
    /// `in`
    In,
    /// `??`
    Default,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::Default => "??",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
        }
    }
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A duration.
    Duration(Duration),
    /// A decimal literal such as `12.50`.
    Decimal(Decimal),
    /// An IP address.
    Ip(IpAddr),
    /// A CIDR network.
    Net(Cidr),
    /// `[a, b]`
    Set(Vec<Node<Expr>>),
    /// A bare name: a variable, constant, parameter, module or type.
    Name(Ident),
    /// `base.name` or `base?.name`
    Field {
        /// The value or namespace accessed.
        base: Box<Node<Expr>>,
        /// The field, variant or member name.
        name: Ident,
        /// Written with `?.`.
        optional: bool,
    },
    /// `callee(args)`: a function, a builtin or (when `callee` is a field) a method.
    Call {
        /// What is called.
        callee: Box<Node<Expr>>,
        /// Arguments.
        args: Vec<Node<Expr>>,
    },
    /// A unary operation.
    Unary(UnOp, Box<Node<Expr>>),
    /// A binary operation.
    Binary(BinOp, Box<Node<Expr>>, Box<Node<Expr>>),
    /// `has x.f`
    Has(Box<Node<Expr>>),
    /// `x like "pattern"`
    Like(Box<Node<Expr>>, Node<String>),
    /// Where the parser recovered from a syntax error.
    Error,
}
