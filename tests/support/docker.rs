//! What the docker tests (docker_target, docker_upgrade) share: the one lock that keeps them from
//! running at the same time — they share the engine, the twin images and a 2-core machine, and
//! `twin sweep --all` in one would remove the other's containers — whether an engine answers, and
//! the objects a run left by its pid label.

use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

pub use super::{bin, text};

static SERIAL: Mutex<()> = Mutex::new(());

/// Hold this for the whole of a docker test.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The docker CLI with these arguments.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("docker")
}

/// Whether an engine answers; `false` (with the reason printed) lets a test return, except
/// under CI, where it fails.
pub fn docker_available() -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and no Docker engine answers `docker info`: .ci/run must start one");
        }
        eprintln!("skipped: no Docker engine answers `docker info` (not under CI)");
    }
    ok
}

/// Every docker object (containers, networks, volumes) a process made, by its pid label.
pub fn leftovers(pid: u32) -> Vec<String> {
    let filter = format!("label=mm-harness.pid={pid}");
    let mut out = Vec::new();
    for args in [
        vec!["ps", "-aq", "--filter", filter.as_str()],
        vec!["network", "ls", "-q", "--filter", filter.as_str()],
        vec!["volume", "ls", "-q", "--filter", filter.as_str()],
    ] {
        let o = docker(&args);
        out.extend(
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| format!("{} {l}", args[0])),
        );
    }
    out
}

/// The JSON report on stdout.
pub fn report(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}): {}", text(o)))
}
