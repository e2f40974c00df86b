//! The mail sink: the harness's SMTP instrument on every target. Whatever sends the mail (the
//! twin's Mattermost, a real Mattermost in a container or on a server, postfix, swaks, lettre),
//! the sink receives it and records what a person would check — envelope, headers, decoded body
//! parts, links — and what no mail-testing tool records: the transport (listener, TLS none /
//! implicit / STARTTLS, TLS version, SNI, whether STARTTLS was offered and used, AUTH mechanism
//! and identity, EHLO name). It serves the mailbox over HTTP (a Mailpit-shaped JSON API and a
//! plain HTML page).
//!
//! It is a server-side instrument, not part of the twin: the twin's Mattermost is one of its
//! clients, and the harness drivers (client side) share no code with it. The SMTP state machine
//! is `mailin`'s, driven here over tokio and tokio-rustls so one listener type covers plaintext,
//! STARTTLS and implicit TLS, with every read bounded.
//!
//! Files (no logic here):
//! - `options`: what a sink is started with (listeners, credentials, faults, limits, certificates).
//! - `error`: [`SinkError`] and its kind.
//! - `mime`: parsing a received message (headers, RFC 2047 words, multipart walked iteratively,
//!   quoted-printable and base64 decoded, links extracted), bounded.
//! - `mailbox`: the store of messages and sessions, and event-driven waiting with a deadline.
//! - `smtp`: one SMTP connection: bounded line reads, TLS, faults, transport facts.
//! - `web`: the mailbox over HTTP (Mailpit's `/api/v1/...` shapes, HTML list and message pages).
//! - `sink`: [`MailSink::start`] binds everything and owns the tasks.

pub mod error;
pub mod mailbox;
pub mod mime;
pub mod options;
pub mod sink;
pub mod smtp;
pub mod web;

pub use error::{SinkError, SinkErrorKind};
pub use mailbox::{Mailbox, SessionRecord, SinkMessage, WaitTimedOut};
pub use mime::{MailAddress, MailPart, ParsedMail};
pub use options::{
    CertIssuer, Credentials, ListenerMode, ListenerSpec, SinkCert, SinkFaults, SinkLimits,
    SinkOptions,
};
pub use sink::{BoundListener, MailSink};
pub use smtp::{AuthMechanism, TlsMode, TransportFacts};
