//! Building the twin image (`mm-twin:local`) without a registry: a root filesystem holding the
//! mm-harness binary, the shared libraries `ldd` lists for it, the CA bundle and the command
//! names (omnibus's `gitlab-rails` and `gitlab-psql`, the twin's reset command `mm-twin-reset` →
//! mm-harness), imported with `docker import` (no base image). Its entry point is
//! `mm-harness twin serve` (twin/container.rs), configured like `gitlab/gitlab-ce` by
//! `GITLAB_OMNIBUS_CONFIG`.
//!
//! The image is labelled with the binary's SHA-256 and the GitLab version it plays; building again
//! with the same binary and version is a no-op. A per-version image (`--gitlab-version 8.12 --tag
//! mm-twin:8.12`) bakes `MM_TWIN_GITLAB_VERSION` into its environment (`docker import --change
//! ENV`), as `gitlab/gitlab-ce:8.12.0-ce.0` knows its own release: the docker target's upgrades
//! swap such tags over the same volumes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::stack::error::{StackError, StackErrorKind};

/// The label holding the binary's digest.
pub const BINARY_LABEL: &str = "mm-harness.binary-sha256";
/// The label holding the GitLab version baked in (`any` when the image plays every version).
pub const VERSION_LABEL: &str = "mm-harness.gitlab-version";

/// What `build` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinImage {
    pub tag: String,
    pub binary_sha256: String,
    /// The GitLab version baked into the image (`None`: every version, chosen per container).
    pub gitlab_version: Option<crate::config::Version>,
    /// False when an image with the same binary was there already.
    pub built: bool,
    /// Files in the root filesystem.
    pub files: Vec<String>,
}

