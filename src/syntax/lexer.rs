//! The lexer: source text to tokens, with logos.
//!
//! Lexing never fails: malformed input becomes a diagnostic and the lexer
//! goes on, so the parser still sees the rest of the file. Comments are
//! not tokens; `///` doc comments and `//` comments are collected beside the
//! token stream (doc comments are attached to items after parsing; plain
//! comments carry suppressions for the analyser).

use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};
use jitp_runtime::value::{Cidr, Decimal, DecimalError, Duration};
use logos::Logos;
use std::fmt;
use std::net::IpAddr;

/// Why a token could not be formed.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum LexError {
    /// A character that starts no token.
    #[default]
    Unexpected,
    /// A string literal without its closing quote.
    UnterminatedString,
    /// A bad escape in a string literal, with the escape text.
    BadEscape(String),
    /// An integer literal that does not fit in 64 bits.
    IntOverflow,
    /// A malformed duration.
    BadDuration(String),
    /// A malformed IP address or network.
    BadIp(String),
    /// A decimal literal with more fractional digits than a `Decimal` keeps.
    DecimalPrecision,
    /// A decimal literal out of the range of a `Decimal`.
    DecimalRange,
}

/// A token. Literal values are decoded by the lexer.
#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(error = LexError)]
#[logos(skip r"[ \t\n\r\x0B\x0C\u{85}\u{2028}\u{2029}]+")]
pub enum Tok<'a> {
    /// `/// text`
    #[regex(r"///[^\n\r\x0B\x0C\u{85}\u{2028}\u{2029}]*", |lex| lex.slice().get(3..).unwrap_or("").trim(), allow_greedy = true)]
    DocComment(&'a str),
    /// `// text` (not a doc comment)
    #[regex(r"//([^/\n\r\x0B\x0C\u{85}\u{2028}\u{2029}][^\n\r\x0B\x0C\u{85}\u{2028}\u{2029}]*)?", |lex| lex.slice().get(2..).unwrap_or(""), allow_greedy = true)]
    Comment(&'a str),
    /// `////...` is an ordinary comment too.
    #[regex(r"////[^\n\r\x0B\x0C\u{85}\u{2028}\u{2029}]*", |lex| lex.slice().get(2..).unwrap_or(""), allow_greedy = true, priority = 10)]
    CommentSlashes(&'a str),

    /// An identifier.
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'a str),
    /// A string literal, unescaped.
    #[regex(
        r#""([^"\\\n\r\x0B\x0C\u{85}\u{2028}\u{2029}]|\\[^\n\r\x0B\x0C\u{85}\u{2028}\u{2029}])*""#,
        unescape
    )]
    #[regex(r#""([^"\\\n\r\x0B\x0C\u{85}\u{2028}\u{2029}]|\\[^\n\r\x0B\x0C\u{85}\u{2028}\u{2029}])*"#, |_| Err(LexError::UnterminatedString))]
    Str(String),
    /// An integer literal.
    #[regex(r"[0-9]+", |lex| lex.slice().parse::<i64>().map_err(|_| LexError::IntOverflow))]
    Int(i64),
    /// A decimal literal such as `12.50` (a sign is unary minus).
    #[regex(r"[0-9]+\.[0-9]+", |lex| parse_decimal(lex.slice()))]
    Decimal(Decimal),
    /// A duration literal such as `15m` or `1h30m`.
    #[regex(r"[0-9]+(ms|s|m|h|d)([0-9]+(ms|s|m|h|d))*", |lex| parse_duration(lex.slice()), priority = 4)]
    #[regex(r"[0-9]+[A-Za-z_][A-Za-z0-9_]*", |lex| bad_unit(lex.slice()), priority = 2)]
    Duration(Duration),
    /// An IPv4 or IPv6 address.
    #[regex(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+", |lex| parse_ip(lex.slice()))]
    #[regex(r"[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}(:[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)?", |lex| parse_ip(lex.slice()))]
    Ip(IpAddr),
    /// A CIDR network such as `10.0.0.0/8`.
    #[regex(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+", |lex| parse_net(lex.slice()))]
    #[regex(r"[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}(:[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)?/[0-9]+", |lex| parse_net(lex.slice()))]
    Net(Cidr),

    /// `package`
    #[token("package")]
    Package,
    /// `use`
    #[token("use")]
    Use,
    /// `entity`
    #[token("entity")]
    Entity,
    /// `record`
    #[token("record")]
    Record,
    /// `enum`
    #[token("enum")]
    Enum,
    /// `context`
    #[token("context")]
    Context,
    /// `evidence`
    #[token("evidence")]
    Evidence,
    /// `action`
    #[token("action")]
    Action,
    /// `on`
    #[token("on")]
    On,
    /// `const`
    #[token("const")]
    Const,
    /// `fn`
    #[token("fn")]
    Fn,
    /// `task`
    #[token("task")]
    Task,
    /// `breakglass`
    #[token("breakglass")]
    Breakglass,
    /// `permit`
    #[token("permit")]
    Permit,
    /// `forbid`
    #[token("forbid")]
    Forbid,
    /// `to`
    #[token("to")]
    To,
    /// `for`
    #[token("for")]
    For,
    /// `when`
    #[token("when")]
    When,
    /// `unless`
    #[token("unless")]
    Unless,
    /// `require`
    #[token("require")]
    Require,
    /// `else`
    #[token("else")]
    Else,
    /// `and`
    #[token("and")]
    And,
    /// `or`
    #[token("or")]
    Or,
    /// `not`
    #[token("not")]
    Not,
    /// `in`
    #[token("in")]
    In,
    /// `like`
    #[token("like")]
    Like,
    /// `has`
    #[token("has")]
    Has,
    /// `true`
    #[token("true")]
    True,
    /// `false`
    #[token("false")]
    False,

    /// `{`
    #[token("{")]
    LBrace,
    /// `}`
    #[token("}")]
    RBrace,
    /// `(`
    #[token("(")]
    LParen,
    /// `)`
    #[token(")")]
    RParen,
    /// `[`
    #[token("[")]
    LBracket,
    /// `]`
    #[token("]")]
    RBracket,
    /// `,`
    #[token(",")]
    Comma,
    /// `:`
    #[token(":")]
    Colon,
    /// `.`
    #[token(".")]
    Dot,
    /// `?.`
    #[token("?.")]
    QuestionDot,
    /// `??`
    #[token("??")]
    QuestionQuestion,
    /// `?`
    #[token("?")]
    Question,
    /// `*`
    #[token("*")]
    Star,
    /// `@`
    #[token("@")]
    At,
    /// `=`
    #[token("=")]
    Assign,
    /// `==`
    #[token("==")]
    EqEq,
    /// `!=`
    #[token("!=")]
    NotEq,
    /// `<`
    #[token("<")]
    Lt,
    /// `<=`
    #[token("<=")]
    Le,
    /// `>`
    #[token(">")]
    Gt,
    /// `>=`
    #[token(">=")]
    Ge,
    /// `+`
    #[token("+")]
    Plus,
    /// `-`
    #[token("-")]
    Minus,
    /// `->`
    #[token("->")]
    Arrow,

    /// `&&`: not jitp; reported, then read as `and` so parsing goes on.
    #[token("&&")]
    AmpAmp,
    /// `||`: read as `or` after a report.
    #[token("||")]
    PipePipe,
    /// `!`: read as `not` after a report.
    #[token("!")]
    Bang,
    /// `'text'`: read as a string after a report.
    #[regex(r"'[^'\n\r\x0B\x0C\u{85}\u{2028}\u{2029}]*'", |lex| lex.slice().get(1..lex.slice().len() - 1).unwrap_or("").to_string())]
    SingleQuoted(String),
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Tok::DocComment(_) => "doc comment",
            Tok::Comment(_) | Tok::CommentSlashes(_) => "comment",
            Tok::Ident(s) => return write!(f, "`{s}`"),
            Tok::Str(_) => "string",
            Tok::Int(_) => "integer",
            Tok::Duration(_) => "duration",
            Tok::Decimal(_) => "decimal",
            Tok::Ip(_) => "ip address",
            Tok::Net(_) => "network",
            Tok::Package => "`package`",
            Tok::Use => "`use`",
            Tok::Entity => "`entity`",
            Tok::Record => "`record`",
            Tok::Enum => "`enum`",
            Tok::Context => "`context`",
            Tok::Evidence => "`evidence`",
            Tok::Action => "`action`",
            Tok::On => "`on`",
            Tok::Const => "`const`",
            Tok::Fn => "`fn`",
            Tok::Task => "`task`",
            Tok::Breakglass => "`breakglass`",
            Tok::Permit => "`permit`",
            Tok::Forbid => "`forbid`",
            Tok::To => "`to`",
            Tok::For => "`for`",
            Tok::When => "`when`",
            Tok::Unless => "`unless`",
            Tok::Require => "`require`",
            Tok::Else => "`else`",
            Tok::And => "`and`",
            Tok::Or => "`or`",
            Tok::Not => "`not`",
            Tok::In => "`in`",
            Tok::Like => "`like`",
            Tok::Has => "`has`",
            Tok::True => "`true`",
            Tok::False => "`false`",
            Tok::LBrace => "`{`",
            Tok::RBrace => "`}`",
            Tok::LParen => "`(`",
            Tok::RParen => "`)`",
            Tok::LBracket => "`[`",
            Tok::RBracket => "`]`",
            Tok::Comma => "`,`",
            Tok::Colon => "`:`",
            Tok::Dot => "`.`",
            Tok::QuestionDot => "`?.`",
            Tok::QuestionQuestion => "`??`",
            Tok::Question => "`?`",
            Tok::Star => "`*`",
            Tok::At => "`@`",
            Tok::Assign => "`=`",
            Tok::EqEq => "`==`",
            Tok::NotEq => "`!=`",
            Tok::Lt => "`<`",
            Tok::Le => "`<=`",
            Tok::Gt => "`>`",
            Tok::Ge => "`>=`",
            Tok::Plus => "`+`",
            Tok::Minus => "`-`",
            Tok::Arrow => "`->`",
            Tok::AmpAmp => "`&&`",
            Tok::PipePipe => "`||`",
            Tok::Bang => "`!`",
            Tok::SingleQuoted(_) => "single-quoted string",
        };
        f.write_str(s)
    }
}

