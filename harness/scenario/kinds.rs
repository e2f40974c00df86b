//! The step vocabulary of scenario files: every step a file can write ([`StepKind`]), the group
//! each belongs to (`gitlab`, `sso`...), which expectations ([`ExpectKind`]) fit it, a minimal
//! example of its arguments, and its reference text in docs/scenarios.md
//! ([`ReferenceSection`]). Everything that lists
//! steps — the parser's did-you-mean, the groups, the allowed expectations, the docs table — is
//! derived from here, and each stage (parse, execute, check) is an exhaustive `match` on the
//! kind, so a step added here is refused by the compiler until every stage handles it.

use std::fmt::Write as _;

use crate::check::ExpectKind;
use crate::vocab::names::named_enum;
use crate::vocab::sso::{self as sso_errors, SsoEra};

named_enum! {
    /// Every step a scenario file can write, by its `group.action` name.
    pub enum StepKind {
        CreateOAuthApp => "gitlab.create_oauth_app",
        RevokeOAuthApp => "gitlab.revoke_oauth_app",
        Reconfigure => "host.reconfigure",
        SsoSignUp => "sso.sign_up",
        SsoLogIn => "sso.log_in",
        Ping => "mattermost.ping",
        CreateTeam => "mattermost.create_team",
        CreateChannel => "mattermost.create_channel",
        CreateIncomingWebhook => "mattermost.create_incoming_webhook",
        SignUpWithEmail => "mattermost.sign_up_with_email",
        WebhookGitlabPush => "webhook.gitlab_push",
        WebhookPost => "webhook.post",
        InspectCertificate => "https.certificate",
        HttpRedirect => "https.redirect",
        GitlabUpgrade => "gitlab.upgrade",
        RunSql => "mattermost.run_sql",
        SaveTheme => "mattermost.save_theme",
        GetTheme => "mattermost.get_theme",
        CountData => "mattermost.count_data",
        ReadPosts => "mattermost.read_posts",
        LogInWithEmail => "mattermost.log_in_with_email",
        MattermostExport => "mattermost.export",
        MoveOut => "mattermost.move_out",
        CheckConfig => "gitlab.check_config",
        MailSendTestEmail => "mail.send_test_email",
        MailVerifySignUp => "mail.sign_up_and_verify",
        MailMention => "mail.mention",
        MailWait => "mail.wait",
    }
}

/// The arguments of both SSO steps.
const SSO_ARGUMENTS: &str = "`user` (a GitLab account), `consent` (`approve` default, or `deny`), `accept_invalid_certificates` (default false: the person clicks through the browser's warning)";

/// A step's reference text: its arguments and what happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepDoc {
    /// The arguments, each as `` `key` `` with its default, or `—` for none.
    pub arguments: &'static str,
    /// What the harness does.
    pub effect: &'static str,
}

/// An expectation's reference text: its fields and when it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectDoc {
    /// How it is written, e.g. `post = { text_contains, attachments }`.
    pub written: &'static str,
    /// When it passes.
    pub passes_when: &'static str,
}

