//! A host's gitlab.rb text (placeholders filled) → a [`ResolvedHost`]: its name, the filled text
//! (what a container target passes as `GITLAB_OMNIBUS_CONFIG`) and the typed `HostSettings` the
//! twin applies, via the configuration model (`config::resolve`) for the scenario's GitLab
//! version. Errors in the text are reported with their position inside the scenario file.

use std::fmt;

use crate::config::{HostSettings, Secret, Version};
use crate::diag::{Diagnostic, Severity, SourceFile};
use crate::scenario::{Bindings, HostPlan, Scenario};

/// One omnibus host of a scenario, resolved with the bindings known at that moment.
#[derive(Clone)]
pub struct ResolvedHost {
    /// The scenario's table name (`omnibus`, `gitlab`, `mattermost`...).
    pub name: String,
    /// The gitlab.rb text with every placeholder filled (unbound ones blank). It holds secrets
    /// (OAuth secrets, SMTP passwords), hence a [`Secret`]: `expose()` it only to hand it to the
    /// installation (e.g. `GITLAB_OMNIBUS_CONFIG`), never to print it.
    pub gitlab_rb: Secret,
    /// What the configuration model computed from that text for the scenario's GitLab version.
    pub settings: HostSettings,
}

impl fmt::Debug for ResolvedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedHost")
            .field("name", &self.name)
            .field("gitlab_rb", &self.gitlab_rb)
            .field("settings", &self.settings)
            .finish()
    }
}

impl ResolvedHost {
    /// The secret values this host's settings hold (the OAuth application secret, the SMTP
    /// password), for redaction.
    pub fn secrets(&self) -> Vec<String> {
        [
            &self.settings.mattermost.gitlab.secret,
            &self.settings.mattermost.email.smtp_password,
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.expose().to_string())
        .collect()
    }
}

/// Resolve one host of a scenario with the bindings known now. `Ok` carries the host and the
/// warnings met (such as dropped keys: part of what the scenario tests, they do not stop it);
/// `Err` holds the error diagnostics.
pub fn resolve_host(
    scenario: &Scenario,
    host: &HostPlan,
    bindings: &Bindings,
    version: Version,
) -> Result<(ResolvedHost, Vec<Diagnostic>), Vec<Diagnostic>> {
    let text = host.gitlab_rb.fill(bindings);
    let name = format!(
        "{} [hosts.{}.gitlab_rb]",
        scenario.path.display(),
        host.name
    );
    let file = SourceFile::new(name, text.clone());
    let resolved = crate::config::resolve(&file, version);
    if resolved.has_errors() {
        return Err(resolved
            .diagnostics
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect());
    }
    let host = ResolvedHost {
        name: host.name.clone(),
        gitlab_rb: Secret::new(text),
        settings: resolved.host,
    };
    Ok((host, resolved.diagnostics))
}

/// The warnings (and worse) of resolving host `host`, one line each as reports show them:
/// `HOST:LINE: message` (the line inside the host's gitlab.rb). Every resolution of a host — at
/// the start and at each `host.reconfigure` — words the same warning the same way, so a report
/// can list each once.
pub fn warning_lines(host: &str, diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics
        .iter()
        .filter(|d| d.severity >= Severity::Warning)
        .map(|d| match &d.location {
            Some(l) => format!("{host}:{}: {}", l.line, d.message),
            None => format!("{host}: {}", d.message),
        })
        .collect()
}

/// The URL a host serves: Mattermost's when it runs Mattermost, else GitLab's.
pub fn host_url(settings: &HostSettings) -> Option<String> {
    if settings.mattermost_enabled {
        settings.mattermost_external_url.clone()
    } else if settings.gitlab_rails_enabled {
        settings.external_url.clone()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::StackNeeds;

    const SCENARIO: &str = r#"
name = "resolved"
summary = "x"
seed = "GitLab Mattermost"
[hosts.omnibus]
gitlab_rb = '''
external_url 'http://gitlab.example.com'
mattermost_external_url 'http://mattermost.example.com'
mattermost['gitlab_enable'] = true
mattermost['gitlab_id'] = "{{ app.id }}"
mattermost['gitlab_secret'] = "{{ app.secret }}"
'''
[[steps]]
gitlab.create_oauth_app = { name = "GitLab Mattermost", as = "app" }
[[steps]]
sso.sign_up = { user = "alice" }
[[steps]]
sso.log_in = { user = "alice" }
"#;

    fn scenario() -> Scenario {
        let file = SourceFile::new("resolved.toml", SCENARIO);
        crate::scenario::parse_scenario(&file, std::path::Path::new("resolved.toml"))
            .unwrap_or_else(|e| panic!("{}", e.render()))
    }

    #[test]
    fn a_resolved_host_keeps_its_filled_text_and_hides_it_from_printers() {
        let s = scenario();
        let mut bindings = Bindings::default();
        bindings.set("app", "id", Secret::new("client-id-1"));
        bindings.set("app", "secret", Secret::new("the-oauth-secret"));
        let (host, _) = resolve_host(&s, &s.hosts[0], &bindings, s.gitlab_version)
            .unwrap_or_else(|d| panic!("{d:?}"));
        assert_eq!(host.name, "omnibus");
        let text = host.gitlab_rb.expose();
        assert!(text.contains(r#"mattermost['gitlab_secret'] = "the-oauth-secret""#));
        assert!(text.contains("external_url 'http://gitlab.example.com'"));
        assert_eq!(host.settings.mattermost.gitlab.id, "client-id-1");
        let printed = format!("{host:?}");
        assert!(!printed.contains("the-oauth-secret"), "{printed}");

        // Before the application exists the placeholders are blank.
        let (early, _) = resolve_host(&s, &s.hosts[0], &Bindings::default(), s.gitlab_version)
            .unwrap_or_else(|d| panic!("{d:?}"));
        assert!(
            early
                .gitlab_rb
                .expose()
                .contains(r#"mattermost['gitlab_secret'] = """#)
        );
    }

    #[test]
    fn stack_needs_name_each_sso_user_once() {
        let needs = StackNeeds::of(&scenario());
        assert_eq!(needs.sso_users, vec!["alice".to_string()]);
        assert!(needs.faults.is_empty());
    }
}
