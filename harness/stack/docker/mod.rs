//! The docker target: a scenario's hosts as containers (testcontainers) on a private network with
//! the documented names as aliases (bollard), reached by the harness through ports published on
//! loopback; and the twin image that plays those containers where no registry is reachable.
//! docs/docker.md is the user's guide.
//!
//! Files (no logic lives here):
//! - `stack`: [`DockerStack`] (start, readiness, seeding, reconfigure, logs, down) and
//!   [`DockerOptions`].
//! - `engine`: bollard calls: connect, labels, sweep, networks, aliases, exec, logs.
//! - `images`: the version → image table (`images.toml`).
//! - `pool`: [`StackPool`], one stack per topology and version reused across scenarios.
//! - `twin_image`: building `mm-twin:local` with `docker import`.

pub mod engine;
pub mod images;
pub mod pool;
pub mod stack;
pub mod twin_image;

pub use pool::{PoolStats, StackPool};
pub use stack::{DockerHost, DockerOptions, DockerStack, Progress};
