//! Targets and stacks: where a scenario runs. A [`Stack`] is a running GitLab + Mattermost (the
//! embedded twin, an existing installation, later containers), described by a [`StackInfo`] the
//! drivers use (URLs, address book, CA roots, accounts) and able to apply a host's new settings
//! (`host.reconfigure`).
//!
//! Files (no logic lives here):
//! - `model`: [`TargetSpec`], [`StackNeeds`], [`StackInfo`], [`Account`].
//! - `resolve`: a host's gitlab.rb text → [`ResolvedHost`] (name, filled text, typed
//!   `HostSettings` through the configuration model).
//! - `twin`: the twin target (in-process, loopback).
//! - `live`: the live target (URLs and credentials from the environment; read-only by default).
//! - `running`: [`Stack`], a running target of any kind.
//! - `docker`: the docker target (containers through testcontainers, the twin image).
//! - `upgrade`, `moveout`: upgrades of a running stack, and the move out of omnibus.
//! - `error`: [`StackError`].

pub mod docker;
pub mod error;
pub mod live;
pub mod model;
pub mod moveout;
pub mod resolve;
pub mod running;
pub mod twin;
pub mod upgrade;

pub use error::{StackError, StackErrorKind};
pub use model::{
    Account, LiveOptions, MailboxMessage, StackInfo, StackNeeds, TargetSpec, parse_resolve,
};
pub use resolve::ResolvedHost;
pub use running::Stack;
