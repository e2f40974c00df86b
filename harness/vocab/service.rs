//! The two products of a GitLab Mattermost installation ([`Service`]) and the kinds of stack a
//! scenario runs on ([`TargetKind`]).

use super::names::named_enum;

named_enum! {
    /// Which of the two products a step, a check or a finding addresses.
    pub enum Service {
        Gitlab => "gitlab",
        Mattermost => "mattermost",
    }
}

named_enum! {
    /// Where a scenario can run.
    pub enum TargetKind {
        /// The embedded reference stack on loopback.
        Twin => "twin",
        /// Real images through a container engine.
        Docker => "docker",
        /// An existing installation, by URL.
        Live => "live",
    }
}
