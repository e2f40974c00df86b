//! The doctor's catalogue: every finding it can report, as one enum ([`FindingKind`]). A finding's
//! stable id, family, severity, title, fix and documentation source live in ONE exhaustive match
//! ([`FindingKind::meta`]): adding a finding is one variant plus one arm, and the compiler points
//! at the arm. `docs/findings.md` is generated from [`FindingKind::ALL`] (a test fails when it is
//! stale).
//!
//! Owns: [`FindingKind`], [`Finding`] (a kind plus the redacted, bounded evidence of one
//! occurrence), [`Severity`] and [`Family`].

use serde::Serialize;

/// How bad a finding is. Ordered: `Ok < Info < Warn < Fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The check passed.
    Ok,
    /// Worth knowing; nothing to fix.
    Info,
    /// Works now, will bite later (or works only partly).
    Warn,
    /// Broken: users see an error.
    Fail,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Fail => "fail",
        }
    }
}

/// The sections of the report (flutter doctor's groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// gitlab.rb and config.json, offline.
    Config,
    /// Names, ports, pings, versions answered.
    Reach,
    /// Certificates served over HTTPS.
    Tls,
    /// The reverse proxy in front of Mattermost (redirects, websocket, forwarded headers).
    Proxy,
    /// GitLab SSO wiring.
    Sso,
    /// Mattermost's SMTP server.
    Smtp,
    /// Incoming webhooks and GitLab's integration.
    Webhooks,
    /// GitLab ↔ Mattermost versions and support windows.
    Versions,
    /// A Support Packet's logs (`--support-packet`): lines no other family explains.
    Logs,
    /// The doctor itself (a check that ran out of time).
    Doctor,
}

impl Family {
    pub const ALL: [Family; 10] = [
        Family::Config,
        Family::Reach,
        Family::Tls,
        Family::Proxy,
        Family::Sso,
        Family::Smtp,
        Family::Webhooks,
        Family::Versions,
        Family::Logs,
        Family::Doctor,
    ];

    /// The section heading in human output.
    pub fn heading(self) -> &'static str {
        match self {
            Family::Config => "Configuration (gitlab.rb, config.json)",
            Family::Reach => "Reachability",
            Family::Tls => "TLS certificates",
            Family::Proxy => "Reverse proxy",
            Family::Sso => "GitLab SSO",
            Family::Smtp => "SMTP",
            Family::Webhooks => "Webhooks",
            Family::Versions => "Versions",
            Family::Logs => "Support Packet logs",
            Family::Doctor => "Doctor",
        }
    }
}

/// Everything fixed about one kind of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Meta {
    /// Stable, kebab-case, `family.what` (`sso.user-api-v3-removed`).
    pub id: &'static str,
    pub family: Family,
    pub severity: Severity,
    pub title: &'static str,
    /// What to do (empty for `ok` findings).
    pub fix: &'static str,
    /// Where the rule comes from: a seed section, a troubleshooting row, product source.
    pub source: &'static str,
}

/// Every finding the doctor can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    // --- configuration, offline
    ConfigReadsCleanly,
    ConfigSyntaxError,
    ConfigUnknownKey,
    ConfigDroppedKey,
    ConfigUnevaluated,
    ConfigSmtpUserName,
    ConfigUserApiV3,
    ConfigMattermostRemoved,
    ConfigValueProblem,
    ConfigSiteUrlMissing,
    ConfigEndpointsOtherGitlab,
    ConfigSmtpPortSecurity,
    ConfigSmtpAuthPlaintext,
    ConfigDriftLost,
    ConfigDriftOverridden,
    ConfigJsonMatches,
    // --- reachability
    ReachDnsOk,
    ReachDnsFailed,
    ReachMattermostOk,
    ReachMattermostDown,
    ReachNotMattermost,
    ReachGitlabOk,
    ReachGitlabDown,
    ReachGitlabSlow,
    // --- TLS
    TlsOk,
    TlsExpired,
    TlsExpiresSoon,
    TlsWrongHost,
    TlsUntrusted,
    TlsChainIncomplete,
    TlsHandshakeFailed,
    // --- proxy
    ProxyHttpRedirectOk,
    ProxyHttpNotRedirected,
    ProxyWebsocketOk,
    ProxyWebsocketDropped,
    ProxyWebsocketNotServed,
    ProxyForwardedProtoMissing,
    // --- SSO
    SsoWiredOk,
    SsoDisabled,
    SsoSiteUrlEmpty,
    SsoSiteUrlMismatch,
    SsoEndpointsOtherGitlab,
    SsoUserApiV3Removed,
    SsoTokenEndpointOk,
    SsoTokenEndpointHtml,
    SsoTokenEndpointUnreachable,
    SsoClientSecretWrong,
    SsoApplicationOk,
    SsoApplicationMissing,
    SsoCallbackMissing,
    SsoLoginRedirectOk,
    SsoLoginRedirectMismatch,
    SsoButtonHidden,
    SsoLicenseRequired,
    // --- SMTP
    SmtpOk,
    SmtpNotConfigured,
    SmtpUnreachable,
    SmtpImplicitTlsOnPlainPort,
    SmtpPlainOnImplicitPort,
    SmtpStartTlsNotOffered,
    SmtpCertificateUntrusted,
    SmtpAuthBeforeTls,
    SmtpAuthRejected,
    SmtpSenderRejected,
    // --- webhooks
    WebhooksIncomingOk,
    WebhooksIncomingDisabled,
    WebhooksLocalNetwork,
    WebhooksPrivateAddress,
    WebhooksEnvForced,
    WebhooksProbeOk,
    WebhooksProbeFailed,
    // --- versions
    VersionsOk,
    VersionsPairingUnexpected,
    VersionsGitlab19,
    VersionsOutOfSupport,
    VersionsDatabaseUpgradeFailed,
    // --- a Support Packet's logs
    LogsClean,
    // --- the doctor
    DoctorCheckTimedOut,
}

