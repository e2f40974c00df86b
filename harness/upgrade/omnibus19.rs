//! GitLab 19's removal of bundled Mattermost: exactly what each 18.11 and 19.x package does, by
//! patch level, as read in omnibus-gitlab's tags (every rule cites `tag:file:line`).
//!
//! Owns: the gate an upgrade from an 18.11.x installation to a 19.x package meets, which depends
//! on BOTH patch levels because two different packages' code runs:
//!
//! 1. **preinst of the target package** (`config/templates/package-scripts/preinst.erb`):
//!    `upgrade_check()` refuses an installed line older than `MIN_VERSION` (19.0-19.2: 18.11,
//!    19.3: 19.2; see `versions::required_stop`), then `config_check()` runs
//!    `gitlab-ctl check-config --version=<target X.Y>` **of the installed 18.11.x package**
//!    (19.0.0+ce.0:config/templates/package-scripts/preinst.erb:44; the new files are not
//!    unpacked yet) against the node attributes of the last reconfigure
//!    (`/opt/gitlab/embedded/nodes/*.json`, key `normal`; 18.11.7+ce.0:files/gitlab-ctl-commands/
//!    check_config.rb:53), not against the current gitlab.rb. `/etc/gitlab/skip-fail-config-check`
//!    makes it print without failing (preinst.erb:12,39). What it checks depends on the 18.11 patch:
//!    - 18.11.0-18.11.6: no Mattermost rule: nothing printed, nothing blocked.
//!    - 18.11.7: the list entry `config_keys: %w(mattermost)` removed in 19.0
//!      (18.11.7+ce.0:files/gitlab-cookbooks/package/libraries/deprecations.rb:51) fires for any
//!      non-empty `mattermost` hash. 18.x's `GitlabMattermost.parse_secrets` always generates
//!      `email_invite_salt`, `file_public_link_salt`, `sql_at_rest_encrypt_key`, `gitlab_id`,
//!      `gitlab_secret` (gitlab_mattermost.rb:31), so it blocks every installation, Mattermost in
//!      use or not.
//!    - 18.11.8 on: `remove_mattermost` fires only when `mattermost['enable'] == true`
//!      (18.11.8+ce.0:…/deprecations.rb:170; 18.11.9 reads it with `dig`, :170), which 18.x sets
//!      for `mattermost_external_url` (gitlab_mattermost.rb:42) or an explicit `true`.
//! 2. **the 19.x reconfigure** (`gitlab-ctl upgrade` in postinst, or by hand):
//!    - `generate_secrets` reads gitlab-secrets.json (19.0.0+ce.0:…/settings_dsl.rb:176) and writes
//!      it back (:198) from `gather_gitlab_secrets`, which in 19.x has no `mattermost` section: the
//!      18.x section (secrets_helper.rb:120-150 at 18.11.11: salts, at-rest key,
//!      `register_as_oauth_app`, and with `gitlab_enable` the OAuth `gitlab_id`/`gitlab_secret`)
//!      is dropped. This runs in `package::config`, before the deprecation check: an aborted
//!      reconfigure has dropped them too.
//!    - `OmnibusHelper.check_deprecations` (gitlab/recipes/default.rb:29) raises "Removed
//!      configurations found in gitlab.rb. Aborting reconfigure." (omnibus_helper.rb:234):
//!      19.0.0-19.2.x use the list entry `%w(mattermost)` (19.0.0+ce.0:…/deprecations.rb:51): the
//!      first reconfigure after the upgrade sees the secrets it just read and aborts for every
//!      installation coming from 18.x; later runs abort while gitlab.rb sets any `mattermost[...]`
//!      key. 19.3.0 checks only `mattermost['enable'] == true` in gitlab.rb
//!      (19.3.0+ce.0:…/deprecations.rb:172); `mattermost_external_url` is a deprecation warning
//!      until 20.0 (:51).
//!    - `mattermost::disable` always runs (19.0.0+ce.0:…/gitlab/recipes/default.rb:183): the runit
//!      service is stopped and removed (mattermost/recipes/disable.rb:25), the nginx vhost deleted;
//!      no 19.x recipe touches /var/opt/gitlab/mattermost or the `mattermost_production` database.
//!
//! No I/O: the caller describes the installation ([`Installation`], from its gitlab.rb).

