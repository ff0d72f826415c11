//! The standard library: `.jitp` modules under `stdlib/`, embedded in the
//! binary so a compiled `jitp` needs no files beside it.

/// How the source map names the embedded library's files (`<stdlib>/time.jitp`).
pub const FILE_PREFIX: &str = "<stdlib>/";

/// Finds library modules by their dotted path (`std.time`).
pub trait ModuleLoader {
    /// The module's display name (used in diagnostics) and text, if it exists.
    fn load(&self, path: &str) -> Option<(String, String)>;
    /// Every module path this loader knows, for "did you mean" help.
    fn known(&self) -> Vec<String>;
}

/// The embedded standard library.
#[derive(Copy, Clone, Debug, Default)]
pub struct Stdlib;

const MODULES: &[(&str, &str)] = &[
    ("std.time", include_str!("../stdlib/time.jitp")),
    ("std.net", include_str!("../stdlib/net.jitp")),
    ("std.nhi", include_str!("../stdlib/nhi.jitp")),
];

impl ModuleLoader for Stdlib {
    fn load(&self, path: &str) -> Option<(String, String)> {
        MODULES.iter().find(|(p, _)| *p == path).map(|(p, text)| {
            let file = p.trim_start_matches("std.");
            (format!("{FILE_PREFIX}{file}.jitp"), (*text).to_string())
        })
    }

    fn known(&self) -> Vec<String> {
        MODULES.iter().map(|(p, _)| (*p).to_string()).collect()
    }
}

/// A loader over an in-memory table, for tests and embedders with their
/// own libraries; falls back to nothing.
#[derive(Clone, Debug, Default)]
pub struct MapLoader {
    /// `(path, text)` pairs.
    pub modules: Vec<(String, String)>,
}

impl ModuleLoader for MapLoader {
    fn load(&self, path: &str) -> Option<(String, String)> {
        self.modules
            .iter()
            .find(|(p, _)| p == path)
            .map(|(p, t)| (format!("<{p}>"), t.clone()))
    }

    fn known(&self) -> Vec<String> {
        self.modules.iter().map(|(p, _)| p.clone()).collect()
    }
}