impl StepKind {
    /// The group, the part before the dot (`sso` of `sso.sign_up`).
    pub fn group(self) -> &'static str {
        let name = self.name();
        match name.split_once('.') {
            Some((group, _)) => group,
            None => name,
        }
    }

    /// Every group, in declaration order, once.
    pub fn groups() -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for k in Self::ALL {
            if !out.contains(&k.group()) {
                out.push(k.group());
            }
        }
        out
    }

    /// The expectations a step of this kind may carry (empty: none, it must simply succeed).
    pub fn expectations(self) -> &'static [ExpectKind] {
        match self {
            StepKind::SsoSignUp | StepKind::SsoLogIn => &[
                ExpectKind::MattermostUser,
                ExpectKind::SsoError,
                ExpectKind::GitlabError,
                ExpectKind::AccessDenied,
            ],
            StepKind::WebhookGitlabPush | StepKind::WebhookPost => {
                &[ExpectKind::Post, ExpectKind::WebhookError]
            }
            StepKind::InspectCertificate => &[ExpectKind::Certificate],
            StepKind::HttpRedirect => &[ExpectKind::Redirect],
            StepKind::GetTheme => &[ExpectKind::Theme],
            StepKind::CountData => &[ExpectKind::Data],
            StepKind::GitlabUpgrade | StepKind::RunSql | StepKind::SaveTheme => &[],
            StepKind::CreateTeam
            | StepKind::CreateChannel
            | StepKind::CreateIncomingWebhook
            | StepKind::SignUpWithEmail => &[ExpectKind::ApiError],
            StepKind::LogInWithEmail => &[ExpectKind::ApiError],
            StepKind::MailSendTestEmail => {
                &[ExpectKind::Mail, ExpectKind::MailError, ExpectKind::NoMail]
            }
            StepKind::MailVerifySignUp => &[ExpectKind::Mail, ExpectKind::ApiError],
            StepKind::MailMention | StepKind::MailWait => &[ExpectKind::Mail],
            StepKind::CreateOAuthApp
            | StepKind::RevokeOAuthApp
            | StepKind::Reconfigure
            | StepKind::MattermostExport
            | StepKind::MoveOut
            | StepKind::CheckConfig
            | StepKind::ReadPosts
            | StepKind::Ping => &[],
        }
    }

    /// The smallest valid arguments, as written after `name = ` (tests parse each one; the
    /// application it names is `app`, the webhook `hook`, the host `omnibus`).
    pub fn example(self) -> &'static str {
        match self {
            StepKind::CreateOAuthApp => r#"{ as = "app" }"#,
            StepKind::RevokeOAuthApp => r#"{ app = "app" }"#,
            StepKind::Reconfigure => r#"{ host = "omnibus" }"#,
            StepKind::SsoSignUp | StepKind::SsoLogIn => r#"{ user = "alice" }"#,
            StepKind::Ping => "{}",
            StepKind::CreateTeam => r#"{ name = "team" }"#,
            StepKind::CreateChannel => r#"{ team = "team", name = "town" }"#,
            StepKind::CreateIncomingWebhook => {
                r#"{ team = "team", channel = "town", as = "hook" }"#
            }
            StepKind::SignUpWithEmail => r#"{ username = "carol" }"#,
            StepKind::WebhookGitlabPush => r#"{ hook = "hook", project = "group/project" }"#,
            StepKind::WebhookPost => r#"{ hook = "hook", text = "hello" }"#,
            StepKind::InspectCertificate | StepKind::HttpRedirect => {
                r#"{ service = "mattermost" }"#
            }
            StepKind::GitlabUpgrade => r#"{ to = "8.12" }"#,
            StepKind::RunSql => {
                r#"{ statement = "UPDATE Systems SET Value = '3.1.0' WHERE Name = 'Version'" }"#
            }
            StepKind::SaveTheme => r#"{ user = "alice", theme = "{}" }"#,
            StepKind::GetTheme => r#"{ user = "alice" }"#,
            StepKind::CountData => "{}",
            StepKind::ReadPosts => r#"{ hook = "hook" }"#,
            StepKind::LogInWithEmail | StepKind::MailVerifySignUp => r#"{ username = "carol" }"#,
            StepKind::MailSendTestEmail => "{}",
            StepKind::MailMention => r#"{ hook = "hook", user = "dora" }"#,
            StepKind::MailWait => r#"{ to = "carol@example.com" }"#,
            StepKind::MattermostExport => r#"{ host = "omnibus", as = "backup" }"#,
            StepKind::MoveOut => r#"{ export = "backup", to = "standalone" }"#,
            StepKind::CheckConfig => r#"{ host = "omnibus", gitlab_version = "19.0" }"#,
        }
    }

    /// The reference text of docs/scenarios.md.
    pub fn doc(self) -> StepDoc {
        match self {
            StepKind::CreateOAuthApp => StepDoc {
                arguments: "`as` (binding, required), `name` (default `\"GitLab Mattermost\"`), `callbacks` (default: Mattermost's `/signup/gitlab/complete` and `/login/gitlab/complete`), `scopes` (default `\"api\"`, GitLab's default scope)",
                effect: "an administrator creates the application: `POST /api/v4/applications` with the admin token on GitLab ≥ 9; on GitLab 8.x (no applications API) signs in to the admin area and fills `/admin/applications/new`, reading Application ID and Secret off the page",
            },
            StepKind::RevokeOAuthApp => StepDoc {
                arguments: "`app` (binding)",
                effect: "deletes it (API `DELETE`, or the admin area's destroy form on 8.x)",
            },
            StepKind::Reconfigure => StepDoc {
                arguments: "`host` (a `[hosts]` name)",
                effect: "re-resolves that host's gitlab.rb with the bindings known now and applies it (twin: the running Mattermost takes the new settings; live: refused — apply the text and run `gitlab-ctl reconfigure` yourself)",
            },
            StepKind::SsoSignUp => StepDoc {
                arguments: SSO_ARGUMENTS,
                effect: "a person, in a fresh browser session, opens Mattermost's GitLab sign-up (`/oauth/gitlab/signup`, under `/api/v3` on Mattermost 3.x), follows every redirect by hand, signs in on GitLab's form, passes the consent page or the already-authorised redirect page, and lands back on Mattermost; the driver then asks Mattermost who is signed in",
            },
            StepKind::SsoLogIn => StepDoc {
                arguments: SSO_ARGUMENTS,
                effect: "the same through Mattermost's GitLab login (`/oauth/gitlab/login`): an account that exists signs in (read-only on a live target unless `consent = \"deny\"`)",
            },
            StepKind::Ping => StepDoc {
                arguments: "—",
                effect: "`GET /api/v4/system/ping`, status and server version",
            },
            StepKind::CreateTeam => StepDoc {
                arguments: "`name`",
                effect: "an admin creates an open team (API v4; API v3 on Mattermost 3.x, as for every administration step)",
            },
            StepKind::CreateChannel => StepDoc {
                arguments: "`team`, `name`",
                effect: "an open channel",
            },
            StepKind::CreateIncomingWebhook => StepDoc {
                arguments: "`team`, `channel`, `as` (binding)",
                effect: "an incoming webhook in that channel",
            },
            StepKind::SignUpWithEmail => StepDoc {
                arguments: "`username`",
                effect: "a person signs up with email and password (`POST /api/v4/users`), no SSO",
            },
            StepKind::WebhookGitlabPush => StepDoc {
                arguments: "`hook`, `project` (`group/project`), `branch` (default `main`), `commits` (0–20, default 1; 0 = new branch), `user` (default `root`)",
                effect: "posts what the scenario's GitLab posts for a push, as form field `payload=`: 18.11 `NAME pushed to branch <…/-/commits/BRANCH\\|BRANCH> of <URL\\|Group / Project> (<…/-/compare/BEFORE...AFTER\\|Compare changes>)` (full SHAs), a `fallback` repeating it and one `#334455` attachment with the commits; 8.12 the same without `/-/`, `Group/Project`, no `fallback`, colour `#345`; then reads the channel's newest post back",
            },
            StepKind::WebhookPost => StepDoc {
                arguments: "`hook`, `text`, `format` (`json` default, `form`, `multipart`), `channel`, `username`",
                effect: "a plain client posts (multipart: one part per field, named as given: Mattermost 10.11 refuses `channel`); the newest post is read back",
            },
            StepKind::InspectCertificate => StepDoc {
                arguments: "`service` (`gitlab` or `mattermost`)",
                effect: "connects to the service's https URL and decodes the certificate served (subject, SANs, issuer, validity) and whether it verifies for the name against the stack's CA",
            },
            StepKind::HttpRedirect => StepDoc {
                arguments: "`service` (`gitlab` or `mattermost`)",
                effect: "requests the http variant of the service's URL and records the redirect",
            },
            StepKind::GitlabUpgrade => StepDoc {
                arguments: "`to` (a GitLab release that bundled Mattermost 3.1–3.4: `8.9`, `8.10`, `8.11`, `8.12`)",
                effect: "installs that omnibus package and restarts: the bundled Mattermost starts on its release and runs its migrations on the database (the same version again is `gitlab-ctl restart`). A release that refuses the database halts (3.3 panics, 3.4 exits 1002) and the step fails with its message; Mattermost then answers 502 like omnibus nginx without upstream (twin; docker: every omnibus container created again from the target version's image on the same volumes; a live target refuses)",
            },
            StepKind::RunSql => StepDoc {
                arguments: "`statement` (only the seed's `UPDATE Systems SET Value = '<version>' WHERE Name = 'Version'`, checked at parse time)",
                effect: "what an operator runs with `gitlab-psql -d mattermost_production` (twin; docker: `docker exec … gitlab-psql`)",
            },
            StepKind::SaveTheme => StepDoc {
                arguments: "`user` (a GitLab account), `theme` (the theme JSON text)",
                effect: "the user signs in with GitLab and saves the theme: `POST /api/v3/preferences/save` with one `theme` preference (a database still holding `Users.ThemeProps`, 3.1/3.2, stores it there); Mattermost 3.x only (GitLab 8.x–10.x scenarios)",
            },
            StepKind::GetTheme => StepDoc {
                arguments: "`user`",
                effect: "the user signs in with GitLab and reads `GET /api/v3/preferences/theme`; Mattermost 3.x only",
            },
            StepKind::CountData => StepDoc {
                arguments: "—",
                effect: "the administrator reads the System Console's counts: `GET /api/v3/admin/analytics/standard` and `extra_counts` (Mattermost 4 and later: `GET /api/v4/analytics/old?name=standard` and `?name=extra_counts`)",
            },
            StepKind::ReadPosts => StepDoc {
                arguments: "`hook` (binding: its channel is read)",
                effect: "the administrator reads every post of the hook's channel, newest first (`GET /api/v4/channels/{id}/posts`; 3.x `/api/v3/teams/{team}/channels/{id}/posts/page/0/60`), each listed in the transcript (what the snapshot holds); fails on an empty channel",
            },
            StepKind::MattermostExport => StepDoc {
                arguments: "`host` (the omnibus `[hosts]` table running bundled Mattermost), `as` (binding, required)",
                effect: "the export tasks of `upgrade-plan`'s move out of omnibus (`--from` the scenario's GitLab, `--to 19.0`, `--gitlab-rb` the host's text), each listed by its title: the database (every table: users with their GitLab `auth_data`, sessions, teams, channels, posts, incoming webhooks), config.json, gitlab-secrets.json's `mattermost` section (the OAuth application's id and secret) and the `MM_*` settings `config explain` renders from the gitlab.rb (twin only)",
            },
            StepKind::MoveOut => StepDoc {
                arguments: "`export` (binding of `mattermost.export`), `to` (a `[hosts]` table with `kind = \"mattermost-standalone\"`)",
                effect: "the plan's standalone and GitLab-side tasks: the bundled Mattermost is stopped (`mattermost['enable'] = false`), the standalone host starts configured only by the `MM_*` variables (the rendered ones, SiteURL its `url`, GitLabSettings Enable/Id/Secret from the saved secrets: the same OAuth application) on the restored database; GitLab's gitlab.rb is rewritten: every key the plan lists for removal deleted, `gitlab_rails['mattermost_host']` set (twin only)",
            },
            StepKind::CheckConfig => StepDoc {
                arguments: "`host` (an omnibus `[hosts]` table), `gitlab_version` (`18.x` or `19.x`)",
                effect: "what that GitLab package does with the host's current gitlab.rb (after `mattermost.move_out`: the rewritten one): the configuration model's checks for that version (19.x reconfigure refuses `mattermost[...]` keys) and `upgrade-plan`'s gate from the scenario's GitLab; the step fails on any blocker, listing each rule",
            },
            StepKind::LogInWithEmail => StepDoc {
                arguments: "`username` (an account `mattermost.sign_up_with_email` or `mail.sign_up_and_verify` created)",
                effect: "the person logs in with their email address and password (`POST /api/v4/users/login`; v3 on Mattermost 3.x): what `EmailSettings.EnableSignInWithEmail` governs",
            },
            StepKind::MailSendTestEmail => StepDoc {
                arguments: "—",
                effect: "the system administrator presses the System Console's **Test Connection**: `POST /api/v4/email/test` with the current config (`POST /api/v3/admin/test_email` on 3.x); Mattermost sends synchronously, so on success the message is read from the stack's mail sink at once (the administrator is the recipient); on failure its error id, status and message are kept",
            },
            StepKind::MailVerifySignUp => StepDoc {
                arguments: "`username` (email `USERNAME@example.com`)",
                effect: "a person signs up with email and password, waits for the welcome mail in the mail sink, follows its verification link as the web app does (`/do_verify_email?token=`: `POST /api/v4/users/email/verify`; 3.x `?uid=&hid=`: `POST /api/v3/users/verify_email`) and logs in with email and password; the mail is what `mail` checks, a refused log-in is an `api_error`",
            },
            StepKind::MailMention => StepDoc {
                arguments: "`hook` (binding; its channel must be one team members join, e.g. `town-square`), `user` (email `USER@example.com`), `text` (default `\"@USER please have a look\"`)",
                effect: "an administrator creates the account and adds it to the hook's team, the hook posts a message mentioning it, and the harness waits (bounded by the step deadline) for the notification mail to that address",
            },
            StepKind::MailWait => StepDoc {
                arguments: "`to` (recipient address), `subject_contains`, `timeout_ms` (default 5000, at most 60000)",
                effect: "waits, woken on every arrival, for a message in the mail sink to that address (and with that subject text) that no earlier step has shown",
            },
        }
    }
}

