//! `jitp.toml`: the analyser's settings beside the policies.
//!
//! ```toml
//! max_ttl = "8h"              # longest task or rule lifetime (JIT002)
//! max_breakglass_ttl = "1h"   # longest break-glass lifetime (JIT002, JIT011)
//!
//! [levels]                    # per finding: off, note, warning or error
//! JIT008 = "error"
//! wildcard-principal = "off"
//! ```

use super::{registry, Level};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Span};
use jitp_runtime::value::Duration;
use std::collections::BTreeMap;

/// The file name the analyser looks for.
pub const FILE_NAME: &str = "jitp.toml";

/// The analyser's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Longest task or rule lifetime.
    pub max_ttl: Duration,
    /// Longest break-glass lifetime.
    pub max_breakglass_ttl: Duration,
    /// Level overrides by code.
    pub levels: BTreeMap<Code, Level>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_ttl: Duration(8 * 3600 * 1_000_000),
            max_breakglass_ttl: Duration(3600 * 1_000_000),
            levels: BTreeMap::new(),
        }
    }
}

impl Config {
    /// The level of `code`: the override, or the finding's default.
    pub fn level(&self, code: Code) -> Level {
        self.levels.get(&code).copied().unwrap_or_else(|| {
            registry()
                .iter()
                .find(|l| l.info().code == code)
                .map_or(Level::Warning, |l| l.info().level)
        })
    }

    /// Parses the text of a `jitp.toml` (in `file`, for error locations).
    /// Every problem is reported, each with its span.
    pub fn parse(file: FileId, text: &str) -> Result<Config, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let mut config = Config::default();
        let table: toml::Spanned<toml::Table> = match toml::from_str(text) {
            Ok(t) => t,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let message = e.message().trim_end_matches('.').to_string();
                return Err(vec![Diagnostic::error(
                    Code::E0601,
                    Span::new(file, span),
                    format!("`{FILE_NAME}` is not valid TOML: {}", lower_first(&message)),
                    "here",
                )]);
            }
        };
        let whole = Span::new(file, table.span());
        // toml's `Table` does not keep spans of values; locate keys in the
        // text for error labels.
        let at = |key: &str| locate_key(text, key).map_or(whole, |r| Span::new(file, r));
        for (key, value) in table.get_ref() {
            match key.as_str() {
                "max_ttl" | "max_breakglass_ttl" => match value.as_str().map(Duration::parse) {
                    Some(Ok(d)) if d.0 > 0 => {
                        if key == "max_ttl" {
                            config.max_ttl = d;
                        } else {
                            config.max_breakglass_ttl = d;
                        }
                    }
                    Some(Ok(_)) => errors.push(Diagnostic::error(
                        Code::E0601,
                        at(key),
                        format!("`{key}` must be longer than zero"),
                        "not a positive duration",
                    )),
                    Some(Err(m)) => errors.push(
                        Diagnostic::error(
                            Code::E0601,
                            at(key),
                            format!("`{key}`: {m}"),
                            "invalid duration",
                        )
                        .with_help("write a duration such as \"8h\", \"90m\" or \"1h30m\""),
                    ),
                    None => errors.push(
                        Diagnostic::error(
                            Code::E0601,
                            at(key),
                            format!("`{key}` must be a duration string"),
                            "not a string",
                        )
                        .with_help(format!(
                            "write `{key} = \"{}\"`",
                            if key == "max_ttl" { "8h" } else { "1h" }
                        )),
                    ),
                },
                "levels" => {
                    let Some(levels) = value.as_table() else {
                        errors.push(Diagnostic::error(
                            Code::E0601,
                            at(key),
                            "`levels` must be a table of finding codes or names to levels",
                            "not a table",
                        ));
                        continue;
                    };
                    for (name, level) in levels {
                        let code = registry()
                            .iter()
                            .map(|l| l.info())
                            .find(|i| i.code.as_str().eq_ignore_ascii_case(name) || i.name == name);
                        let Some(info) = code else {
                            let names = registry()
                                .iter()
                                .flat_map(|l| [l.info().code.as_str(), l.info().name]);
                            errors.push(
                                Diagnostic::error(
                                    Code::E0601,
                                    at(name),
                                    format!("unknown finding `{name}`"),
                                    "no such code or name",
                                )
                                .with_help_opt(crate::diagnostic::did_you_mean(name, names)),
                            );
                            continue;
                        };
                        match level.as_str().and_then(Level::parse) {
                            Some(l) => {
                                config.levels.insert(info.code, l);
                            }
                            None => errors.push(
                                Diagnostic::error(
                                    Code::E0601,
                                    at(name),
                                    format!("invalid level for `{name}`"),
                                    "not a level",
                                )
                                .with_help("use \"off\", \"note\", \"warning\" or \"error\""),
                            ),
                        }
                    }
                }
                other => errors.push(
                    Diagnostic::error(
                        Code::E0601,
                        at(other),
                        format!("unknown setting `{other}`"),
                        "unknown",
                    )
                    .with_help_opt(crate::diagnostic::did_you_mean(
                        other,
                        ["max_ttl", "max_breakglass_ttl", "levels"],
                    )),
                ),
            }
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            crate::diagnostic::sort(&mut errors);
            Err(errors)
        }
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The byte range of the first line that starts with `key` followed by
/// `=` (spaces allowed), or of a quoted form of it.
fn locate_key(text: &str, key: &str) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        for candidate in [key.to_string(), format!("\"{key}\"")] {
            if let Some(rest) = trimmed.strip_prefix(candidate.as_str()) {
                if rest.trim_start().starts_with('=') {
                    let start = offset + indent;
                    return Some(start..start + candidate.len());
                }
            }
        }
        offset += line.len();
    }
    None
}
