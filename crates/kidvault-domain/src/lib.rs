//! # kidvault-domain
//!
//! The pure heart of kidvault: what a household, a child, a consent and an item
//! *are*, and the rules that hold between them. Nothing here performs IO or reads a
//! clock: every rule that depends on time takes `now` as an argument, so retention,
//! dormancy and consent are tested by passing dates.
//!
//! Where things live:
//! - [`ids`]: UUIDv7 identifiers, one newtype per entity so ids cannot be mixed up.
//! - [`entities`]: households, guardians, children, devices.
//! - [`consent`]: verifiable parental consent: methods, scopes, and which scopes are in force.
//! - [`item`]: item kinds, data categories (fideslang keys) and what each kind requires.
//! - [`lineage`]: derivation rules (same child, live sources) and the deletion closure.
//! - [`disclosure`]: use controls: which purposes need which consent before data leaves kidvault.
//! - [`deletion`]: deletion scopes, reasons, and the durable steps a deletion goes through.
//! - [`audio`], [`location`]: parsing untrusted device input into checked values.

pub mod audio;
pub mod consent;
pub mod deletion;
pub mod disclosure;
pub mod downstream;
pub mod entities;
pub mod ids;
pub mod item;
pub mod lineage;
pub mod localtime;
pub mod location;
pub mod markers;
pub mod notice;
pub mod retention;
pub mod staff;

pub use chrono::{DateTime, Utc};

/// A point in time; always UTC.
pub type Timestamp = DateTime<Utc>;
