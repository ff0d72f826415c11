//! jitp: a policy language for just-in-time authorisation.
//!
//! The library holds everything a service embeds and everything the `jitp`
//! command runs: the front end ([`syntax`], [`check`]), diagnostics and
//! their rendering ([`diagnostic`], [`render`]) and the driver that ties
//! files to policy sets ([`driver`]). See `ARCHITECTURE.md` for the map.
#![forbid(unsafe_code)]
// No panics on paths user input reaches (tests may unwrap: see clippy.toml).
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod check;
pub mod decision;
pub mod diagnostic;
pub mod driver;
pub mod explain_render;
pub mod fmt;
pub mod lint;
pub mod reference;
pub mod render;
pub mod span;
pub mod stdlib;
pub mod syntax;
pub mod testing;
pub mod value;
pub mod vm;
