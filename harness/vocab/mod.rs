//! The shared vocabulary: the names scenarios, drivers, checks, stacks and the doctor use for the
//! same things — SSO flavours and consent, Mattermost's SSO error ids, webhook formats and push
//! events, the two services, the target kinds. It sits below every stage that speaks it and
//! depends on nothing of the crate, so dependencies run one way: `scenario` → `drive`/`check` →
//! `vocab`, never `drive` → `scenario`. The twin (server side) keeps its own settings enums and
//! does not use this module for protocol code.
//!
//! Files (no logic lives here):
//! - `names`: `named_enum!` — an enum declared once with its names, from which its lists,
//!   `name()`, `parse()` and did-you-mean candidates derive.
//! - `sso`: [`SsoFlavour`], [`Consent`], the documented SSO errors ([`sso::SSO_ERRORS`]).
//! - `webhook`: [`WebhookFormat`], [`PushSpec`].
//! - `service`: [`Service`], [`TargetKind`].

pub(crate) mod names;
pub mod service;
pub mod sso;
pub mod webhook;

pub use service::{Service, TargetKind};
pub use sso::{Consent, SsoErrorSpec, SsoFlavour};
pub use webhook::{PushSpec, WebhookFormat};