fn unescape<'a>(lex: &mut logos::Lexer<'a, Tok<'a>>) -> Result<String, LexError> {
    let slice = lex.slice();
    let body = slice.get(1..slice.len().saturating_sub(1)).unwrap_or("");
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('*') => out.push_str("\\*"),
            Some('u') => {
                let rest = chars.as_str();
                let decoded = rest
                    .strip_prefix('{')
                    .and_then(|r| r.split_once('}'))
                    .and_then(|(hex, _)| {
                        (hex.len() <= 6)
                            .then(|| u32::from_str_radix(hex, 16).ok())
                            .flatten()
                            .and_then(char::from_u32)
                            .map(|ch| (ch, hex.len() + 2))
                    });
                match decoded {
                    Some((ch, used)) => {
                        out.push(ch);
                        for _ in 0..used {
                            chars.next();
                        }
                    }
                    None => return Err(LexError::BadEscape("\\u".into())),
                }
            }
            Some(other) => return Err(LexError::BadEscape(format!("\\{other}"))),
            None => return Err(LexError::UnterminatedString),
        }
    }
    // Literals are compared in Unicode NFC, the form binding gives
    // identities: a literal typed in NFD (`"bo\u{308}b"`) still matches
    // the principal it names, so a guard on it cannot be sidestepped.
    Ok(match unicode_normalization::is_nfc_quick(out.chars()) {
        unicode_normalization::IsNormalized::Yes => out,
        _ => unicode_normalization::UnicodeNormalization::nfc(out.as_str()).collect(),
    })
}

