//! Stopping a run from outside: a [`Cancel`] token the runner watches, and the SIGINT/SIGTERM
//! listener that trips it ([`cancel_on_signals`]). A cancelled run stops starting scenarios,
//! cuts the running steps, takes every stack down and still returns one result per scenario
//! (`cancelled`), so the CLI prints the partial report and exits 130. A second signal while the
//! first is being handled ends the process at once (exit 130), for a teardown that hangs.
//!
//! `twin up` waits for the same signals with [`Interrupts`].

use std::sync::Arc;

use tokio::sync::watch;

/// A cancellation token: cloned into every task; tripped once, with the reason.
#[derive(Debug, Clone)]
pub struct Cancel {
    tx: Arc<watch::Sender<Option<&'static str>>>,
    rx: watch::Receiver<Option<&'static str>>,
}

impl Default for Cancel {
    fn default() -> Self {
        Cancel::new()
    }
}

impl Cancel {
    /// A token nobody has tripped.
    pub fn new() -> Cancel {
        let (tx, rx) = watch::channel(None);
        Cancel {
            tx: Arc::new(tx),
            rx,
        }
    }

    /// Trip the token (the first reason wins).
    pub fn cancel(&self, why: &'static str) {
        self.tx.send_if_modified(|v| {
            if v.is_none() {
                *v = Some(why);
                true
            } else {
                false
            }
        });
    }

    /// Why the token was tripped, if it was.
    pub fn reason(&self) -> Option<&'static str> {
        *self.rx.borrow()
    }

    /// Wait until the token is tripped; its reason.
    pub async fn cancelled(&self) -> &'static str {
        let mut rx = self.rx.clone();
        loop {
            if let Some(why) = *rx.borrow_and_update() {
                return why;
            }
            if rx.changed().await.is_err() {
                // The sender lives in `self`: unreachable while we hold it; wait forever.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// SIGINT and SIGTERM, listened to from creation on (a signal that arrives before
/// [`Interrupts::recv`] is awaited is not lost, and no longer kills the process).
pub struct Interrupts {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// Install the handlers (inside a tokio runtime).
    pub fn new() -> std::io::Result<Interrupts> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Interrupts {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupts {})
        }
    }

    /// The next SIGINT or SIGTERM: `"SIGINT"` or `"SIGTERM"`.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => "SIGINT",
                _ = self.term.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

/// Trip `cancel` on the first SIGINT or SIGTERM; on a second one, exit the process with 130 at
/// once. The handlers are installed before this returns; abort the task to stop listening.
pub fn cancel_on_signals(cancel: Cancel) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut signals = Interrupts::new()?;
    Ok(tokio::spawn(async move {
        loop {
            let why = signals.recv().await;
            if cancel.reason().is_some() {
                eprintln!("mm-harness: {why} again: stopping now");
                std::process::exit(130);
            }
            eprintln!(
                "mm-harness: {why}: stopping the run and taking the stacks down (again to stop at once)"
            );
            cancel.cancel(why);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_wins_and_waiters_wake() {
        let c = Cancel::new();
        assert_eq!(c.reason(), None);
        let waiter = {
            let c = c.clone();
            tokio::spawn(async move { c.cancelled().await })
        };
        c.cancel("SIGTERM");
        c.cancel("SIGINT");
        assert_eq!(c.reason(), Some("SIGTERM"));
        assert_eq!(waiter.await.unwrap(), "SIGTERM");
        assert_eq!(c.cancelled().await, "SIGTERM");
    }
}