fn env_err(message: impl Into<String>) -> StackError {
    StackError::new(StackErrorKind::Environment, message)
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The shared libraries `ldd` lists for a binary (absolute paths, the loader included).
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, StackError> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| env_err(format!("cannot run ldd (libc-bin): {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut libs = Vec::new();
    for line in text.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    if !out.status.success() && !text.contains("statically linked") {
        return Err(env_err(format!(
            "ldd {} failed: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(libs)
}

/// The image's digest and version labels (`digest version`), if the image is present.
fn present_digest(tag: &str) -> Option<String> {
    let out = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            &format!(
                "{{{{index .Config.Labels \"{BINARY_LABEL}\"}}}} {{{{index .Config.Labels \"{VERSION_LABEL}\"}}}}"
            ),
            tag,
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn copy_into(
    root: &Path,
    src: &Path,
    dest: &str,
    files: &mut Vec<String>,
) -> Result<(), StackError> {
    let target = root.join(dest.trim_start_matches('/'));
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| env_err(format!("cannot create {}: {e}", parent.display())))?;
    }
    // Follows symlinks: the file the loader opens under that name.
    std::fs::copy(src, &target)
        .map_err(|e| env_err(format!("cannot copy {}: {e}", src.display())))?;
    files.push(dest.to_string());
    Ok(())
}

fn version_label(v: Option<crate::config::Version>) -> String {
    v.map_or_else(|| "any".to_string(), |v| v.to_string())
}

/// Build (or find) the twin image for `binary` under `tag`, playing `gitlab_version` (baked in
/// as `MM_TWIN_GITLAB_VERSION`) or, with `None`, the version each container is given.
pub fn build(
    binary: &Path,
    tag: &str,
    force: bool,
    gitlab_version: Option<crate::config::Version>,
) -> Result<TwinImage, StackError> {
    let digest = sha256_file(binary)
        .map_err(|e| env_err(format!("cannot read {}: {e}", binary.display())))?;
    let wanted = format!("{digest} {}", version_label(gitlab_version));
    if !force && present_digest(tag).as_deref() == Some(wanted.as_str()) {
        return Ok(TwinImage {
            tag: tag.to_string(),
            binary_sha256: digest,
            gitlab_version,
            built: false,
            files: Vec::new(),
        });
    }
    let root = std::env::temp_dir().join(format!(
        "mm-harness-rootfs-{}-{}",
        std::process::id(),
        &digest[..12]
    ));
    let _ = std::fs::remove_dir_all(&root);
    let result = (|| {
        let mut files = Vec::new();
        copy_into(&root, binary, "/usr/bin/mm-harness", &mut files)?;
        for lib in shared_libraries(binary)? {
            let dest = lib.display().to_string();
            copy_into(&root, &lib, &dest, &mut files)?;
        }
        for ca in [
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt",
        ] {
            if Path::new(ca).is_file() {
                copy_into(&root, Path::new(ca), ca, &mut files)?;
            }
        }
        let write = |rel: &str, text: &str| {
            let p = root.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, text)
        };
        write("etc/nsswitch.conf", "hosts: files dns\n")
            .and_then(|()| write("etc/passwd", "root:x:0:0:root:/root:/usr/bin/mm-harness\n"))
            .and_then(|()| write("etc/group", "root:x:0:\n"))
            .and_then(|()| write("etc/hosts", "127.0.0.1 localhost\n"))
            .and_then(|()| std::fs::create_dir_all(root.join("tmp")))
            .and_then(|()| std::fs::create_dir_all(root.join("run")))
            .and_then(|()| std::fs::create_dir_all(root.join("etc/gitlab/ssl")))
            .and_then(|()| std::fs::create_dir_all(root.join("etc/gitlab/trusted-certs")))
            .and_then(|()| std::fs::create_dir_all(root.join("var/opt/gitlab")))
            .and_then(|()| {
                std::os::unix::fs::symlink("mm-harness", root.join("usr/bin/gitlab-rails"))
            })
            .and_then(|()| {
                std::os::unix::fs::symlink("mm-harness", root.join("usr/bin/gitlab-psql"))
            })
            .and_then(|()| {
                std::os::unix::fs::symlink(
                    "mm-harness",
                    root.join("usr/bin")
                        .join(crate::twin::container::RESET_COMMAND),
                )
            })
            .map_err(|e| env_err(format!("cannot lay out the root filesystem: {e}")))?;
        files.push("/usr/bin/gitlab-rails -> mm-harness".to_string());
        files.push("/usr/bin/gitlab-psql -> mm-harness".to_string());
        files.push(format!(
            "/usr/bin/{} -> mm-harness",
            crate::twin::container::RESET_COMMAND
        ));
        import(&root, tag, &digest, gitlab_version)?;
        Ok(files)
    })();
    let _ = std::fs::remove_dir_all(&root);
    Ok(TwinImage {
        tag: tag.to_string(),
        binary_sha256: digest,
        gitlab_version,
        built: true,
        files: result?,
    })
}

/// `tar -C root -c . | docker import --change … - tag`.
fn import(
    root: &Path,
    tag: &str,
    digest: &str,
    gitlab_version: Option<crate::config::Version>,
) -> Result<(), StackError> {
    let mut tar = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(root)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| env_err(format!("cannot run tar: {e}")))?;
    let Some(tar_out) = tar.stdout.take() else {
        return Err(env_err("tar gave no output"));
    };
    let mut changes = vec![
        r#"ENTRYPOINT ["/usr/bin/mm-harness", "twin", "serve"]"#.to_string(),
        "ENV PATH=/usr/bin:/bin".to_string(),
        "EXPOSE 80/tcp 443/tcp".to_string(),
        format!("LABEL {BINARY_LABEL}={digest}"),
        format!("LABEL {VERSION_LABEL}={}", version_label(gitlab_version)),
        "LABEL org.opencontainers.image.title=mm-harness-twin".to_string(),
    ];
    if let Some(v) = gitlab_version {
        changes.push(format!("ENV {}={v}", crate::twin::container::VERSION_VAR));
    }
    let mut cmd = Command::new("docker");
    cmd.arg("import");
    for c in &changes {
        cmd.args(["--change", c]);
    }
    let out = cmd
        .args(["-", tag])
        .stdin(Stdio::from(tar_out))
        .output()
        .map_err(|e| {
            env_err(format!(
                "cannot run `docker import` ({e}): install the Docker CLI (Debian: docker.io)"
            ))
        })?;
    let _ = tar.wait();
    if !out.status.success() {
        return Err(env_err(format!(
            "docker import failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_lists_the_loader_and_libc() {
        let libs = shared_libraries(Path::new("/bin/sh")).unwrap();
        assert!(
            libs.iter()
                .any(|l| l.display().to_string().contains("libc.so")),
            "{libs:?}"
        );
    }
}
