//! Mail: Mattermost's SMTP client (inside the twin's Mattermost) and the SMTP server the twin's
//! mail is delivered to. No logic here.
//!
//! Files: `client` (`send_mail`: Mattermost's mailer with its ConnectionSecurity semantics),
//! `server` (`MailServer` on the mailin state machine: plain, STARTTLS, implicit TLS, AUTH),
//! `tls_client` (Go-like client TLS configuration and error wording).

pub mod client;
pub mod server;
pub mod sink;
pub mod tls_client;

pub use client::{
    MailError, MailErrorKind, MailerEra, OutgoingMail, SmtpLine, SmtpSessionLog, Speaker,
    send_mail, send_mail_as,
};
pub use server::{MailServer, MailServerOptions, MailServerSecurity, ReceivedMail};
