//! Mail: Mattermost's SMTP client (inside the twin's Mattermost). The SMTP server it delivers to
//! is not the twin's: it is the harness's mail sink (`crate::mailsink`), which every target
//! starts. No logic here.
//!
//! Files: `client` (`send_mail`: Mattermost's mailer with its ConnectionSecurity semantics),
//! `sink` (the twin's CA as the sink's certificate issuer), `tls_client` (Go-like client TLS
//! configuration and error wording).

pub mod client;
pub mod sink;
pub mod tls_client;

pub use client::{
    MailError, MailErrorKind, MailerEra, OutgoingMail, SmtpLine, SmtpSessionLog, Speaker,
    send_mail, send_mail_as, send_mail_with,
};