/// The smallest valid value of an expectation, as written after `expect = { KIND = ` (tests
/// parse each one on every step kind that takes it).
pub fn expect_example(kind: ExpectKind) -> &'static str {
    match kind {
        ExpectKind::MattermostUser => r#"{ username = "alice" }"#,
        ExpectKind::SsoError => {
            r#"{ id = "api.user.authorize_oauth_user.bad_response.app_error" }"#
        }
        ExpectKind::GitlabError => r#"{ description_contains = "redirect URI" }"#,
        ExpectKind::AccessDenied => "true",
        ExpectKind::Post => r#"{ text_contains = "hello" }"#,
        ExpectKind::WebhookError => "{ status = 400 }",
        ExpectKind::ApiError => "{ status = 403 }",
        ExpectKind::Certificate => "{ trusted = true }",
        ExpectKind::Redirect => r#"{ location = "https://mattermost.example.com/" }"#,
        ExpectKind::Theme => r#""{}""#,
        ExpectKind::Data => "{ users = 2 }",
        ExpectKind::Mail => r#"{ tls = "starttls" }"#,
        ExpectKind::MailError => r#"{ message_contains = "unencrypted connection" }"#,
        ExpectKind::NoMail => "true",
    }
}

/// The reference text of an expectation kind in docs/scenarios.md.
pub fn expect_doc(kind: ExpectKind) -> ExpectDoc {
    match kind {
        ExpectKind::MattermostUser => ExpectDoc {
            written: "mattermost_user = { username, email, auth_service, same_user }",
            passes_when: "the round trip ends signed in, with these fields (each optional); `same_user = true`: as the Mattermost user id this GitLab account first signed in as in the run (what an upgrade or a move out of omnibus must keep; `false`: another id)",
        },
        ExpectKind::SsoError => ExpectDoc {
            written: "sso_error = { id, status }",
            passes_when: "Mattermost ends the round trip on its error page with the documented error: `id` is one of Mattermost's SSO error ids (listed below), and the status, when written, must be the one Mattermost uses for it (checked at parse time). A real Mattermost puts only the message on its error page, so the message that id stands for is matched",
        },
        ExpectKind::GitlabError => ExpectDoc {
            written: "gitlab_error = { description_contains }",
            passes_when: "GitLab shows its OAuth error page (\"An error has occurred\") containing the text, and Mattermost is never called back",
        },
        ExpectKind::AccessDenied => ExpectDoc {
            written: "access_denied = true",
            passes_when: "the person denied access and Mattermost shows its access-denied page (`type=oauth_access_denied`, Mattermost 4 and later; Mattermost 3.4 has no such page and answers a denial with `api.oauth.complete_oauth.missing_code.app_error`, so write that as `sso_error` on 8.x)",
        },
        ExpectKind::Post => ExpectDoc {
            written: "post = { text_contains, attachments, username, from_webhook, type }",
            passes_when: "the hook answered 200 and the post read back has these properties",
        },
        ExpectKind::WebhookError => ExpectDoc {
            written: "webhook_error = { status, id }",
            passes_when: "the hook refused with this status (and error id)",
        },
        ExpectKind::ApiError => ExpectDoc {
            written: "api_error = { status, id }",
            passes_when: "Mattermost's API refused with this status (and error id)",
        },
        ExpectKind::Certificate => ExpectDoc {
            written: "certificate = { subject_cn, san, issuer_cn, trusted }",
            passes_when: "the certificate has these fields; `trusted` (default true) is whether it verifies",
        },
        ExpectKind::Redirect => ExpectDoc {
            written: "redirect = { status, location }",
            passes_when: "status (default 301) and `Location`",
        },
        ExpectKind::Theme => ExpectDoc {
            written: "theme = \"...\" (or theme = false)",
            passes_when: "the user's theme is exactly this text (`false`: the user has no theme)",
        },
        ExpectKind::Data => ExpectDoc {
            written: "data = { users, teams, channels, posts, webhooks }",
            passes_when: "each count written equals the System Console's (channels: open and private; webhooks: incoming)",
        },
        ExpectKind::Mail => ExpectDoc {
            written: "mail = { to, from, subject, subject_contains, body_contains, link_prefix, tls, auth, downgraded, credentials_in_clear }",
            passes_when: "a message reached the mail sink with these properties (each optional): `to` a recipient address, `from` the From header as `Name <address>` (Mattermost: `FeedbackName <FeedbackEmail>`), the subject, text in its decoded body, a link starting with `link_prefix` (the verification link at the SiteURL), and how it travelled: `tls` (`none`, `starttls`, `implicit`), `auth` (`PLAIN`, `LOGIN` or `none`), `downgraded` (it crossed in plaintext on a STARTTLS port), `credentials_in_clear` (AUTH was sent without TLS)",
        },
        ExpectKind::MailError => ExpectDoc {
            written: "mail_error = { status, id, message_contains, session_end_contains }",
            passes_when: "Mattermost refused to send: its answer has this status, error id and text in its message (the mailer's error, e.g. `context deadline exceeded`, `unencrypted connection`); `session_end_contains`: how an SMTP session of the attempt ended at the mail sink, as `LISTENER: END` (e.g. `smtps: TLS handshake failed`), for what Mattermost's answer leaves out (3.x blanks the mailer's error)",
        },
        ExpectKind::NoMail => ExpectDoc {
            written: "no_mail = true",
            passes_when: "Mattermost answered success but no message and no SMTP session reached the mail sink (Mattermost 3.x with notifications off)",
        },
    }
}