use serde::Serialize;

use crate::config::Version;

/// A rule of the omnibus code, with where it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable id, e.g. `omnibus.preinst.list-entry-18.11.7`.
    pub id: &'static str,
    /// `tag:path:line` of the code.
    pub source: &'static str,
}

/// What the installation's gitlab.rb says about bundled Mattermost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Installation {
    /// `mattermost_external_url` is set.
    pub external_url: bool,
    /// `mattermost['enable']` as written, if it is.
    pub enable: Option<bool>,
    /// Every `mattermost[...]` key the file sets (names only).
    pub mattermost_keys: Vec<String>,
    /// `package['generate_default_secrets'] = false`: 18.x then generated no Mattermost secrets.
    pub default_secrets_disabled: bool,
}

impl Installation {
    /// Whether 18.x runs bundled Mattermost: `enable` true, or unset with an external URL.
    pub fn uses_bundled(&self) -> bool {
        self.enable.unwrap_or(self.external_url)
    }
    /// Whether 18.x's node attributes carry a non-empty `mattermost` hash.
    fn node_hash_non_empty(&self) -> bool {
        !self.default_secrets_disabled || !self.mattermost_keys.is_empty() || self.external_url
    }
}

/// Where in the upgrade a rule acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Before the 18.11 installation is upgraded (its own reconfigures).
    Before,
    /// The target package's preinst (package manager aborts, nothing is installed).
    Preinst,
    /// The 19.x reconfigure after the package is installed.
    Reconfigure,
}

/// One rule that applies to this upgrade, and what it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateFinding {
    pub stage: Stage,
    /// True when this rule stops the upgrade (preinst exit 1, or a reconfigure that aborts).
    pub blocks: bool,
    pub rule: Rule,
    /// What happens, in one or two sentences.
    pub what: String,
    /// What omnibus prints, when it prints something.
    pub prints: Option<String>,
}

/// The note every 19.x Mattermost removal message ends with (deprecations.rb, all 19.x tags).
pub const REMOVAL_NOTE: &str = "Bundled Mattermost has been removed from the Linux package in 19.0; `mattermost[...]` keys are no longer supported. Deploy Mattermost separately and point GitLab at it with `gitlab_rails['mattermost_host']`. See https://docs.gitlab.com/integration/mattermost/#running-gitlab-mattermost-on-its-own-server for setup instructions.";

/// The secrets of gitlab-secrets.json's `mattermost` section that a 19.x reconfigure drops
/// (18.11.11+ce.0:files/gitlab-cookbooks/package/libraries/helpers/secrets_helper.rb:120-150).
pub const DROPPED_SECRETS: [&str; 7] = [
    "email_invite_salt",
    "file_public_link_salt",
    "sql_at_rest_encrypt_key",
    "register_as_oauth_app",
    "gitlab_enable",
    "gitlab_id",
    "gitlab_secret",
];

fn removal_message() -> String {
    format!(
        "* mattermost has been deprecated since 19.0 and was removed in 19.0. {REMOVAL_NOTE}\nDeprecations found. Please correct them and try again."
    )
}

/// Which check-config rule an installed 18.11 patch carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceCheck {
    /// 18.11.0-18.11.6: none.
    None,
    /// 18.11.7: any non-empty `mattermost` hash.
    AnyKey,
    /// 18.11.8 on: `mattermost['enable'] == true`.
    EnableTrue,
}

/// The check-config rule of an installed GitLab 18.11 patch (and of later 18.11 patches).
pub fn source_check(from: Version) -> SourceCheck {
    if from.major != 18 || from.minor != 11 || from.patch < 7 {
        SourceCheck::None
    } else if from.patch == 7 {
        SourceCheck::AnyKey
    } else {
        SourceCheck::EnableTrue
    }
}

/// Which reconfigure rule a 19.x package carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetCheck {
    /// 19.0.0-19.2.x: the list entry, any non-empty `mattermost` hash.
    AnyKey,
    /// 19.3.0 on: `mattermost['enable'] == true` in gitlab.rb.
    EnableTrue,
}

