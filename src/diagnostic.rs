//! The one renderer-neutral diagnostic type.
//!
//! Every stage reports problems as [`Diagnostic`] values: a stable
//! [`Code`], a severity, a message, labelled spans and optional help. The
//! terminal renderer (ariadne) and the JSON output in [`crate::render`] are
//! two views of the same data.
//!
//! Message style (see `docs/diagnostics.md`): lowercase, no trailing period,
//! user input in backticks, a help line where it helps.

use crate::span::Span;
use serde::Serialize;

/// How serious a diagnostic is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Information that needs no action.
    Note,
    /// Something suspicious; compilation still succeeds.
    Warning,
    /// The policy set cannot be compiled.
    Error,
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $title:literal,)*) => {
        /// Stable diagnostic codes. A code never changes meaning once released.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($(#[$doc])* $name,)*
        }

        impl Code {
            /// Every code, in numeric order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The code as written in reports, e.g. `E0203`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$name => stringify!($name),)* }
            }

            /// A short, lowercase title of the problem class.
            pub fn title(self) -> &'static str {
                match self { $(Code::$name => $title,)* }
            }
        }
    };
}

codes! {
    /// A character that starts no token.
    E0001 = "unexpected character",
    /// A string literal without its closing quote.
    E0002 = "unterminated string",
    /// A backslash escape that is not one of the supported ones.
    E0003 = "invalid escape sequence",
    /// An integer literal outside the 64-bit signed range.
    E0004 = "integer literal out of range",
    /// A malformed duration literal.
    E0005 = "invalid duration literal",
    /// A malformed IP address or CIDR range.
    E0006 = "invalid ip address or network",
    /// A Unicode bidirectional control character, which makes the text
    /// display in an order other than the one it is compiled in.
    E0007 = "bidirectional control character",
    /// A number with a fraction: jitp numbers are integers.
    E0008 = "invalid decimal literal",
    /// A token the grammar does not allow here.
    E0101 = "unexpected token",
    /// The file ends in the middle of a construct.
    E0102 = "unexpected end of file",
    /// An annotation that jitp does not know.
    E0103 = "unknown annotation",
    /// An annotation given twice or in the wrong place.
    E0104 = "misplaced annotation",
    /// A clause given twice, or one that the rule kind does not take.
    E0105 = "invalid rule clause",
    /// A `package` line that is not the first item of its file.
    E0106 = "misplaced package declaration",
    /// An expression or type nested deeper than the compiler accepts.
    E0107 = "nesting too deep",
    /// The same name declared twice.
    E0201 = "duplicate declaration",
    /// A name that is not declared.
    E0202 = "unknown name",
    /// A type that is not declared.
    E0203 = "unknown type",
    /// A field that the type does not have.
    E0204 = "unknown field",
    /// An enum variant that the enum does not have.
    E0205 = "unknown enum variant",
    /// An action that is not declared.
    E0206 = "unknown action",
    /// A `use` of a module that does not exist.
    E0207 = "unknown module",
    /// Modules that import each other in a cycle.
    E0208 = "import cycle",
    /// Functions or constants that refer to themselves through a cycle.
    E0209 = "recursive definition",
    /// A name used where it is not in scope (`task` outside a task, `principal` in a function).
    E0210 = "name not in scope here",
    /// More than one `context` block in a policy set.
    E0211 = "duplicate context",
    /// A task that is not declared.
    E0212 = "unknown task",
    /// Two expressions whose types do not fit together.
    E0301 = "mismatched types",
    /// An optional value used where a present value is needed.
    E0302 = "optional value used as a value",
    /// An operator applied to operands it does not support.
    E0303 = "invalid operands",
    /// A method that the type does not have.
    E0304 = "unknown method",
    /// A call with the wrong number of arguments.
    E0305 = "wrong number of arguments",
    /// A type that cannot be used where it is written.
    E0306 = "type not allowed here",
    /// A literal whose value is invalid (bad time, bad pattern).
    E0307 = "invalid literal",
    /// A constant expression that cannot be evaluated at compile time.
    E0308 = "invalid constant",
    /// `has` applied to something that is not an optional field.
    E0309 = "invalid presence test",
    /// A schema whose request layout exceeds what a bundle may hold.
    E0310 = "schema too large",
    /// An action used on a resource type it is not declared on.
    E0401 = "action not declared on resource type",
    /// A `for` duration that is not shorter than the task's ttl, or on a standing rule.
    E0402 = "invalid grant duration",
    /// A task given more than one `ttl`, or a non-positive one.
    E0403 = "invalid task ttl",
    /// A principal or resource that is not an entity type.
    E0404 = "not an entity type",
    /// An action pattern that matches no declared action.
    E0405 = "action pattern matches nothing",
    /// A package that is not the only one where one is needed.
    E0501 = "ambiguous policy set",
    /// A `jitp.toml` that is not valid TOML or has an unknown or ill-typed setting.
    E0601 = "invalid lint configuration",
    /// A bug in jitp: a stage found a state the earlier stages rule out
    /// (for example, lowering met a program the checker should have
    /// rejected). Never caused by a policy alone.
    E0900 = "internal compiler error",
    /// A permit outside any task, or a task without a ttl (lint).
    JIT001 = "standing-grant",
    /// A task or break-glass ttl above the configured maximum (lint).
    JIT002 = "ttl-exceeds-max",
    /// A permit whose conditions read no live signal (lint).
    JIT003 = "identity-only-condition",
    /// A `when` that always holds or a `require` that cannot fail (lint).
    JIT004 = "vacuous-condition",
    /// A rule that can never apply (lint).
    JIT005 = "unsatisfiable-rule",
    /// A permit implied by another permit of the same task (lint).
    JIT006 = "shadowed-permit",
    /// A permit that a forbid always overrides (lint).
    JIT007 = "overridden-permit",
    /// A permit to `*` or `ns.*` actions (lint).
    JIT008 = "wildcard-action",
    /// A permit to `*` principals (lint).
    JIT009 = "wildcard-principal",
    /// A high or critical action granted with no `require` (lint).
    JIT010 = "sensitive-without-step-up",
    /// Break-glass without a required approval or `notify` (lint).
    JIT011 = "breakglass-unguarded",
    /// A chain of `grants` reaching high or critical actions (lint).
    JIT012 = "escalation-path",
    /// A principal type that can grant a task whose permits apply to itself (lint).
    JIT013 = "self-approval-loop",
    /// Sensitive actions with no guard covering them (lint).
    JIT014 = "missing-guard",
    /// A declaration nothing uses (lint).
    JIT015 = "unused-declaration",
    /// A suppression comment without a reason or naming an unknown finding (lint).
    JIT016 = "invalid-suppression",
    /// A suppression comment that suppresses nothing (lint).
    JIT017 = "unused-suppression",
    /// A documentation comment that documents nothing.
    W0001 = "dangling doc comment",
}