fn parse_duration(s: &str) -> Result<Duration, LexError> {
    Duration::parse(s).map_err(LexError::BadDuration)
}

/// Digits followed by letters that are not a duration (`30min`, `2weeks`):
/// names the first unit jitp does not know and the one to write.
fn bad_unit(s: &str) -> Result<Duration, LexError> {
    const UNITS: [&str; 5] = ["ms", "s", "m", "h", "d"];
    let mut rest = s;
    let (mut number, mut unit) = ("", "");
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        number = rest.get(..digits).unwrap_or("");
        let tail = rest.get(digits..).unwrap_or("");
        let letters = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        unit = tail.get(..letters).unwrap_or("");
        if !UNITS.contains(&unit) {
            break;
        }
        rest = tail.get(letters..).unwrap_or("");
    }
    let n: i64 = number.parse().unwrap_or(1);
    let days = |per: i64| {
        n.checked_mul(per)
            .map_or("d".to_string(), |d| format!("{d}d"))
    };
    let instead = match unit.to_ascii_lowercase().as_str() {
        "min" | "mins" | "minute" | "minutes" => format!("use `m`: `{n}m`"),
        "sec" | "secs" | "second" | "seconds" => format!("use `s`: `{n}s`"),
        "hr" | "hrs" | "hour" | "hours" => format!("use `h`: `{n}h`"),
        "day" | "days" => format!("use `d`: `{n}d`"),
        "msec" | "msecs" | "millis" | "millisecond" | "milliseconds" => {
            format!("use `ms`: `{n}ms`")
        }
        "w" | "wk" | "wks" | "week" | "weeks" => format!("write weeks in days: `{}`", days(7)),
        "y" | "yr" | "yrs" | "year" | "years" => {
            format!("write years in days: `{}`", days(365))
        }
        "us" | "ns" => "the smallest unit is `ms`".to_string(),
        _ => "the units are `ms`, `s`, `m`, `h` and `d`".to_string(),
    };
    Err(LexError::BadDuration(format!(
        "unknown duration unit `{unit}` in `{s}`; {instead}"
    )))
}

