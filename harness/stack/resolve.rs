//! A host's gitlab.rb text (placeholders filled) → the typed `HostSettings` the stack applies, via
//! the configuration model (`config::resolve`) for the scenario's GitLab version. Errors in the
//! text are reported with their position inside the scenario file.

use crate::config::{HostSettings, Version};
use crate::diag::{Diagnostic, Severity, SourceFile};
use crate::scenario::{Bindings, HostPlan, Scenario};

/// Resolve one host of a scenario with the bindings known now. `Err` holds the error diagnostics
/// (warnings such as dropped keys are part of what the scenario tests and do not stop it).
pub fn resolve_host(
    scenario: &Scenario,
    host: &HostPlan,
    bindings: &Bindings,
    version: Version,
) -> Result<(HostSettings, Vec<Diagnostic>), Vec<Diagnostic>> {
    let text = host.gitlab_rb.fill(bindings);
    let name = format!(
        "{} [hosts.{}.gitlab_rb]",
        scenario.path.display(),
        host.name
    );
    let file = SourceFile::new(name, text);
    let resolved = crate::config::resolve(&file, version);
    if resolved.has_errors() {
        return Err(resolved
            .diagnostics
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect());
    }
    Ok((resolved.host, resolved.diagnostics))
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
