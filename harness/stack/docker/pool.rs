//! [`StackPool`]: one docker stack per topology and version, reused across the scenarios that
//! share it.
//!
//! A scenario's stack is keyed by [`PoolKey`]: the image and GitLab version, and per host its
//! name, roles (GitLab Rails, Mattermost), the names it serves and the container ports it
//! publishes, and the SMTP server name its containers resolve to the run's mail sink (an
//! `extra_hosts` entry fixed when a container is created). Scenarios whose key matches an idle
//! stack get it back reset: every container restarts its services from scratch with the
//! scenario's gitlab.rb ([`crate::twin::container::RESET_COMMAND`]), the mail sink is started
//! again for the new settings, readiness is checked and the accounts and admin token are seeded
//! again. What a scenario changed (users, teams, OAuth applications, webhooks, settings, a
//! `host.reconfigure`) is therefore gone, and a stack that cannot be reset is removed and a fresh
//! one started.
//!
//! Only images that carry the reset command are pooled (the twin image; a real omnibus has no
//! such reset: its data lives in the volumes, so each scenario keeps getting its own stack).
//! Concurrency: a stack is lent to one scenario at a time; with `--jobs N` up to N stacks of one
//! key exist. Cleanup: [`StackPool::drain`] at the end of a run (also after SIGINT) removes every
//! idle stack; a stack dropped without it (a panic) removes itself by label
//! ([`super::DockerStack`]'s drop), and a killed run's stacks are swept by the next run.

use std::sync::{Arc, Mutex};

use crate::config::Version;

use super::stack::DockerStack;

/// The shape of one host, as far as reuse is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostShape {
    pub name: String,
    pub gitlab: bool,
    pub mattermost: bool,
    /// The names it serves (network aliases), lower-case, in order.
    pub names: Vec<String>,
    /// The container ports it publishes, sorted.
    pub ports: Vec<u16>,
}

/// What two scenarios must share to share a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolKey {
    pub image: String,
    pub version: Version,
    /// Sorted by host name.
    pub hosts: Vec<HostShape>,
    /// The SMTP server name the Mattermost containers resolve to the mail sink, if any.
    pub mail_host: Option<String>,
}

impl PoolKey {
    pub fn new(
        image: &str,
        version: Version,
        mut hosts: Vec<HostShape>,
        mail_host: Option<String>,
    ) -> PoolKey {
        hosts.sort_by(|a, b| a.name.cmp(&b.name));
        PoolKey {
            image: image.to_string(),
            version,
            hosts,
            mail_host,
        }
    }
}

/// How the pool served a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Stacks started.
    pub started: usize,
    /// Scenarios that got a reset stack instead of a new one.
    pub reused: usize,
    /// Resets that failed (the stack was removed and a fresh one started).
    pub reset_failed: usize,
}

/// The idle stacks of a run.
#[derive(Default)]
pub struct StackPool {
    idle: Mutex<Vec<DockerStack>>,
    stats: Mutex<PoolStats>,
}

impl std::fmt::Debug for StackPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackPool")
            .field("idle", &self.idle.lock().map(|v| v.len()).unwrap_or(0))
            .field("stats", &self.stats())
            .finish()
    }
}

impl StackPool {
    pub fn new() -> Arc<StackPool> {
        Arc::new(StackPool::default())
    }

    /// An idle stack with this key, taken out of the pool.
    pub(super) fn take(&self, key: &PoolKey) -> Option<DockerStack> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let i = idle
            .iter()
            .position(|s| s.pool_key().as_ref() == Some(key))?;
        Some(idle.swap_remove(i))
    }

    /// Give a stack back for the next scenario with its key.
    pub(super) fn put(&self, stack: DockerStack) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(stack);
    }

    pub(super) fn note(&self, f: impl FnOnce(&mut PoolStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub fn stats(&self) -> PoolStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many stacks are idle.
    pub fn idle(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Remove every idle stack (the end of a run, also after SIGINT or a failure).
    pub async fn drain(&self) {
        let stacks: Vec<DockerStack> =
            std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for s in stacks {
            s.remove().await;
        }
    }
}