impl FindingKind {
    /// Every kind, in catalogue order.
    pub const ALL: [FindingKind; 78] = [
        FindingKind::ConfigReadsCleanly,
        FindingKind::ConfigSyntaxError,
        FindingKind::ConfigUnknownKey,
        FindingKind::ConfigDroppedKey,
        FindingKind::ConfigUnevaluated,
        FindingKind::ConfigSmtpUserName,
        FindingKind::ConfigUserApiV3,
        FindingKind::ConfigMattermostRemoved,
        FindingKind::ConfigValueProblem,
        FindingKind::ConfigSiteUrlMissing,
        FindingKind::ConfigEndpointsOtherGitlab,
        FindingKind::ConfigSmtpPortSecurity,
        FindingKind::ConfigSmtpAuthPlaintext,
        FindingKind::ConfigDriftLost,
        FindingKind::ConfigDriftOverridden,
        FindingKind::ConfigJsonMatches,
        FindingKind::ReachDnsOk,
        FindingKind::ReachDnsFailed,
        FindingKind::ReachMattermostOk,
        FindingKind::ReachMattermostDown,
        FindingKind::ReachNotMattermost,
        FindingKind::ReachGitlabOk,
        FindingKind::ReachGitlabDown,
        FindingKind::ReachGitlabSlow,
        FindingKind::TlsOk,
        FindingKind::TlsExpired,
        FindingKind::TlsExpiresSoon,
        FindingKind::TlsWrongHost,
        FindingKind::TlsUntrusted,
        FindingKind::TlsChainIncomplete,
        FindingKind::TlsHandshakeFailed,
        FindingKind::ProxyHttpRedirectOk,
        FindingKind::ProxyHttpNotRedirected,
        FindingKind::ProxyWebsocketOk,
        FindingKind::ProxyWebsocketDropped,
        FindingKind::ProxyWebsocketNotServed,
        FindingKind::ProxyForwardedProtoMissing,
        FindingKind::SsoWiredOk,
        FindingKind::SsoDisabled,
        FindingKind::SsoSiteUrlEmpty,
        FindingKind::SsoSiteUrlMismatch,
        FindingKind::SsoEndpointsOtherGitlab,
        FindingKind::SsoUserApiV3Removed,
        FindingKind::SsoTokenEndpointOk,
        FindingKind::SsoTokenEndpointHtml,
        FindingKind::SsoTokenEndpointUnreachable,
        FindingKind::SsoClientSecretWrong,
        FindingKind::SsoApplicationOk,
        FindingKind::SsoApplicationMissing,
        FindingKind::SsoCallbackMissing,
        FindingKind::SsoLoginRedirectOk,
        FindingKind::SsoLoginRedirectMismatch,
        FindingKind::SsoButtonHidden,
        FindingKind::SsoLicenseRequired,
        FindingKind::SmtpOk,
        FindingKind::SmtpNotConfigured,
        FindingKind::SmtpUnreachable,
        FindingKind::SmtpImplicitTlsOnPlainPort,
        FindingKind::SmtpPlainOnImplicitPort,
        FindingKind::SmtpStartTlsNotOffered,
        FindingKind::SmtpCertificateUntrusted,
        FindingKind::SmtpAuthBeforeTls,
        FindingKind::SmtpAuthRejected,
        FindingKind::SmtpSenderRejected,
        FindingKind::WebhooksIncomingOk,
        FindingKind::WebhooksIncomingDisabled,
        FindingKind::WebhooksLocalNetwork,
        FindingKind::WebhooksPrivateAddress,
        FindingKind::WebhooksEnvForced,
        FindingKind::WebhooksProbeOk,
        FindingKind::WebhooksProbeFailed,
        FindingKind::VersionsOk,
        FindingKind::VersionsPairingUnexpected,
        FindingKind::VersionsGitlab19,
        FindingKind::VersionsOutOfSupport,
        FindingKind::VersionsDatabaseUpgradeFailed,
        FindingKind::LogsClean,
        FindingKind::DoctorCheckTimedOut,
    ];

