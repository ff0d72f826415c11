//! jitp's compiler: policy text to checked programs, bundles, findings,
//! formatted text and test reports.
//!
//! The front end ([`syntax`], [`check`]) turns `.jitp` files into a checked
//! [`check::hir::Program`]; [`lower`] compiles it into a
//! [`jitp_runtime::Bundle`], the runtime crate's verified bytecode bundle
//! that services embed. The analyser ([`lint`]), the formatter ([`fmt`]) and
//! the policy test runner ([`testing`]) build on the same pipeline
//! ([`driver`]). Problems are [`diagnostic::Diagnostic`]s, rendered by
//! [`render`]. See `ARCHITECTURE.md` for the map.
#![forbid(unsafe_code)]
// No panics on paths user input reaches (tests may unwrap: see clippy.toml).
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod check;
pub mod diagnostic;
pub mod driver;
pub mod explain_render;
pub mod fmt;
pub mod lint;
pub mod lower;
pub mod reference;
pub mod render;
pub mod span;
pub mod stdlib;
pub mod syntax;
pub mod testing;