/// A labelled span in a diagnostic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What to say there (may be empty).
    pub message: String,
}

/// A problem found in a policy, with everything a renderer needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code.
    pub code: Code,
    /// Severity.
    pub severity: Severity,
    /// One-line message: lowercase, no trailing period.
    pub message: String,
    /// The primary location and what to say there.
    pub primary: Label,
    /// Further locations that explain the problem.
    pub secondary: Vec<Label>,
    /// A suggestion for fixing it.
    pub help: Option<String>,
    /// Extra facts, such as the members of a cycle.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error with `code` and `message`, labelled `label` at `span`.
    pub fn error(
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: Label {
                span,
                message: label.into(),
            },
            secondary: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    /// A warning with `code` and `message`, labelled `label` at `span`.
    pub fn warning(
        code: Code,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message, label)
        }
    }

    /// Adds a secondary label.
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Sets the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Sets the help line if `help` is `Some`.
    pub fn with_help_opt(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Adds a note, if there is one.
    pub fn with_note_opt(mut self, note: Option<String>) -> Diagnostic {
        self.notes.extend(note);
        self
    }

    /// Whether this diagnostic is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics by file and position so reports read top to bottom.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| (d.primary.span.file, d.primary.span.start, d.code));
}

/// The closest candidate to `name` by edit distance, if close enough to be a
/// plausible typo; used for "did you mean" help.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(name, candidates, &std::cell::Cell::new(usize::MAX))
}

/// The closest plausible candidate, counting each comparison against
/// `budget`; none once the budget is spent.
fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    budget: &std::cell::Cell<usize>,
) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let left = budget.get();
        if left == 0 {
            return None;
        }
        budget.set(left - 1);
        let score = strsim::jaro_winkler(name, c);
        let dist = strsim::levenshtein(name, c);
        let plausible = dist <= 2.max(name.len() / 3) || score >= 0.85;
        if plausible && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

/// Did-you-mean suggestions with a shared budget of comparisons, so a
/// file with thousands of unknown names among thousands of declared ones
/// costs linear time: once the budget is spent, errors come without a
/// suggestion (the first ones, which matter most, still have theirs).
#[derive(Debug)]
pub struct Suggestions {
    left: std::cell::Cell<usize>,
}

impl Default for Suggestions {
    fn default() -> Suggestions {
        Suggestions::with_budget(Suggestions::BUDGET)
    }
}

impl Suggestions {
    /// Comparisons one checking run may spend on suggestions.
    pub const BUDGET: usize = 200_000;

    /// Suggestions that may spend `comparisons` comparisons in all.
    pub fn with_budget(comparisons: usize) -> Suggestions {
        Suggestions {
            left: std::cell::Cell::new(comparisons),
        }
    }

    /// Whether the budget is spent: callers need not gather candidates.
    pub fn spent(&self) -> bool {
        self.left.get() == 0
    }

    /// [`did_you_mean`], within the budget.
    pub fn did_you_mean<'a>(
        &self,
        name: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Option<String> {
        closest(name, candidates, &self.left)
    }
}