/// An address literal in its canonical form: `::ffff:10.0.0.1` is the
/// IPv4 address `10.0.0.1` (as a network `::ffff:10.0.0.0/104` is
/// `10.0.0.0/8`, see [`Cidr::parse`]).
fn parse_ip(s: &str) -> Result<IpAddr, LexError> {
    jitp_runtime::value::parse_ip(s).map_err(LexError::BadIp)
}

fn parse_net(s: &str) -> Result<Cidr, LexError> {
    Cidr::parse(s).map_err(LexError::BadIp)
}

/// A token with its byte range.
pub type Spanned<'a> = (usize, Tok<'a>, usize);

/// The lexer's output: tokens for the parser, comments, and diagnostics.
#[derive(Debug, Default)]
pub struct Lexed<'a> {
    /// Tokens, comments removed.
    pub tokens: Vec<Spanned<'a>>,
    /// `///` doc comments with their spans.
    pub docs: Vec<(Span, &'a str)>,
    /// `//` comments with their spans (used for analyser suppressions).
    pub comments: Vec<(Span, &'a str)>,
    /// Lexical errors.
    pub diagnostics: Vec<Diagnostic>,
}

/// Lexes `text`, which belongs to `file`.
pub fn lex(file: FileId, text: &str) -> Lexed<'_> {
    let mut out = Lexed::default();
    let mut lexer = Tok::lexer(text);
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        let span = Span::new(file, range.clone());
        match result {
            Ok(Tok::DocComment(d)) => out.docs.push((span, d)),
            Ok(tok @ (Tok::AmpAmp | Tok::PipePipe | Tok::Bang | Tok::SingleQuoted(_))) => {
                let (replacement, msg, help) = match tok {
                    Tok::AmpAmp => (Tok::And, "`&&` is written `and` in jitp", "write `and`"),
                    Tok::PipePipe => (Tok::Or, "`||` is written `or` in jitp", "write `or`"),
                    Tok::Bang => (Tok::Not, "`!` is written `not` in jitp", "write `not`"),
                    Tok::SingleQuoted(s) => (
                        Tok::Str(s),
                        "strings are written with double quotes",
                        "write `\"...\"`",
                    ),
                    other => (other, "", ""),
                };
                out.diagnostics.push(
                    Diagnostic::error(Code::E0001, span, msg, "not jitp syntax").with_help(help),
                );
                out.tokens.push((range.start, replacement, range.end));
            }
            Ok(Tok::Comment(c)) | Ok(Tok::CommentSlashes(c)) => out.comments.push((span, c)),
            Ok(tok) => out.tokens.push((range.start, tok, range.end)),
            Err(e) => {
                // A malformed literal still stands for a literal of its kind,
                // so the parser does not report its absence as well.
                let placeholder = match &e {
                    LexError::Unexpected => None,
                    LexError::UnterminatedString | LexError::BadEscape(_) => {
                        Some(Tok::Str("?".to_string()))
                    }
                    LexError::IntOverflow => Some(Tok::Int(0)),
                    LexError::DecimalPrecision | LexError::DecimalRange => {
                        Some(Tok::Decimal(Decimal(0)))
                    }
                    LexError::BadDuration(_) => Some(Tok::Duration(Duration(1_000_000))),
                    LexError::BadIp(_) if lexer.slice().contains('/') => Some(Tok::Net(Cidr {
                        addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                        prefix: 0,
                    })),
                    LexError::BadIp(_) => {
                        Some(Tok::Ip(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)))
                    }
                };
                out.diagnostics.push(lex_error(span, lexer.slice(), e));
                if let Some(tok) = placeholder {
                    out.tokens.push((range.start, tok, range.end));
                }
            }
        }
    }
    bidi_controls(file, text, &mut out.diagnostics);
    out
}

