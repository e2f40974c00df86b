//! Upgrades on the docker target (a child of `stack`): `gitlab.upgrade` swaps the image of every
//! omnibus container for the one of the target GitLab version — each container stopped
//! (`docker stop`: the twin image writes its state on SIGTERM, omnibus stops its services),
//! created again from the new image on the same volumes, network, aliases and published ports,
//! and waited for — and `mattermost.run_sql` is `docker exec … gitlab-psql -d
//! mattermost_production -c STATEMENT`, what an operator runs on an omnibus host.
//!
//! Owns: the choice of image per GitLab version ([`image_for`]: a `--gitlab-image V=IMAGE`
//! override, else the plain `--gitlab-image IMAGE` for every version, else images.toml) and
//! whether the container is told its version (`MM_TWIN_GITLAB_VERSION`, only for an image that
//! plays every version), the graceful stop, and reading what Mattermost logged at start from the
//! twin image's output (`twin::container::start_report`). On a real image the Mattermost start
//! log is not parsed: the upgrade waits for readiness and reports no log lines.

use std::time::{Duration, Instant};

use crate::config::Version;
use crate::stack::error::{StackError, StackErrorKind};
use crate::twin::container::start_report;

use super::super::engine;
use super::super::images::ImageTable;
use super::{DockerOptions, DockerStack, env_err};

/// How long `docker stop` waits for a container before killing it.
const STOP_TIMEOUT_SECONDS: i32 = 30;

/// The omnibus image for GitLab `v`, and whether the image knows its version itself (a
/// per-version image: the container is not told it).
pub fn image_for(opts: &DockerOptions, v: Version) -> Result<(String, bool), StackError> {
    if let Some((_, image)) = opts
        .gitlab_images
        .iter()
        .find(|(w, _)| w.major == v.major && w.minor == v.minor)
    {
        return Ok((image.clone(), true));
    }
    if let Some(image) = &opts.gitlab_image {
        return Ok((image.clone(), false));
    }
    let table = ImageTable::builtin();
    match table.omnibus_for(v) {
        Some(image) => Ok((image.to_string(), true)),
        None => Err(StackError::new(
            StackErrorKind::Configuration,
            format!(
                "images.toml has no image for GitLab {}.{}: pass --gitlab-image {}.{}=IMAGE (or --gitlab-image IMAGE for every version)",
                v.major, v.minor, v.major, v.minor
            ),
        )),
    }
}

/// `docker stop` with a grace period (SIGTERM, then SIGKILL), bounded.
pub(super) async fn stop_gracefully(docker: &testcontainers::bollard::Docker, id: &str) {
    let opts = testcontainers::bollard::query_parameters::StopContainerOptions {
        t: Some(STOP_TIMEOUT_SECONDS),
        signal: None,
    };
    let _ = tokio::time::timeout(
        Duration::from_secs(STOP_TIMEOUT_SECONDS as u64 + 15),
        docker.stop_container(id, Some(opts)),
    )
    .await;
}

impl DockerStack {
    /// Whether the container of `image` must be told the GitLab version it plays.
    pub(super) fn tells_version(&self, image: &str) -> bool {
        let per_version = self.opts.gitlab_images.iter().any(|(_, i)| i == image)
            || ImageTable::builtin()
                .gitlab
                .iter()
                .any(|g| g.omnibus == image);
        !per_version
    }

    /// `gitlab.upgrade { to }`: every omnibus container (GitLab's first) stopped and created
    /// again from `to`'s image on its volumes; `Ok` with what Mattermost logged at start, `Err`
    /// with the halt when it refused the database (Mattermost stays down, nginx answers 502).
    pub async fn upgrade_gitlab(&mut self, to: Version) -> Result<Vec<String>, StackError> {
        let (image, _) = image_for(&self.opts, to)?;
        let table = ImageTable::builtin();
        engine::require_image(&self.docker, &image, image == table.twin.image).await?;
        // Its containers now run another image and version than its pool key says: it serves
        // no other scenario.
        self.resettable = false;
        self.version = to;
        let mut order: Vec<usize> = (0..self.hosts.len()).collect();
        order.sort_by_key(|i| !self.hosts[*i].host.settings.gitlab_rails_enabled);
        let mut lines = Vec::new();
        let mut halted = None;
        for i in order {
            let old = self.hosts.remove(i);
            stop_gracefully(&self.docker, &old.id).await;
            let super::HostContainer {
                host,
                container,
                id,
                ports,
                ..
            } = old;
            match container {
                Some(c) => {
                    if c.rm().await.is_err() {
                        engine::remove_container(&self.docker, &id).await?;
                    }
                }
                None => engine::remove_container(&self.docker, &id).await?,
            }
            let c = self.create(host, &image, Some(&ports)).await?;
            self.hosts.insert(i, c);
            let runs_mattermost = self.hosts[i].host.settings.mattermost_enabled;
            if runs_mattermost && is_twin_image(&self.docker, &image).await {
                match self.wait_start_report(i).await? {
                    Ok(l) => {
                        lines.extend(l);
                        self.wait_ready(i).await?;
                    }
                    Err(h) => halted = Some(h),
                }
            } else {
                self.wait_ready(i).await?;
            }
        }
        if self
            .hosts
            .iter()
            .any(|h| h.host.settings.gitlab_rails_enabled)
        {
            self.seed().await?;
        }
        match halted {
            Some(h) => Err(StackError::new(StackErrorKind::Environment, h)),
            None => Ok(lines),
        }
    }