pub fn target_check(to: Version) -> TargetCheck {
    if (to.major, to.minor) >= (19, 3) {
        TargetCheck::EnableTrue
    } else {
        TargetCheck::AnyKey
    }
}

/// The rules that apply to an upgrade from `from` to `to` (a 19.x target) for this installation.
/// `from` is the installed version at the hop that enters 19.x (18.11.x: the only line 19.0-19.2
/// accept; 19.3 needs 19.2 first).
pub fn evaluate(from: Version, to: Version, inst: &Installation) -> Vec<GateFinding> {
    let mut out = Vec::new();
    if to.major < 19 {
        // The 18.11.8 reconfigure defect matters on the way to the last 18.11 too.
        if to == Version::new(18, 11, 8) && inst.enable.is_none() && !inst.external_url {
            out.push(accidental_enable());
        }
        return out;
    }
    if from.major == 18
        && from.minor == 11
        && from.patch == 8
        && inst.enable.is_none()
        && !inst.external_url
    {
        out.push(accidental_enable());
    }
    if from.major == 18 {
        match source_check(from) {
            SourceCheck::None => out.push(GateFinding {
                stage: Stage::Preinst,
                blocks: false,
                rule: Rule {
                    id: "omnibus.preinst.no-mattermost-rule",
                    source: "18.11.6+ce.0:files/gitlab-cookbooks/package/libraries/deprecations.rb:10",
                },
                what: format!(
                    "GitLab {from}'s check-config has no Mattermost rule: the {to} package installs whatever gitlab.rb says, and the 19.x reconfigure is the first to object"
                ),
                prints: None,
            }),
            SourceCheck::AnyKey => {
                let blocks = inst.node_hash_non_empty();
                out.push(GateFinding {
                    stage: Stage::Preinst,
                    blocks,
                    rule: Rule {
                        id: "omnibus.preinst.any-mattermost-key-18.11.7",
                        source: "18.11.7+ce.0:files/gitlab-cookbooks/package/libraries/deprecations.rb:51",
                    },
                    what: if blocks {
                        "GitLab 18.11.7's check-config flags any non-empty `mattermost` node attribute, and 18.x always generates Mattermost secrets into it (gitlab_mattermost.rb:31): the preinst exits 1 whether or not Mattermost is used. Upgrade to 18.11.8 or later first (or touch /etc/gitlab/skip-fail-config-check, which only prints)".to_string()
                    } else {
                        "GitLab 18.11.7's check-config flags any non-empty `mattermost` node attribute; with default secrets disabled and no mattermost keys there is none".to_string()
                    },
                    prints: blocks.then(removal_message),
                });
            }
            SourceCheck::EnableTrue => {
                let blocks = inst.uses_bundled();
                out.push(GateFinding {
                    stage: Stage::Preinst,
                    blocks,
                    rule: Rule {
                        id: "omnibus.preinst.enable-true-18.11.8",
                        source: "18.11.8+ce.0:files/gitlab-cookbooks/package/libraries/deprecations.rb:170",
                    },
                    what: if blocks {
                        format!(
                            "GitLab {from}'s check-config finds `mattermost['enable'] == true` in the last reconfigure's node attributes ({}): the preinst exits 1 and the package is not installed",
                            if inst.enable == Some(true) { "set in gitlab.rb" } else { "derived from mattermost_external_url, gitlab_mattermost.rb:42" }
                        )
                    } else {
                        format!("GitLab {from}'s check-config only blocks when bundled Mattermost is enabled; it is not")
                    },
                    prints: blocks.then(removal_message),
                });
            }
        }
    }
    out.push(GateFinding {
        stage: Stage::Reconfigure,
        blocks: false,
        rule: Rule {
            id: "omnibus.reconfigure.secrets-dropped",
            source: "19.0.0+ce.0:files/gitlab-cookbooks/package/libraries/settings_dsl.rb:198",
        },
        what: "The 19.x reconfigure rewrites /etc/gitlab/gitlab-secrets.json without its `mattermost` section (email_invite_salt, file_public_link_salt, sql_at_rest_encrypt_key, register_as_oauth_app, gitlab_enable, gitlab_id, gitlab_secret), before its deprecation check: copy them while still on 18.11".to_string(),
        prints: None,
    });
    match target_check(to) {
        TargetCheck::AnyKey => {
            let first_run = from.major == 18 && inst.node_hash_non_empty();
            let later = !inst.mattermost_keys.is_empty();
            out.push(GateFinding {
                stage: Stage::Reconfigure,
                // The first-run abort clears itself (the secrets are already gone); keys in
                // gitlab.rb abort every run.
                blocks: later,
                rule: Rule {
                    id: "omnibus.reconfigure.any-mattermost-key-19.0",
                    source: "19.0.0+ce.0:files/gitlab-cookbooks/package/libraries/deprecations.rb:51",
                },
                what: match (first_run, later) {
                    (_, true) => format!(
                        "GitLab {to}'s reconfigure aborts while gitlab.rb sets any mattermost[...] key ({}): remove them all (keep the values for the standalone server)",
                        inst.mattermost_keys.join(", ")
                    ),
                    (true, false) => format!(
                        "GitLab {to}'s first reconfigure after the upgrade aborts: the Mattermost secrets it just read from the 18.x gitlab-secrets.json fill the `mattermost` attribute it rejects; it has already rewritten the file without them, so a second `gitlab-ctl reconfigure` passes"
                    ),
                    (false, false) => format!("GitLab {to}'s reconfigure finds no mattermost[...] key"),
                },
                prints: (first_run || later).then(|| {
                    format!(
                        "* mattermost has been deprecated since 19.0 and was removed in 19.0. {REMOVAL_NOTE}\nRemoved configurations found in gitlab.rb. Aborting reconfigure."
                    )
                }),
            });
        }
        TargetCheck::EnableTrue => {
            let blocks = inst.enable == Some(true);
            out.push(GateFinding {
                stage: Stage::Reconfigure,
                blocks,
                rule: Rule {
                    id: "omnibus.reconfigure.enable-true-19.3",
                    source: "19.3.0+ce.0:files/gitlab-cookbooks/package/libraries/deprecations.rb:172",
                },
                what: if blocks {
                    format!("GitLab {to}'s reconfigure aborts on `mattermost['enable'] = true` in gitlab.rb")
                } else {
                    format!("GitLab {to}'s reconfigure only rejects `mattermost['enable'] = true`; other mattermost[...] keys are ignored")
                },
                prints: blocks.then(|| {
                    format!(
                        "* mattermost has been deprecated since 19.0 and was removed in 19.0. {REMOVAL_NOTE}\nRemoved configurations found in gitlab.rb. Aborting reconfigure."
                    )
                }),
            });
        }
    }
    if inst.external_url {
        out.push(GateFinding {
            stage: Stage::Reconfigure,
            blocks: false,
            rule: Rule {
                id: "omnibus.reconfigure.external-url-deprecated",
                source: "19.0.0+ce.0:files/gitlab-cookbooks/package/libraries/deprecations.rb:57",
            },
            what: "`mattermost_external_url` is a deprecation warning until 20.0; GitLab 19 still uses it as the Mattermost host when gitlab_rails['mattermost_host'] is unset (19.0.0+ce.0:files/gitlab-cookbooks/gitlab/recipes/gitlab-rails.rb:436), where 18.11 let it win over mattermost_host".to_string(),
            prints: Some("* mattermost_external_url has been deprecated since 19.0 and will be removed in 20.0. `mattermost_external_url` is deprecated. Use `gitlab_rails['mattermost_host']` instead.".to_string()),
        });
    }
    if inst.uses_bundled() {
        out.push(GateFinding {
            stage: Stage::Reconfigure,
            blocks: false,
            rule: Rule {
                id: "omnibus.reconfigure.service-removed",
                source: "19.0.0+ce.0:files/gitlab-cookbooks/gitlab/recipes/default.rb:183",
            },
            what: "Every 19.x reconfigure runs mattermost::disable: the bundled Mattermost service is stopped and removed and its nginx vhost deleted; the package ships no Mattermost binary. /var/opt/gitlab/mattermost and the mattermost_production database are left in place".to_string(),
            prints: None,
        });
    }
    out
}