named_enum! {
    /// A part of docs/scenarios.md generated from this file, between two marker lines; a test
    /// fails when the file differs (`MM_HARNESS_BLESS=1` rewrites it).
    pub enum ReferenceSection {
        /// The table of steps.
        Steps => "steps",
        /// The tables of expectations and of SSO error ids.
        Expectations => "expectations",
    }
}

impl ReferenceSection {
    /// The line before the generated text.
    pub fn begin_marker(self) -> String {
        format!(
            "<!-- BEGIN {}: generated from harness/scenario/kinds.rs, do not edit -->",
            self.name()
        )
    }

    /// The line after it.
    pub fn end_marker(self) -> String {
        format!("<!-- END {} -->", self.name())
    }

    /// The generated Markdown.
    pub fn markdown(self) -> String {
        match self {
            ReferenceSection::Steps => steps_reference(),
            ReferenceSection::Expectations => expectations_reference(),
        }
    }
}

/// The table of steps: name, arguments, what happens, the expectations each takes.
fn steps_reference() -> String {
    let mut out = String::new();
    out.push_str("| step | arguments | what happens | `expect` |\n|---|---|---|---|\n");
    for k in StepKind::ALL {
        let doc = k.doc();
        let expects = k.expectations();
        let expects = if expects.is_empty() {
            "—".to_string()
        } else {
            code_list(expects.iter().map(|e| e.name()))
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {expects} |",
            k.name(),
            doc.arguments,
            doc.effect
        );
    }
    out
}