    /// The stable id.
    pub fn id(self) -> &'static str {
        self.meta().id
    }
    pub fn severity(self) -> Severity {
        self.meta().severity
    }
    pub fn family(self) -> Family {
        self.meta().family
    }

    /// A kind by its id (`mm-doctor explain ID`, tests).
    pub fn from_id(id: &str) -> Option<FindingKind> {
        FindingKind::ALL.into_iter().find(|k| k.id() == id)
    }

    /// Everything fixed about this kind: the one exhaustive match of the catalogue.
    pub fn meta(self) -> Meta {
        use Family as F;
        use FindingKind as K;
        use Severity as S;
        let m = |id, family, severity, title, fix, source| Meta {
            id,
            family,
            severity,
            title,
            fix,
            source,
        };
        match self {
            K::ConfigReadsCleanly => m(
                "config.ok",
                F::Config,
                S::Ok,
                "gitlab.rb reads cleanly for this GitLab version",
                "",
                "mm-harness config explain",
            ),
            K::ConfigSyntaxError => m(
                "config.syntax-error",
                F::Config,
                S::Fail,
                "gitlab.rb does not parse",
                "fix the line shown; `gitlab-ctl reconfigure` stops at the same line",
                "omnibus-gitlab: gitlab.rb is Ruby evaluated by reconfigure",
            ),
            K::ConfigUnknownKey => m(
                "config.unknown-key",
                F::Config,
                S::Warn,
                "gitlab.rb sets a key this GitLab version does not know",
                "rename it to the key the hint names, or remove it (reconfigure ignores or rejects it)",
                "omnibus-gitlab gitlab.rb.template and attributes of the version",
            ),
            K::ConfigDroppedKey => m(
                "config.dropped-key",
                F::Config,
                S::Warn,
                "gitlab.rb sets a key this GitLab version no longer renders",
                "move the setting to mattermost['env'] (MM_* variable) or the System Console, as the hint says",
                "omnibus-gitlab: files/gitlab-cookbooks/mattermost per version",
            ),
            K::ConfigUnevaluated => m(
                "config.unevaluated",
                F::Config,
                S::Warn,
                "gitlab.rb computes a value the doctor cannot evaluate",
                "check the value by hand (`gitlab-ctl show-config`); the doctor skipped it",
                "mm-harness config explain",
            ),
            K::ConfigSmtpUserName => m(
                "config.smtp-user-name",
                F::Config,
                S::Fail,
                "Mattermost's SMTP user is set with GitLab's key name",
                "use mattermost['email_smtp_username'] (GitLab's own mailer uses gitlab_rails['smtp_user_name'])",
                "seed: Setting up SMTP for GitLab Mattermost",
            ),
            K::ConfigUserApiV3 => m(
                "config.user-api-v3",
                F::Config,
                S::Fail,
                "gitlab_user_api_endpoint names /api/v3/user, removed in GitLab 11.0",
                "set mattermost['gitlab_user_api_endpoint'] = \"<gitlab>/api/v4/user\"",
                "seed: Authorise GitLab Mattermost (its /api/v3/user example predates 11.0); troubleshooting.md: 410",
            ),
            K::ConfigMattermostRemoved => m(
                "config.mattermost-removed",
                F::Config,
                S::Fail,
                "this GitLab version no longer bundles Mattermost",
                "move Mattermost out of omnibus first: `mm-harness upgrade-plan`",
                "seed: Migrating Mattermost outside of GitLab; GitLab 19.0 removal",
            ),
            K::ConfigValueProblem => m(
                "config.value-problem",
                F::Config,
                S::Warn,
                "gitlab.rb sets a value Mattermost or omnibus will not take as written",
                "correct the value as the hint says",
                "mm-harness config explain",
            ),
            K::ConfigSiteUrlMissing => m(
                "config.site-url-missing",
                F::Config,
                S::Fail,
                "Mattermost runs without mattermost_external_url (no SiteURL)",
                "set mattermost_external_url 'https://mattermost.example.com' (SiteURL follows it)",
                "seed: Getting started; troubleshooting.md: \"websocket: origin not allowed\"",
            ),
            K::ConfigEndpointsOtherGitlab => m(
                "config.endpoints-other-gitlab",
                F::Config,
                S::Fail,
                "the GitLab SSO endpoints name another host or scheme than external_url",
                "point gitlab_auth/token/user_api endpoints at external_url's scheme and host",
                "seed: Authorise GitLab Mattermost",
            ),
            K::ConfigSmtpPortSecurity => m(
                "config.smtp-port-security",
                F::Config,
                S::Fail,
                "email_connection_security does not match the SMTP port",
                "465 → 'TLS' (implicit), 587 → 'STARTTLS'",
                "troubleshooting.md: \"first record does not look like a TLS handshake\" / EOF",
            ),
            K::ConfigSmtpAuthPlaintext => m(
                "config.smtp-auth-plaintext",
                F::Config,
                S::Fail,
                "SMTP credentials are set with no connection security",
                "set email_connection_security 'STARTTLS' or 'TLS', or drop the credentials for a trusted relay",
                "troubleshooting.md: \"authentication failed: unencrypted connection\"",
            ),
            K::ConfigDriftLost => m(
                "config.drift-lost",
                F::Config,
                S::Warn,
                "config.json holds a change that reconfigure (and the next upgrade) will lose",
                "carry the setting into gitlab.rb, then reconfigure",
                "seed: Upgrading GitLab Mattermost",
            ),
            K::ConfigDriftOverridden => m(
                "config.drift-overridden",
                F::Config,
                S::Warn,
                "config.json holds a value an MM_* variable from gitlab.rb overrides",
                "change the setting in gitlab.rb; the System Console shows it locked",
                "troubleshooting.md: System Console settings greyed out or reverted",
            ),
            K::ConfigJsonMatches => m(
                "config.json-matches",
                F::Config,
                S::Ok,
                "config.json agrees with gitlab.rb",
                "",
                "seed: Upgrading GitLab Mattermost",
            ),
            K::ReachDnsOk => m(
                "reach.dns-ok",
                F::Reach,
                S::Ok,
                "the host names resolve",
                "",
                "seed: Getting started (DNS)",
            ),
            K::ReachDnsFailed => m(
                "reach.dns-failed",
                F::Reach,
                S::Fail,
                "a host name does not resolve",
                "add the DNS record (the seed: two names for the same machine), or pass --resolve",
                "seed: Getting started (DNS)",
            ),
            K::ReachMattermostOk => m(
                "reach.mattermost-ok",
                F::Reach,
                S::Ok,
                "Mattermost answers its ping",
                "",
                "Mattermost API: GET /api/v4/system/ping",
            ),
            K::ReachMattermostDown => m(
                "reach.mattermost-down",
                F::Reach,
                S::Fail,
                "Mattermost does not answer",
                "check `gitlab-ctl status mattermost`, nginx and the firewall; read the evidence",
                "troubleshooting.md: \"Mattermost unreachable\"",
            ),
            K::ReachNotMattermost => m(
                "reach.not-mattermost",
                F::Reach,
                S::Fail,
                "the Mattermost URL answers, but not as Mattermost",
                "point mattermost_external_url's virtual host at Mattermost (nginx serves another site there)",
                "Mattermost API: X-Version-Id on every reply",
            ),
            K::ReachGitlabOk => m(
                "reach.gitlab-ok",
                F::Reach,
                S::Ok,
                "GitLab answers",
                "",
                "GitLab: GET /api/v4/version, /users/sign_in",
            ),
            K::ReachGitlabDown => m(
                "reach.gitlab-down",
                F::Reach,
                S::Fail,
                "GitLab does not answer",
                "check `gitlab-ctl status`, DNS and routing from where Mattermost runs",
                "troubleshooting.md: \"Token request failed\" (i/o timeout)",
            ),
            K::ReachGitlabSlow => m(
                "reach.gitlab-slow",
                F::Reach,
                S::Fail,
                "GitLab answers slower than the timeout",
                "find the slow hop (proxy, hairpin NAT, overloaded GitLab); Mattermost's token request gives up the same way",
                "troubleshooting.md: \"Token request failed\" (i/o timeout)",
            ),
            K::TlsOk => m(
                "tls.ok",
                F::Tls,
                S::Ok,
                "the certificate is valid for the host name",
                "",
                "seed: Running GitLab Mattermost with HTTPS",
            ),
            K::TlsExpired => m(
                "tls.expired",
                F::Tls,
                S::Fail,
                "the certificate has expired (or is not yet valid)",
                "renew it in /etc/gitlab/ssl (or letsencrypt['enable']), then `gitlab-ctl hup nginx`",
                "seed: Running GitLab Mattermost with HTTPS; troubleshooting.md: x509",
            ),
            K::TlsExpiresSoon => m(
                "tls.expires-soon",
                F::Tls,
                S::Warn,
                "the certificate expires within 30 days",
                "renew it before it expires",
                "seed: Running GitLab Mattermost with HTTPS",
            ),
            K::TlsWrongHost => m(
                "tls.wrong-host",
                F::Tls,
                S::Fail,
                "the certificate does not name this host",
                "issue a certificate whose SANs include the host name (mattermost_nginx['ssl_certificate'])",
                "seed: Running GitLab Mattermost with HTTPS; troubleshooting.md: x509",
            ),
            K::TlsUntrusted => m(
                "tls.untrusted",
                F::Tls,
                S::Fail,
                "the certificate is signed by a CA that is not trusted",
                "use a public CA, or add the CA to /etc/gitlab/trusted-certs and reconfigure (and to --ca-file here)",
                "troubleshooting.md: \"x509: certificate signed by unknown authority\"",
            ),
            K::TlsChainIncomplete => m(
                "tls.chain-incomplete",
                F::Tls,
                S::Fail,
                "the server sends its certificate without the intermediate CA",
                "put the full chain (certificate then intermediates) in the ssl_certificate file",
                "troubleshooting.md: \"x509: certificate signed by unknown authority\"",
            ),
            K::TlsHandshakeFailed => m(
                "tls.handshake-failed",
                F::Tls,
                S::Fail,
                "no TLS handshake on the https port",
                "check that nginx listens with TLS on that port (ssl_certificate set, port not plain http)",
                "seed: Running GitLab Mattermost with HTTPS",
            ),
            K::ProxyHttpRedirectOk => m(
                "proxy.http-redirect-ok",
                F::Proxy,
                S::Ok,
                "http:// redirects to https://",
                "",
                "seed: Running GitLab Mattermost with HTTPS (redirect_http_to_https)",
            ),
            K::ProxyHttpNotRedirected => m(
                "proxy.http-not-redirected",
                F::Proxy,
                S::Warn,
                "http:// does not redirect to https://",
                "set mattermost_nginx['redirect_http_to_https'] = true and reconfigure",
                "seed: Running GitLab Mattermost with HTTPS",
            ),
            K::ProxyWebsocketOk => m(
                "proxy.websocket-ok",
                F::Proxy,
                S::Ok,
                "the websocket upgrade reaches Mattermost",
                "",
                "Mattermost: GET /api/v4/websocket (101 Switching Protocols)",
            ),
            K::ProxyWebsocketDropped => m(
                "proxy.websocket-dropped",
                F::Proxy,
                S::Fail,
                "the proxy drops the websocket upgrade",
                "proxy /api/v4/websocket with `proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";`",
                "troubleshooting.md: \"could not find upgrade header\"",
            ),
            K::ProxyWebsocketNotServed => m(
                "proxy.websocket-not-served",
                F::Proxy,
                S::Info,
                "nothing serves /api/v4/websocket at this URL",
                "if this is Mattermost, proxy /api/v4/websocket to it (real Mattermost answers 101 or 400 there)",
                "Mattermost: GET /api/v4/websocket",
            ),
            K::ProxyForwardedProtoMissing => m(
                "proxy.forwarded-proto-missing",
                F::Proxy,
                S::Fail,
                "Mattermost believes it is served over http behind an https proxy",
                "send `proxy_set_header X-Forwarded-Proto https;` (omnibus does unless proxy_set_headers removes it)",
                "troubleshooting.md: \"The redirect URI included is not valid.\"; fidelity-audit-sso.md",
            ),
            K::SsoWiredOk => m(
                "sso.ok",
                F::Sso,
                S::Ok,
                "GitLab SSO is enabled and points at this GitLab",
                "",
                "seed: Authorise GitLab Mattermost",
            ),
            K::SsoDisabled => m(
                "sso.disabled",
                F::Sso,
                S::Fail,
                "GitLab SSO is not enabled in Mattermost",
                "set mattermost['gitlab_enable'] = true with the application id and secret, then reconfigure",
                "seed: Authorise GitLab Mattermost",
            ),
            K::SsoSiteUrlEmpty => m(
                "sso.site-url-empty",
                F::Sso,
                S::Fail,
                "Mattermost's SiteURL is empty",
                "set mattermost_external_url (omnibus writes SiteURL from it)",
                "troubleshooting.md: \"websocket: origin not allowed\"",
            ),
            K::SsoSiteUrlMismatch => m(
                "sso.site-url-mismatch",
                F::Sso,
                S::Fail,
                "Mattermost's SiteURL differs from the URL users open",
                "make SiteURL exactly mattermost_external_url (scheme, host, port)",
                "troubleshooting.md: \"Bad response from token request\" (redirect URI mismatch)",
            ),
            K::SsoEndpointsOtherGitlab => m(
                "sso.endpoints-other-gitlab",
                F::Sso,
                S::Fail,
                "Mattermost's GitLab endpoints point at another GitLab than the one answering",
                "set the auth, token and user API endpoints to <gitlab>/oauth/authorize, /oauth/token, /api/v4/user",
                "seed: Authorise GitLab Mattermost",
            ),
            K::SsoUserApiV3Removed => m(
                "sso.user-api-v3-removed",
                F::Sso,
                S::Fail,
                "Mattermost asks GitLab's removed /api/v3/user",
                "set mattermost['gitlab_user_api_endpoint'] = \"<gitlab>/api/v4/user\"",
                "troubleshooting.md: 410 \"API V3 is no longer supported\" (GitLab 11.0)",
            ),
            K::SsoTokenEndpointOk => m(
                "sso.token-endpoint-ok",
                F::Sso,
                S::Ok,
                "the token endpoint answers OAuth JSON",
                "",
                "RFC 6749 §5.2; Doorkeeper",
            ),
            K::SsoTokenEndpointHtml => m(
                "sso.token-endpoint-html",
                F::Sso,
                S::Fail,
                "the token endpoint answers a page, not OAuth JSON",
                "use <gitlab>/oauth/token exactly as TokenEndpoint",
                "troubleshooting.md: \"Bad token type.\"",
            ),
            K::SsoTokenEndpointUnreachable => m(
                "sso.token-endpoint-unreachable",
                F::Sso,
                S::Fail,
                "the token endpoint cannot be reached",
                "fix DNS/routing to GitLab from Mattermost's host, trust its CA (/etc/gitlab/trusted-certs), or set proxy env in mattermost['env']",
                "troubleshooting.md: \"Token request failed\"",
            ),
            K::SsoClientSecretWrong => m(
                "sso.client-secret-wrong",
                F::Sso,
                S::Fail,
                "GitLab refuses Mattermost's application id and secret",
                "copy the application's id and secret from GitLab's Admin Area → Applications into gitlab_id/gitlab_secret, reconfigure",
                "troubleshooting.md: \"Bad response from token request\" (wrong secret, app restored from backup)",
            ),
            K::SsoApplicationOk => m(
                "sso.application-ok",
                F::Sso,
                S::Ok,
                "GitLab's OAuth application has both callback URLs",
                "",
                "seed: Authorise GitLab Mattermost",
            ),
            K::SsoApplicationMissing => m(
                "sso.application-missing",
                F::Sso,
                S::Fail,
                "GitLab has no OAuth application with Mattermost's id",
                "re-authorise: create the application with both callback URLs (seed: Reauthorise GitLab Mattermost)",
                "seed: Manually (re)authorising GitLab Mattermost with GitLab",
            ),
            K::SsoCallbackMissing => m(
                "sso.callback-missing",
                F::Sso,
                S::Fail,
                "the OAuth application lacks a callback URL Mattermost uses",
                "register both <SiteURL>/login/gitlab/complete and <SiteURL>/signup/gitlab/complete with SiteURL's scheme",
                "seed: Authorise GitLab Mattermost; troubleshooting.md: \"The redirect URI included is not valid.\"",
            ),
            K::SsoLoginRedirectOk => m(
                "sso.login-redirect-ok",
                F::Sso,
                S::Ok,
                "Mattermost sends users to GitLab with a redirect_uri under SiteURL",
                "",
                "Mattermost: GET /oauth/gitlab/login",
            ),
            K::SsoLoginRedirectMismatch => m(
                "sso.login-redirect-mismatch",
                F::Sso,
                S::Fail,
                "Mattermost sends users to GitLab with a redirect_uri outside SiteURL",
                "make SiteURL and the proxy's X-Forwarded-Proto agree with the URL users open",
                "troubleshooting.md: \"The redirect URI included is not valid.\"",
            ),
            K::SsoButtonHidden => m(
                "sso.button-hidden",
                F::Sso,
                S::Warn,
                "the web app does not offer \"GitLab\" on its sign-in page",
                "enable GitLab SSO (gitlab_enable) and check the licence rule for Mattermost v11+",
                "Mattermost API: GET /api/v4/config/client?format=old (EnableSignUpWithGitLab)",
            ),
            K::SsoLicenseRequired => m(
                "sso.license-required",
                F::Sso,
                S::Fail,
                "Mattermost v11+ offers GitLab SSO only with a Professional licence",
                "stay on the v10.11 ESR, add a licence, or move to OpenID Connect; `mm-harness upgrade-plan`",
                "shared/wire/mattermost.md (mattermost/mattermost PR #33848, v11.0 important upgrade notes)",
            ),
            K::SmtpOk => m(
                "smtp.ok",
                F::Smtp,
                S::Ok,
                "the SMTP server speaks the configured security",
                "",
                "seed: Setting up SMTP for GitLab Mattermost",
            ),
            K::SmtpNotConfigured => m(
                "smtp.not-configured",
                F::Smtp,
                S::Info,
                "no SMTP server configured: Mattermost sends no email",
                "set mattermost['email_smtp_server'] and friends (seed: Setting up SMTP)",
                "seed: Setting up SMTP for GitLab Mattermost",
            ),
            K::SmtpUnreachable => m(
                "smtp.unreachable",
                F::Smtp,
                S::Fail,
                "the SMTP server does not answer",
                "check email_smtp_server/email_smtp_port and the firewall",
                "troubleshooting.md: SMTP hangs or EOF",
            ),
            K::SmtpImplicitTlsOnPlainPort => m(
                "smtp.implicit-tls-on-plain-port",
                F::Smtp,
                S::Fail,
                "ConnectionSecurity TLS (implicit) against a server that speaks plaintext first",
                "465 → 'TLS', 587 → 'STARTTLS'",
                "troubleshooting.md: \"tls: first record does not look like a TLS handshake\"",
            ),
            K::SmtpPlainOnImplicitPort => m(
                "smtp.plain-on-implicit-port",
                F::Smtp,
                S::Fail,
                "plaintext or STARTTLS against an implicit-TLS port",
                "465 → 'TLS', 587 → 'STARTTLS'",
                "troubleshooting.md: SMTP hangs or EOF",
            ),
            K::SmtpStartTlsNotOffered => m(
                "smtp.starttls-not-offered",
                F::Smtp,
                S::Fail,
                "the server does not offer STARTTLS; Mattermost continues in plaintext",
                "enable STARTTLS on the relay, or use its implicit-TLS port with 'TLS'",
                "troubleshooting.md: \"authentication failed: unencrypted connection\"",
            ),
            K::SmtpCertificateUntrusted => m(
                "smtp.certificate-untrusted",
                F::Smtp,
                S::Fail,
                "the SMTP server's certificate is not trusted for its name",
                "fix the relay's certificate, or add its CA to /etc/gitlab/trusted-certs",
                "troubleshooting.md: x509 errors",
            ),
            K::SmtpAuthBeforeTls => m(
                "smtp.auth-before-tls",
                F::Smtp,
                S::Warn,
                "the server offers AUTH before TLS (credentials could cross in the clear)",
                "offer AUTH only after STARTTLS on the relay; use STARTTLS or TLS in Mattermost",
                "troubleshooting.md: \"unencrypted connection\"",
            ),
            K::SmtpAuthRejected => m(
                "smtp.auth-rejected",
                F::Smtp,
                S::Fail,
                "the SMTP server rejects Mattermost's credentials",
                "set email_smtp_username (not smtp_user_name) and email_smtp_password to the relay's account",
                "seed: Setting up SMTP for GitLab Mattermost",
            ),
            K::SmtpSenderRejected => m(
                "smtp.sender-rejected",
                F::Smtp,
                S::Fail,
                "the SMTP server refuses the sender address (550, mailbox unavailable)",
                "set FeedbackEmail (mattermost['email_feedback_email']) to an address the SMTP account may send as",
                "troubleshooting: `550 ... rejected` / \"Mailbox unavailable\"",
            ),
            K::WebhooksIncomingOk => m(
                "webhooks.incoming-ok",
                F::Webhooks,
                S::Ok,
                "incoming webhooks are enabled",
                "",
                "seed: GitLab notifications in Mattermost",
            ),
            K::WebhooksIncomingDisabled => m(
                "webhooks.incoming-disabled",
                F::Webhooks,
                S::Fail,
                "incoming webhooks are disabled: GitLab's notifications get 501",
                "set mattermost['service_enable_incoming_webhooks'] = true in gitlab.rb (not the System Console)",
                "seed: GitLab notifications in Mattermost",
            ),
            K::WebhooksLocalNetwork => m(
                "webhooks.local-network",
                F::Webhooks,
                S::Warn,
                "GitLab refuses webhooks to the local network, and Mattermost is on it",
                "Admin Area → Settings → Network → Outbound requests: allow requests to the local network from webhooks, or allowlist the Mattermost host",
                "troubleshooting.md: \"Requests to the local network are not allowed\"",
            ),
            K::WebhooksPrivateAddress => m(
                "webhooks.private-address",
                F::Webhooks,
                S::Info,
                "Mattermost is on a private address: GitLab ≥ 10.6 refuses webhooks there unless allowed",
                "if GitLab's integrations fail with \"Requests to the local network are not allowed\", allow local requests from webhooks or allowlist the Mattermost host (a GitLab admin token lets the doctor read the setting)",
                "troubleshooting.md: \"Requests to the local network are not allowed\"",
            ),
            K::WebhooksEnvForced => m(
                "webhooks.env-forced",
                F::Webhooks,
                S::Info,
                "settings forced by environment variables (read-only in the System Console)",
                "change these in gitlab.rb; System Console edits are lost on upgrade",
                "seed: GitLab notifications in Mattermost; troubleshooting.md: settings greyed out",
            ),
            K::WebhooksProbeOk => m(
                "webhooks.probe-ok",
                F::Webhooks,
                S::Ok,
                "a temporary incoming webhook carried a post end to end, and was removed (--allow-writes)",
                "",
                "seed: GitLab notifications in Mattermost (incoming webhooks); API: POST /api/v4/hooks/incoming, POST /hooks/{id}",
            ),
            K::WebhooksProbeFailed => m(
                "webhooks.probe-failed",
                F::Webhooks,
                S::Fail,
                "the webhook probe failed: creating, posting through, reading back or removing a temporary webhook (--allow-writes)",
                "read the server's error in the evidence; enable incoming webhooks and give the token's user permission to manage them; remove any webhook the evidence names as left behind",
                "seed: GitLab notifications in Mattermost (incoming webhooks); API: /api/v4/hooks/incoming",
            ),
            K::VersionsOk => m(
                "versions.ok",
                F::Versions,
                S::Ok,
                "GitLab and Mattermost versions are a shipped pair",
                "",
                "seed: Upgrading GitLab Mattermost (version table)",
            ),
            K::VersionsPairingUnexpected => m(
                "versions.pairing-unexpected",
                F::Versions,
                S::Warn,
                "the running Mattermost is not the one this GitLab version bundles",
                "Mattermost was upgraded or replaced outside omnibus; plan upgrades with `mm-harness upgrade-plan`",
                "seed: Upgrading GitLab Mattermost",
            ),
            K::VersionsGitlab19 => m(
                "versions.gitlab-19",
                F::Versions,
                S::Fail,
                "GitLab 19 removes bundled Mattermost",
                "migrate Mattermost out of omnibus before upgrading: `mm-harness upgrade-plan`",
                "seed: Migrating Mattermost outside of GitLab",
            ),
            K::VersionsOutOfSupport => m(
                "versions.out-of-support",
                F::Versions,
                S::Warn,
                "this Mattermost release line is past its end of support",
                "upgrade to a supported release (ESR); `mm-harness upgrade-plan`",
                "Mattermost release lifecycle (ESR dates in harness/upgrade/mattermost_rules.rs)",
            ),
            K::VersionsDatabaseUpgradeFailed => m(
                "versions.database-upgrade-failed",
                F::Versions,
                S::Fail,
                "Mattermost's automatic database upgrade failed",
                "restore the backup; on GitLab 8.9 / Mattermost 3.1 set mattermost['db2_backup_created'] and mattermost['db2_team_name'] (or run -upgrade_db_30); upgrade 3.2 → 3.3 → 3.4 one release at a time",
                "troubleshooting: \"Automatic database upgrade failed\"; seed: upgrading Mattermost in GitLab 8.9",
            ),
            K::LogsClean => m(
                "logs.clean",
                F::Logs,
                S::Ok,
                "the Support Packet's logs hold none of the known failures",
                "",
                "../shared/wire/troubleshooting.md (the symptom column, matched by harness/doctor/explain.rs)",
            ),
            K::DoctorCheckTimedOut => m(
                "doctor.check-timed-out",
                F::Doctor,
                S::Fail,
                "a check got no answer within its deadline",
                "the host is blackholed or very slow: check routing and firewalls, or raise --timeout",
                "mm-doctor --timeout",
            ),
        }
    }
}

/// Longest evidence kept per finding (bytes); longer text is cut at a char boundary with `…`.
pub const MAX_EVIDENCE: usize = 1024;

/// One occurrence of a finding: its kind, what it is about (`https://gitlab.example.com`,
/// `gitlab.rb:3:1`) and what was seen. Evidence is redacted by the check that builds it (secrets
/// never enter) and bounded here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub subject: String,
    pub evidence: String,
}

impl Finding {
    pub fn new(kind: FindingKind, subject: impl Into<String>, evidence: impl Into<String>) -> Self {
        Finding {
            kind,
            subject: bound(subject.into(), 256),
            evidence: bound(evidence.into(), MAX_EVIDENCE),
        }
    }
    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }
}

/// Cut `s` to at most `max` bytes at a char boundary, marking the cut.
pub fn bound(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut cut = max.saturating_sub(3);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_and_prefixed_by_family() {
        let mut seen = std::collections::HashSet::new();
        for k in FindingKind::ALL {
            let m = k.meta();
            assert!(seen.insert(m.id), "duplicate id {}", m.id);
            assert!(
                m.id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'),
                "{}",
                m.id
            );
            let prefix = m.id.split('.').next().unwrap();
            let family = serde_json::to_value(m.family).unwrap();
            assert_eq!(prefix, family.as_str().unwrap(), "{}", m.id);
            assert_eq!(m.fix.is_empty(), m.severity == Severity::Ok, "{}", m.id);
            assert!(!m.source.is_empty() && !m.title.is_empty());
            assert_eq!(FindingKind::from_id(m.id), Some(k));
        }
    }

    #[test]
    fn evidence_is_bounded_at_a_char_boundary() {
        let f = Finding::new(FindingKind::TlsOk, "x", "é".repeat(2000));
        assert!(f.evidence.len() <= MAX_EVIDENCE);
        assert!(f.evidence.ends_with('…'));
    }
}