fn accidental_enable() -> GateFinding {
    GateFinding {
        stage: Stage::Before,
        blocks: false,
        rule: Rule {
            id: "omnibus.18.11.8.accidental-enable",
            source: "18.11.8+ce.0:files/gitlab-cookbooks/package/libraries/deprecations.rb:170",
        },
        what: "GitLab 18.11.8's reconfigure reads `config['enable']` on the live node attributes and so creates `mattermost['enable'] = {}`, which is truthy: bundled Mattermost gets enabled on installations that never configured it (fixed in 18.11.9, omnibus commit eb4afadb4 \"Do not enable Mattermost by accident\"). Go to 18.11.9 or later".to_string(),
        prints: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled() -> Installation {
        Installation {
            external_url: true,
            enable: None,
            mattermost_keys: vec!["gitlab_enable".into()],
            default_secrets_disabled: false,
        }
    }
    fn unused() -> Installation {
        Installation::default()
    }
    fn blocking(f: &[GateFinding]) -> Vec<&'static str> {
        f.iter().filter(|g| g.blocks).map(|g| g.rule.id).collect()
    }
    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn the_preinst_gate_depends_on_the_installed_18_11_patch() {
        // 18.11.6: nothing at preinst; 19.0's reconfigure objects.
        let f = evaluate(v("18.11.6"), v("19.0.0"), &bundled());
        assert_eq!(
            blocking(&f),
            ["omnibus.reconfigure.any-mattermost-key-19.0"]
        );
        // 18.11.7 blocks even an installation that never used Mattermost.
        let f = evaluate(v("18.11.7"), v("19.0.0"), &unused());
        assert!(blocking(&f).contains(&"omnibus.preinst.any-mattermost-key-18.11.7"));
        // 18.11.9 blocks only bundled use.
        let f = evaluate(v("18.11.9"), v("19.1.0"), &unused());
        assert!(!blocking(&f).contains(&"omnibus.preinst.enable-true-18.11.8"));
        let f = evaluate(v("18.11.9"), v("19.1.0"), &bundled());
        assert!(blocking(&f).contains(&"omnibus.preinst.enable-true-18.11.8"));
    }

    #[test]
    fn the_reconfigure_gate_depends_on_the_19_patch() {
        // 19.0-19.2: the first reconfigure after an 18.x upgrade aborts even without Mattermost,
        // once (it prints; a second run passes).
        let f = evaluate(v("18.11.11"), v("19.2.4"), &unused());
        assert!(blocking(&f).is_empty());
        let once = f
            .iter()
            .find(|g| g.rule.id == "omnibus.reconfigure.any-mattermost-key-19.0")
            .unwrap();
        assert!(
            once.prints
                .as_deref()
                .unwrap()
                .contains("Aborting reconfigure.")
        );
        // 19.3 only rejects enable = true.
        let mut i = bundled();
        let f = evaluate(v("19.2.4"), v("19.3.0"), &i);
        assert!(blocking(&f).is_empty(), "{f:?}");
        i.enable = Some(true);
        let f = evaluate(v("19.2.4"), v("19.3.0"), &i);
        assert_eq!(blocking(&f), ["omnibus.reconfigure.enable-true-19.3"]);
    }

    #[test]
    fn secrets_are_dropped_by_every_19_reconfigure_and_18_11_8_enables_by_accident() {
        for to in ["19.0.0", "19.1.6", "19.3.0"] {
            let f = evaluate(v("18.11.11"), v(to), &unused());
            assert!(
                f.iter()
                    .any(|g| g.rule.id == "omnibus.reconfigure.secrets-dropped")
            );
        }
        let f = evaluate(v("18.11.8"), v("19.0.0"), &unused());
        assert!(
            f.iter()
                .any(|g| g.rule.id == "omnibus.18.11.8.accidental-enable")
        );
        let f = evaluate(v("18.11.9"), v("19.0.0"), &unused());
        assert!(
            !f.iter()
                .any(|g| g.rule.id == "omnibus.18.11.8.accidental-enable")
        );
    }
}
