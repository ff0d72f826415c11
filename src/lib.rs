//! jitp: a policy language for just-in-time authorisation.
//!
//! The library holds everything a service embeds and everything the `jitp`
//! command runs: the front end ([`syntax`], [`check`]), diagnostics and
//! their rendering ([`diagnostic`], [`render`]) and the driver that ties
//! files to policy sets ([`driver`]). See `ARCHITECTURE.md` for the map.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod diagnostic;
pub mod span;
pub mod syntax;
pub mod value;
pub mod check;
pub mod stdlib;
pub mod driver;
pub mod render;
pub mod decision;
pub mod reference;
pub mod vm;
pub mod explain_render;