    /// Wait until the twin container of host `i` reports how Mattermost started.
    async fn wait_start_report(&self, i: usize) -> Result<Result<Vec<String>, String>, StackError> {
        let h = &self.hosts[i];
        let deadline = Instant::now() + self.opts.ready_timeout;
        loop {
            let out = engine::logs(&self.docker, &h.id, 2000).await;
            if let Some(report) = start_report(&out) {
                return Ok(report);
            }
            if !engine::running(&self.docker, &h.id).await {
                let out = engine::logs(&self.docker, &h.id, 60).await;
                return Err(env_err(format!(
                    "the container of host `{}` ({}) exited while starting; its last output:\n{}",
                    h.host.name,
                    h.image,
                    crate::report::escape::terminal(&out)
                )));
            }
            if Instant::now() >= deadline {
                return Err(env_err(format!(
                    "host `{}` ({}) did not finish starting in {} s",
                    h.host.name,
                    h.image,
                    self.opts.ready_timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `mattermost.run_sql`: `gitlab-psql -d mattermost_production -c STATEMENT` in the
    /// Mattermost host's container; the rows psql's command tag counts.
    pub async fn run_sql(&mut self, statement: &str) -> Result<usize, StackError> {
        let Some(h) = self
            .hosts
            .iter()
            .find(|h| h.host.settings.mattermost_enabled)
        else {
            return Err(StackError::new(
                StackErrorKind::Configuration,
                "the stack runs no Mattermost",
            ));
        };
        let cmd: Vec<String> = [
            "gitlab-psql",
            "-d",
            "mattermost_production",
            "-c",
            statement,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (code, out) = engine::exec(&self.docker, &h.id, &cmd, Duration::from_secs(120)).await?;
        let out = out.trim();
        if code != 0 {
            let message = out.strip_prefix("ERROR:  ").unwrap_or(out);
            return Err(StackError::new(
                StackErrorKind::Configuration,
                crate::report::escape::terminal(message),
            ));
        }
        psql_rows(out).ok_or_else(|| {
            env_err(format!(
                "gitlab-psql answered {:?}, not a command tag such as `UPDATE 1`",
                crate::report::escape::terminal(out)
            ))
        })
    }
}

/// The row count of psql's command tag (`UPDATE 1`, `DELETE 0`, `INSERT 0 1`).
pub fn psql_rows(out: &str) -> Option<usize> {
    let tag = out.lines().rev().find(|l| !l.trim().is_empty())?;
    let mut words = tag.split_whitespace();
    match words.next()? {
        "UPDATE" | "DELETE" | "INSERT" | "SELECT" => words.last()?.parse().ok(),
        _ => None,
    }
}

/// Whether the image is the twin image (`mm-harness twin image` labels it).
async fn is_twin_image(docker: &testcontainers::bollard::Docker, image: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(30), docker.inspect_image(image)).await,
        Ok(Ok(i)) if i
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .is_some_and(|l| l.contains_key(super::super::twin_image::BINARY_LABEL))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_chosen_per_version_then_for_every_version_then_from_the_table() {
        let mut opts = DockerOptions::default();
        let (img, baked) = image_for(&opts, Version::new(8, 12, 0)).unwrap();
        assert_eq!(
            (img.as_str(), baked),
            ("gitlab/gitlab-ce:8.12.0-ce.0", true)
        );
        assert!(image_for(&opts, Version::new(17, 3, 0)).is_err());
        opts.gitlab_image = Some("mm-twin:local".into());
        assert_eq!(
            image_for(&opts, Version::new(17, 3, 0)).unwrap(),
            ("mm-twin:local".to_string(), false)
        );
        opts.gitlab_images = vec![(Version::new(8, 12, 0), "mm-twin:8.12".into())];
        assert_eq!(
            image_for(&opts, Version::new(8, 12, 3)).unwrap(),
            ("mm-twin:8.12".to_string(), true)
        );
        assert_eq!(
            image_for(&opts, Version::new(8, 9, 0)).unwrap().0,
            "mm-twin:local"
        );
    }

    #[test]
    fn psql_command_tags_give_the_rows() {
        assert_eq!(psql_rows("UPDATE 1\n"), Some(1));
        assert_eq!(psql_rows("INSERT 0 3"), Some(3));
        assert_eq!(psql_rows("ERROR: x"), None);
        assert_eq!(psql_rows(""), None);
    }
}
