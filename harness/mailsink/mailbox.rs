//! The mailbox: every message the sink accepted and every SMTP session it saw, bounded, with
//! event-driven waiting.
//!
//! Owns: [`Mailbox`] (the store), [`SinkMessage`] (one accepted message: envelope, raw source,
//! parsed form, transport facts), [`SessionRecord`] (one SMTP connection, with or without mail:
//! how a failed delivery or credentials sent in the clear are seen), and waiting: a
//! `tokio::sync::watch` generation counter bumped on every change, so a waiter wakes on arrival
//! and gives up at its deadline — no sleep-polling.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;

use super::mime::ParsedMail;
use super::smtp::{AuthAttempt, TransportFacts};

fn rfc3339<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(
        &t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    )
}

/// One accepted message.
#[derive(Debug, Clone, Serialize)]
pub struct SinkMessage {
    /// Mailbox id (22 characters, Mailpit style).
    pub id: String,
    /// Arrival order, from 1.
    pub seq: u64,
    #[serde(serialize_with = "rfc3339")]
    pub received: OffsetDateTime,
    /// `MAIL FROM`.
    pub envelope_from: String,
    /// `RCPT TO`, in order.
    pub envelope_to: Vec<String>,
    /// The message as received (dot-unstuffed), bounded by the size limit.
    #[serde(skip)]
    pub raw: Vec<u8>,
    pub parsed: ParsedMail,
    pub transport: TransportFacts,
}

impl SinkMessage {
    /// The first header of that name (case-insensitive), decoded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parsed.header(name)
    }

    pub fn subject(&self) -> &str {
        &self.parsed.subject
    }
}

/// One SMTP connection, recorded when it ends.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRecord {
    pub seq: u64,
    #[serde(serialize_with = "rfc3339")]
    pub started: OffsetDateTime,
    pub peer: SocketAddr,
    pub transport: TransportFacts,
    /// Every AUTH attempt (identity only; passwords are never kept).
    pub auth_attempts: Vec<AuthAttempt>,
    /// Ids of the messages accepted in this session.
    pub messages: Vec<String>,
    /// How it ended (`QUIT`, `client closed`, `idle timeout`, `TLS handshake failed: ...`).
    pub end: String,
}

struct Entry {
    message: Arc<SinkMessage>,
    read: bool,
}

#[derive(Default)]
struct Inner {
    messages: VecDeque<Entry>,
    sessions: VecDeque<Arc<SessionRecord>>,
    next_message: u64,
    next_session: u64,
    dropped: u64,
}

/// A waiter gave up at its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no matching mail arrived before the deadline")]
pub struct WaitTimedOut;

