//! omnibus-gitlab's release history, read from its tags: the machinery shared by every table
//! the project derives from the package's history (the bundled-Mattermost version table in
//! `upgrade/`, the per-release key tables in `config/`).
//!
//! No I/O lives here. The pieces:
//! - [`tags`]: which tag names are GitLab CE releases (`X.Y.Z+ce.N`; release candidates,
//!   Enterprise, 2015-era `.omnibus` and auto-deploy tags are not), their version order, their
//!   release lines, and the one tag per version (last rebuild) or per line (first release).
//! - [`source`]: the [`OmnibusSource`] trait, the one I/O boundary: tag names and the text of a
//!   path at a tag. `examples/support/omnibus_git.rs` implements it over a clone with one
//!   `git cat-file --batch` process; [`MemorySource`] implements it for tests.
//! - [`software`]: `default_version` out of a `config/software/*.rb` definition, in every
//!   form omnibus has used.
//!
//! A generator built on it (e.g. `examples/gen_history.rs`):
//! ```no_run
//! # use mm_harness::history::*;
//! # fn demo(src: &mut dyn OmnibusSource) -> Result<(), HistoryError> {
//! let names = src.tag_names()?;
//! let tags = release_tags(names.iter().map(String::as_str));       // every CE release, in order
//! for (line, line_tags) in by_line(&tags) {                        // 8.9, 8.10, ... 19.3
//!     let first = &line_tags[0];                                   // X.Y.0+ce.0
//!     let text = src.read_at(&first.name(), "config/software/mattermost.rb")?;
//!     if let Some(text) = text {
//!         let v = default_version(&text, &format!("{first}:config/software/mattermost.rb"))?;
//!         println!("{line}: Mattermost {}", v.version);
//!     }
//! }
//! # Ok(()) }
//! ```
//! The clone is the lead's mirror (`/work/.mirror/gitlabhq+omnibus-gitlab/repo`), or the path in
//! `MM_HARNESS_OMNIBUS_REPO`, or `--repo PATH`; it is never committed and CI does not have it,
//! so a test that regenerates from it skips (and says why) when it is absent.

pub mod software;
pub mod source;
pub mod tags;

pub use software::{DefaultVersion, LiteralForm, default_version};
pub use source::{HistoryError, HistoryErrorKind, MemorySource, OmnibusSource};
pub use tags::{
    ReleaseLine, ReleaseTag, by_line, latest_builds, line_firsts, parse_release_tag, release_tags,
};
