//! # kidvault (binary crate)
//!
//! Wires the layers into a process: [`config`] (defaults → TOML → environment →
//! flags), [`app`] (opens the stores and key provider, serves HTTP with graceful
//! shutdown), [`demo`] (a household to click through) and [`bench`] (measured
//! ingest). `main.rs` is only the command line.

pub mod app;
pub mod backup;
pub mod bench;
pub mod config;
pub mod demo;
pub mod migrate;
pub mod reserve;
