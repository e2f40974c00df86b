//! Checks: turning what the drivers saw into verdicts — expectations per step, and the normalised,
//! redacted transcript compared with its snapshot.
//!
//! Files (no logic lives here):
//! - `expect`: [`Expectation`]s (named by [`ExpectKind`]) and their check against a [`StepOutput`].
//! - `mail`: the mail expectations (`mail`, `mail_error`, `no_mail`).
//! - `normalise`: transcript → stable, secret-free snapshot text.
//! - `snapshot`: `.snap` files in insta's format, comparison, diffs, updates.

pub mod expect;
pub mod mail;
pub mod normalise;
pub mod snapshot;

pub use expect::{DataExpect, ExpectKind, Expectation, StepOutput, check};
pub use normalise::{normalise, normalise_text};
pub use snapshot::{SnapshotMode, SnapshotOutcome};