/// The store. Cheap to share (`Arc<Mailbox>`).
pub struct Mailbox {
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
    max_messages: usize,
    max_sessions: usize,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("messages", &self.len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// 22 random characters of `[0-9A-Za-z]`.
pub(crate) fn new_id() -> String {
    use rand::Rng as _;
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..22)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

impl Mailbox {
    pub fn new(max_messages: usize, max_sessions: usize) -> Mailbox {
        Mailbox {
            inner: Mutex::new(Inner::default()),
            changed: watch::Sender::new(0),
            max_messages: max_messages.max(1),
            max_sessions: max_sessions.max(1),
        }
    }

    fn bump(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Store a message (the oldest goes when the mailbox is full) and wake every waiter.
    pub(crate) fn push_message(
        &self,
        envelope_from: String,
        envelope_to: Vec<String>,
        raw: Vec<u8>,
        parsed: ParsedMail,
        transport: TransportFacts,
    ) -> Arc<SinkMessage> {
        let message = {
            let mut inner = lock(&self.inner);
            inner.next_message += 1;
            let message = Arc::new(SinkMessage {
                id: new_id(),
                seq: inner.next_message,
                received: OffsetDateTime::now_utc(),
                envelope_from,
                envelope_to,
                raw,
                parsed,
                transport,
            });
            while inner.messages.len() >= self.max_messages {
                inner.messages.pop_front();
                inner.dropped += 1;
            }
            inner.messages.push_back(Entry {
                message: message.clone(),
                read: false,
            });
            message
        };
        self.bump();
        message
    }

    /// Record a finished session and wake every waiter.
    pub(crate) fn push_session(&self, mut record: SessionRecord) {
        {
            let mut inner = lock(&self.inner);
            inner.next_session += 1;
            record.seq = inner.next_session;
            while inner.sessions.len() >= self.max_sessions {
                inner.sessions.pop_front();
            }
            inner.sessions.push_back(Arc::new(record));
        }
        self.bump();
    }

    /// Every message, oldest first.
    pub fn messages(&self) -> Vec<Arc<SinkMessage>> {
        lock(&self.inner)
            .messages
            .iter()
            .map(|e| e.message.clone())
            .collect()
    }

    /// Every recorded session, oldest first.
    pub fn sessions(&self) -> Vec<Arc<SessionRecord>> {
        lock(&self.inner).sessions.iter().cloned().collect()
    }

    pub fn len(&self) -> usize {
        lock(&self.inner).messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages not yet read through the HTTP API.
    pub fn unread(&self) -> usize {
        lock(&self.inner)
            .messages
            .iter()
            .filter(|e| !e.read)
            .count()
    }

    /// Messages dropped because the mailbox was full.
    pub fn dropped(&self) -> u64 {
        lock(&self.inner).dropped
    }

    /// One message by id (`latest` = the newest).
    pub fn get(&self, id: &str) -> Option<Arc<SinkMessage>> {
        let inner = lock(&self.inner);
        if id == "latest" {
            return inner.messages.back().map(|e| e.message.clone());
        }
        inner
            .messages
            .iter()
            .find(|e| e.message.id == id)
            .map(|e| e.message.clone())
    }

    /// Whether a message was read (through the API or page).
    pub fn is_read(&self, id: &str) -> bool {
        lock(&self.inner)
            .messages
            .iter()
            .any(|e| e.message.id == id && e.read)
    }

    /// Mark read (what Mailpit does when a message is fetched).
    pub fn mark_read(&self, id: &str) {
        let mut inner = lock(&self.inner);
        if let Some(e) = inner.messages.iter_mut().find(|e| e.message.id == id) {
            e.read = true;
        }
    }

    /// Delete everything (messages and sessions).
    pub fn clear(&self) {
        {
            let mut inner = lock(&self.inner);
            inner.messages.clear();
            inner.sessions.clear();
        }
        self.bump();
    }

    /// Delete the messages with these ids; returns how many went.
    pub fn delete(&self, ids: &[String]) -> usize {
        let removed = {
            let mut inner = lock(&self.inner);
            let before = inner.messages.len();
            inner.messages.retain(|e| !ids.contains(&e.message.id));
            before - inner.messages.len()
        };
        self.bump();
        removed
    }

    /// Wait until `check` finds what it looks for in the current messages and sessions, or the
    /// deadline passes. `check` runs once now and again after every change.
    pub async fn wait_until<T>(
        &self,
        deadline: Instant,
        mut check: impl FnMut(&[Arc<SinkMessage>], &[Arc<SessionRecord>]) -> Option<T>,
    ) -> Result<T, WaitTimedOut> {
        let mut rx = self.changed.subscribe();
        loop {
            // Mark the current generation seen before looking, so a change after the look wakes us.
            rx.borrow_and_update();
            let (messages, sessions) = (self.messages(), self.sessions());
            if let Some(found) = check(&messages, &sessions) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                // The sender lives as long as `self`; a closed channel cannot happen while borrowed.
                Ok(Err(_)) | Err(_) => return Err(WaitTimedOut),
            }
        }
    }

    /// Wait for the first message (already there or arriving) that `matches`.
    pub async fn wait_for(
        &self,
        deadline: Instant,
        matches: impl Fn(&SinkMessage) -> bool,
    ) -> Result<Arc<SinkMessage>, WaitTimedOut> {
        self.wait_until(deadline, |messages, _| {
            messages.iter().find(|m| matches(m)).cloned()
        })
        .await
    }

    /// Wait until at least `n` messages are stored; returns them all.
    pub async fn wait_for_count(
        &self,
        n: usize,
        deadline: Instant,
    ) -> Result<Vec<Arc<SinkMessage>>, WaitTimedOut> {
        self.wait_until(deadline, |messages, _| {
            (messages.len() >= n).then(|| messages.to_vec())
        })
        .await
    }

    /// Wait for at least `n` finished sessions; returns them all.
    pub async fn wait_for_sessions(
        &self,
        n: usize,
        deadline: Instant,
    ) -> Result<Vec<Arc<SessionRecord>>, WaitTimedOut> {
        self.wait_until(deadline, |_, sessions| {
            (sessions.len() >= n).then(|| sessions.to_vec())
        })
        .await
    }
}
