//! The twin: an embedded reference GitLab + Mattermost (+ an SMTP server) on loopback, faithful to the
//! wire behaviour in shared/wire/, with fault injection. It depends on `config` only and shares no
//! protocol code with the harness drivers (`drive`): the twin is the server side, the drivers the client.
//!
//! Files (no logic here):
//! - `bringup`: `Twin::start(TwinOptions) -> TwinHandle`: binds listeners, builds the address book,
//!   plays omnibus (auto-registration of the OAuth application), applies faults.
//! - `clock`: the product clock (product timeouts in real time; scaled for scenario runs).
//! - `container`: the twin as a container process (`twin serve`, the `mm-twin:local` image).
//! - `fault`: the injectable faults.
//! - `persist`: the state file `twin serve` keeps on its volumes (bounded, written by rename).
//! - `listen`: serving routers on loopback, plain or TLS, and the http→https redirect listener.
//! - `request_log`: every request the listeners answered (tests prove what a client sent).
//! - `tls`: the generated CA and server certificates (valid, expired, wrong host, untrusted).
//! - `gitlab`: the GitLab side (sign-in, Doorkeeper, API v4/v3, applications API).
//! - `mattermost`: the Mattermost side (GitLab SSO, API v4 subset, incoming webhooks, config, email).
//! - `mail`: Mattermost's SMTP client and the SMTP server the twin's mail goes to.

pub mod bringup;
pub mod clock;
pub mod container;
pub mod fault;
pub mod gitlab;
pub mod listen;
pub mod mail;
pub mod mattermost;
pub mod persist;
pub mod request_log;
pub mod tls;