/// The table of expectations (which steps each fits) and the SSO error ids.
fn expectations_reference() -> String {
    let mut out = String::new();
    out.push_str("| kind | fits | passes when |\n|---|---|---|\n");
    for e in ExpectKind::ALL {
        let doc = expect_doc(*e);
        let fits = code_list(
            StepKind::ALL
                .iter()
                .filter(|k| k.expectations().contains(e))
                .map(|k| k.name()),
        );
        let _ = writeln!(out, "| `{}` | {fits} | {} |", doc.written, doc.passes_when);
    }
    out.push_str(
        "\nMattermost's SSO error ids for `sso_error`, with the message its error page shows and its status on each era (a scenario's `gitlab_version` picks the era: 8.x-10.x play Mattermost 3.4, later ones 10.x; — : that Mattermost never gives the error):\n\n",
    );
    out.push_str(
        "| id | Mattermost 10.x message | status | Mattermost 3.4 message | status |\n|---|---|---|---|---|\n",
    );
    for e in sso_errors::specs() {
        let cell = |era: SsoEra| match e.on(era) {
            Some(t) => (t.message.replace('\n', " "), t.status.to_string()),
            None => ("—".to_string(), "—".to_string()),
        };
        let ((m10, s10), (m3, s3)) = (cell(SsoEra::Mattermost10), cell(SsoEra::Mattermost3));
        let _ = writeln!(out, "| `{}` | {m10} | {s10} | {m3} | {s3} |", e.id);
    }
    out
}

fn code_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_derived_from_the_step_names() {
        assert_eq!(
            StepKind::groups(),
            [
                "gitlab",
                "host",
                "sso",
                "mattermost",
                "webhook",
                "https",
                "mail"
            ]
        );
        assert_eq!(StepKind::SsoLogIn.group(), "sso");
    }

    #[test]
    fn every_expectation_fits_some_step() {
        for e in ExpectKind::ALL {
            assert!(
                StepKind::ALL.iter().any(|k| k.expectations().contains(e)),
                "no step takes `{e}`"
            );
        }
    }

    #[test]
    fn every_step_and_expectation_is_in_the_reference() {
        let steps = ReferenceSection::Steps.markdown();
        for k in StepKind::ALL {
            assert!(steps.contains(&format!("| `{}` |", k.name())), "{k}");
        }
        let expectations = ReferenceSection::Expectations.markdown();
        for e in ExpectKind::ALL {
            assert!(expectations.contains(&format!("| `{}", e.name())), "{e}");
        }
        for id in sso_errors::ids() {
            assert!(expectations.contains(id), "{id}");
        }
    }
}