/// The Unicode bidirectional formatting characters: embeddings,
/// overrides and isolates, and the implicit marks.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Reports bidirectional control characters anywhere in the file,
/// comments and strings included ("Trojan Source"): they make an editor
/// show code in another order than the compiler reads it, so a guard can
/// look active while it sits in a comment. Strings that need one write it
/// as an escape. The first few are reported; the file fails either way.
fn bidi_controls(file: FileId, text: &str, diags: &mut Vec<Diagnostic>) {
    const SHOWN: usize = 16;
    let found = text.char_indices().filter(|(_, c)| is_bidi_control(*c));
    for (i, c) in found.take(SHOWN) {
        let code = format!("\\u{{{:04X}}}", c as u32);
        diags.push(
            Diagnostic::error(
                Code::E0007,
                Span::new(file, i..i + c.len_utf8()),
                format!("bidirectional control character `{code}` in the source"),
                "this invisible character changes the order in which the text is displayed",
            )
            .with_help(format!(
                "remove it; a string that needs it can write the escape `{code}`"
            )),
        );
    }
}

/// A decimal literal: digits, a `.` and digits (at most six).
fn parse_decimal(text: &str) -> Result<Decimal, LexError> {
    Decimal::parse(text).map_err(|e| match e {
        DecimalError::TooPrecise => LexError::DecimalPrecision,
        DecimalError::OutOfRange | DecimalError::Syntax => LexError::DecimalRange,
    })
}

fn lex_error(span: Span, slice: &str, e: LexError) -> Diagnostic {
    match e {
        LexError::Unexpected => {
            let shown: String = slice.chars().take(1).collect();
            let d = Diagnostic::error(
                Code::E0001,
                span,
                format!("unexpected character `{}`", shown.escape_debug()),
                "no token starts with this character",
            );
            match shown.as_str() {
                "'" => d.with_help("strings are written with double quotes: `\"text\"`"),
                "&" | "|" | "!" => d.with_help("logical operators are written `and`, `or` and `not`"),
                ";" => d.with_help("no semicolons are needed: put each item on its own line"),
                "#" => d.with_help("comments start with `//`"),
                _ => d,
            }
        }
        LexError::UnterminatedString => Diagnostic::error(
            Code::E0002,
            span,
            "unterminated string",
            "this string has no closing `\"`",
        )
        .with_help("strings end on the line they start; escape a newline as `\\n`"),
        LexError::BadEscape(esc) => Diagnostic::error(
            Code::E0003,
            span,
            format!("invalid escape `{esc}` in string"),
            "this string contains an unsupported escape",
        )
        .with_help("supported escapes: `\\\"` `\\\\` `\\n` `\\t` `\\r` `\\0` `\\*` `\\u{...}`"),
        LexError::IntOverflow => Diagnostic::error(
            Code::E0004,
            span,
            format!("integer `{slice}` does not fit in 64 bits"),
            "out of range",
        )
        .with_help(format!("the largest integer is `{}`", i64::MAX)),
        LexError::BadDuration(msg) => {
            Diagnostic::error(Code::E0005, span, msg, "invalid duration")
                .with_help("write durations as `500ms`, `30s`, `15m`, `2h`, `7d` or combinations like `1h30m`, largest unit first")
        }
        LexError::BadIp(msg) => Diagnostic::error(Code::E0006, span, msg, "invalid address"),
        LexError::DecimalPrecision => Diagnostic::error(
            Code::E0008,
            span,
            format!("decimal `{slice}` has more than {} fractional digits", Decimal::DIGITS),
            "too precise",
        )
        .with_help(format!(
            "a `Decimal` keeps exactly {} fractional digits (millionths) and never rounds: write at most {} digits after the `.`",
            Decimal::DIGITS,
            Decimal::DIGITS
        )),
        LexError::DecimalRange => Diagnostic::error(
            Code::E0008,
            span,
            format!("decimal `{slice}` is out of range"),
            "out of range",
        )
        .with_help(format!("the largest decimal is `{}`", Decimal(i64::MAX))),
    }
}
