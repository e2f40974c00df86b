//! `mm-harness twin image`, `twin serve` and `twin sweep`: the twin as a container image.
//!
//! Owns: building `mm-twin:local` from this binary (`stack::docker::twin_image`), the image's
//! entry point (`twin::container::serve`, configured by `GITLAB_OMNIBUS_CONFIG` like
//! `gitlab/gitlab-ce`), and removing every container, network and volume mm-harness left.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::{CliError, Context};

#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The image's name.
    #[arg(long, default_value = "mm-twin:local")]
    pub tag: String,
    /// The mm-harness binary to put in the image (default: this one).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Build even if an image with the same binary is present.
    #[arg(long)]
    pub force: bool,
    /// Bake this GitLab version into the image (`MM_TWIN_GITLAB_VERSION`), as a
    /// `gitlab/gitlab-ce:<version>-ce.0` image knows its own; without it the image plays the
    /// version each container is given. E.g. `--gitlab-version 8.12 --tag mm-twin:8.12`.
    #[arg(long, value_name = "VERSION")]
    pub gitlab_version: Option<String>,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Also remove stacks of runs still alive (what `run --keep` left).
    #[arg(long)]
    pub all: bool,
}

/// `twin image`.
pub fn image(args: ImageArgs, _ctx: &Context) -> Result<(), CliError> {
    let binary = match args.binary {
        Some(b) => b,
        None => std::env::current_exe().map_err(|e| {
            CliError::environment(format!("cannot find this program's binary: {e}"))
        })?,
    };
    let version = match &args.gitlab_version {
        Some(v) => Some(v.parse::<crate::config::Version>().map_err(|e| {
            CliError::bad_input(format!("--gitlab-version {v:?}: {e}"))
                .with_hint("a GitLab version such as 8.12 or 18.11.0")
        })?),
        None => None,
    };
    let built = crate::stack::docker::twin_image::build(&binary, &args.tag, args.force, version)
        .map_err(|e| {
            CliError::environment(e.message)
                .with_hint("the Docker engine and its CLI must answer (`docker info`)")
        })?;
    // A closed stdout (`| head`) is not an error of the build.
    let mut out = std::io::stdout().lock();
    let plays = match built.gitlab_version {
        Some(v) => format!("GitLab {v}"),
        None => "every GitLab version".to_string(),
    };
    if built.built {
        let _ = writeln!(
            out,
            "built {} from {} (sha256 {}, plays {plays}), {} files:",
            built.tag,
            binary.display(),
            &built.binary_sha256[..16],
            built.files.len()
        );
        for f in &built.files {
            let _ = writeln!(out, "  {f}");
        }
    } else {
        let _ = writeln!(
            out,
            "{} is up to date (binary sha256 {}, plays {plays})",
            built.tag,
            &built.binary_sha256[..16]
        );
    }
    let _ = writeln!(
        out,
        "run: mm-harness run --target docker --gitlab-image {} --mattermost-image {}",
        built.tag, built.tag
    );
    Ok(())
}

/// `twin serve`: the twin image's entry point.
pub fn serve(ctx: &Context) -> Result<(), CliError> {
    let env = |k: &str| std::env::var(k).ok();
    let cfg = crate::twin::container::ServeConfig::from_env(&env).map_err(|e| {
        CliError::reported(super::Exit::BadInput).with_details(vec![format!("error: {e}\n")])
    })?;
    ctx.block_on(crate::twin::container::serve(cfg))?
        .map_err(CliError::environment)
}

/// `twin sweep`.
pub fn sweep(args: SweepArgs, ctx: &Context) -> Result<(), CliError> {
    let swept = ctx
        .block_on(async move {
            let docker = crate::stack::docker::engine::connect().await?;
            crate::stack::docker::engine::sweep(&docker, args.all).await
        })?
        .map_err(|e| CliError::environment(e.message))?;
    println!(
        "removed {} containers, {} networks, {} volumes",
        swept.containers, swept.networks, swept.volumes
    );
    Ok(())
}
