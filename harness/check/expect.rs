//! Expectations: what a step's outcome must be. A step without `expect` must simply succeed (signed
//! in, post accepted, certificate trusted, a redirect); a step with one must show exactly the
//! documented outcome — a negative scenario passes only when the documented error happens, and is
//! asserted on the error itself (id and status), not on "something failed".
//!
//! Owns: the expectations ([`Expectation`], named by [`ExpectKind`]) and their check against a
//! [`StepOutput`]: one exhaustive `match` on the expectation calling one small function per kind.

use serde::Serialize;

use crate::drive::mail::MailOutcome;
use crate::drive::mattermost_admin::PostView;
use crate::drive::sso::SsoOutcome;
use crate::drive::tls_probe::CertificateView;
use crate::drive::webhook::HookAnswer;
use crate::vocab::names::named_enum;
use crate::vocab::sso;

named_enum! {
    /// Every kind of expectation, by the name a scenario file writes under `expect`.
    pub enum ExpectKind {
        MattermostUser => "mattermost_user",
        SsoError => "sso_error",
        GitlabError => "gitlab_error",
        AccessDenied => "access_denied",
        Post => "post",
        WebhookError => "webhook_error",
        ApiError => "api_error",
        Certificate => "certificate",
        Redirect => "redirect",
        Theme => "theme",
        Data => "data",
        Mail => "mail",
        MailError => "mail_error",
        NoMail => "no_mail",
    }
}

/// What must be seen after a step.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "expect")]
pub enum Expectation {
    /// The SSO round trip ends signed in to Mattermost as this user.
    MattermostUser {
        username: Option<String>,
        email: Option<String>,
        auth_service: Option<String>,
        /// `same_user = true`: the Mattermost user id is the one this GitLab account first signed
        /// in as in the run.
        same_user: Option<bool>,
    },
    /// The SSO round trip ends on Mattermost's error page with this error (documented failure).
    SsoError {
        /// Mattermost's error id, e.g. `api.user.authorize_oauth_user.bad_response.app_error`.
        id: String,
        status: u16,
    },
    /// GitLab shows its OAuth error page and never calls Mattermost back.
    GitlabError { description_contains: String },
    /// The person is sent back to Mattermost with `error=access_denied`.
    AccessDenied,
    /// The post the webhook made, read back through the API.
    Post {
        text_contains: Option<String>,
        attachments: Option<usize>,
        username: Option<String>,
        from_webhook: Option<bool>,
        post_type: Option<String>,
    },
    /// The webhook request is refused.
    WebhookError { status: u16, id: Option<String> },
    /// A Mattermost API request of the step is refused with this status (and error id).
    ApiError { status: u16, id: Option<String> },
    /// The certificate a host serves.
    Certificate {
        subject_cn: Option<String>,
        san: Option<String>,
        issuer_cn: Option<String>,
        /// Whether it verifies against the stack's CA roots for the host name, now.
        trusted: Option<bool>,
    },
    /// The http URL redirects.
    Redirect { status: u16, location: String },
    /// The user's theme as read back (`None`: no theme).
    Theme { value: Option<String> },
    /// The data counts, each when written.
    Data(DataExpect),
    /// A message reached the mail sink with these properties.
    Mail(super::mail::MailWanted),
    /// Mattermost refused to send, with this status, error id and message text.
    MailError {
        status: Option<u16>,
        id: Option<String>,
        message_contains: Option<String>,
        /// Text in how an SMTP session of the step ended at the sink.
        session_end_contains: Option<String>,
    },
    /// Mattermost answered success but nothing reached the mail sink.
    NoMail,
}

/// The counts a `data` expectation names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DataExpect {
    pub users: Option<u64>,
    pub teams: Option<u64>,
    pub channels: Option<u64>,
    pub posts: Option<u64>,
    pub webhooks: Option<u64>,
}

impl Expectation {
    /// The kind, as a scenario file names it.
    pub fn kind(&self) -> ExpectKind {
        match self {
            Expectation::MattermostUser { .. } => ExpectKind::MattermostUser,
            Expectation::SsoError { .. } => ExpectKind::SsoError,
            Expectation::GitlabError { .. } => ExpectKind::GitlabError,
            Expectation::AccessDenied => ExpectKind::AccessDenied,
            Expectation::Post { .. } => ExpectKind::Post,
            Expectation::WebhookError { .. } => ExpectKind::WebhookError,
            Expectation::ApiError { .. } => ExpectKind::ApiError,
            Expectation::Certificate { .. } => ExpectKind::Certificate,
            Expectation::Redirect { .. } => ExpectKind::Redirect,
            Expectation::Theme { .. } => ExpectKind::Theme,
            Expectation::Data(_) => ExpectKind::Data,
            Expectation::Mail(_) => ExpectKind::Mail,
            Expectation::MailError { .. } => ExpectKind::MailError,
            Expectation::NoMail => ExpectKind::NoMail,
        }
    }
}

/// What a step produced that expectations can look at.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "output", rename_all = "snake_case")]
pub enum StepOutput {
    /// The action succeeded and has nothing else to show.
    Done,
    Sso(SsoOutcome),
    Hook {
        answer: HookAnswer,
        #[serde(skip)]
        post: Option<PostView>,
    },
    Certificate(CertificateView),
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// A user's theme read back (`None`: none).
    Theme(Option<String>),
    /// The data counts read back.
    Data(crate::drive::upgrade::DataCounts),
    /// An API request refused (status ≥ 400) with Mattermost's error id.
    Refused {
        status: u16,
        id: Option<String>,
    },
    /// What a mail step made Mattermost send, or its refusal.
    Mail(MailOutcome),
}

/// Check an output against the step's expectation (or the default "it worked").
/// `Err` carries a lower-case explanation of the difference.
pub fn check(output: &StepOutput, expect: Option<&Expectation>) -> Result<(), String> {
    match expect {
        None => check_succeeded(output),
        Some(e) => check_expectation(e, output),
    }
}

/// The default expectation of a step without `expect`: it worked.
fn check_succeeded(output: &StepOutput) -> Result<(), String> {
    match output {
        StepOutput::Done | StepOutput::Theme(_) | StepOutput::Data(_) => Ok(()),
        StepOutput::Sso(o) => match o {
            SsoOutcome::SignedIn(_) => Ok(()),
            SsoOutcome::MattermostError { .. }
            | SsoOutcome::GitlabError { .. }
            | SsoOutcome::AccessDenied => {
                Err(format!("expected to be signed in, but {}", describe_sso(o)))
            }
        },
        StepOutput::Hook { answer, post } => {
            if answer.status != 200 {
                return Err(hook_refused(answer));
            }
            if post.is_none() {
                return Err("the webhook answered 200 but no post appeared".into());
            }
            Ok(())
        }
        StepOutput::Certificate(c) => match &c.verify_error {
            None => Ok(()),
            Some(e) => Err(format!("the certificate is not trusted: {e}")),
        },
        StepOutput::Refused { status, id } => Err(format!(
            "Mattermost refused the request: {status} {}",
            id.as_deref().unwrap_or("(no error id)")
        )),
        StepOutput::Redirect { status, location } => {
            if (300..400).contains(status) && location.is_some() {
                Ok(())
            } else {
                Err(format!("expected a redirect, got status {status}"))
            }
        }
        StepOutput::Mail(o) => super::mail::check_delivered(o),
    }
}

/// One function per kind of expectation.
fn check_expectation(e: &Expectation, out: &StepOutput) -> Result<(), String> {
    match e {
        Expectation::MattermostUser {
            username,
            email,
            auth_service,
            same_user,
        } => {
            let o = sso_of(e, out)?;
            check_mattermost_user(o, username, email, auth_service)?;
            check_same_user(o, *same_user)
        }
        Expectation::SsoError { id, status } => check_sso_error(sso_of(e, out)?, id, *status),
        Expectation::GitlabError {
            description_contains,
        } => check_gitlab_error(sso_of(e, out)?, description_contains),
        Expectation::AccessDenied => check_access_denied(sso_of(e, out)?),
        Expectation::Post {
            text_contains,
            attachments,
            username,
            from_webhook,
            post_type,
        } => {
            let (answer, post) = hook_of(e, out)?;
            check_post(
                answer,
                post.as_ref(),
                PostWanted {
                    text_contains: text_contains.as_deref(),
                    attachments: *attachments,
                    username: username.as_deref(),
                    from_webhook: *from_webhook,
                    post_type: post_type.as_deref(),
                },
            )
        }
        Expectation::WebhookError { status, id } => {
            check_webhook_error(hook_of(e, out)?.0, *status, id.as_deref())
        }
        Expectation::ApiError { status, id } => check_api_error(out, *status, id.as_deref()),
        Expectation::Certificate {
            subject_cn,
            san,
            issuer_cn,
            trusted,
        } => check_certificate(
            certificate_of(e, out)?,
            subject_cn,
            san.as_deref(),
            issuer_cn,
            *trusted,
        ),
        Expectation::Redirect { status, location } => {
            let StepOutput::Redirect {
                status: got,
                location: got_location,
            } = out
            else {
                return Err(cannot_check(e, out));
            };
            check_redirect(*got, got_location.as_deref(), *status, location)
        }
        Expectation::Theme { value } => {
            let StepOutput::Theme(got) = out else {
                return Err(cannot_check(e, out));
            };
            check_theme(value.as_deref(), got.as_deref())
        }
        Expectation::Data(want) => {
            let StepOutput::Data(got) = out else {
                return Err(cannot_check(e, out));
            };
            check_data(want, got)
        }
        Expectation::Mail(want) => super::mail::check_mail(mail_of(e, out)?, want),
        Expectation::MailError {
            status,
            id,
            message_contains,
            session_end_contains,
        } => super::mail::check_mail_error(
            mail_of(e, out)?,
            super::mail::MailErrorWanted {
                status: *status,
                id: id.as_deref(),
                message_contains: message_contains.as_deref(),
                session_end_contains: session_end_contains.as_deref(),
            },
        ),
        Expectation::NoMail => super::mail::check_no_mail(mail_of(e, out)?),
    }
}

fn check_theme(want: Option<&str>, got: Option<&str>) -> Result<(), String> {
    match (want, got) {
        (Some(w), Some(g)) if w == g => Ok(()),
        (None, None) => Ok(()),
        (Some(w), Some(g)) => Err(format!("expected theme {w:?}, the user's theme is {g:?}")),
        (Some(w), None) => Err(format!("expected theme {w:?}, the user has no theme")),
        (None, Some(g)) => Err(format!("expected no theme, the user's theme is {g:?}")),
    }
}

fn check_data(want: &DataExpect, got: &crate::drive::upgrade::DataCounts) -> Result<(), String> {
    let pairs = [
        ("users", want.users, got.users),
        ("teams", want.teams, got.teams),
        ("channels", want.channels, got.channels),
        ("posts", want.posts, got.posts),
        ("webhooks", want.webhooks, got.webhooks),
    ];
    let wrong: Vec<String> = pairs
        .iter()
        .filter_map(|(name, w, g)| match w {
            Some(w) if w != g => Some(format!("{name}: expected {w}, counted {g}")),
            _ => None,
        })
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("data counts differ ({})", wrong.join(", ")))
    }
}

/// An expectation met by an output of the wrong shape: the step kind and its allowed
/// expectations disagree with what the step produced (a harness bug, not the installation's).
fn cannot_check(e: &Expectation, out: &StepOutput) -> String {
    format!(
        "expectation `{}` cannot be checked against {}",
        e.kind(),
        match out {
            StepOutput::Done => "a step without output",
            StepOutput::Sso(_) => "an SSO outcome",
            StepOutput::Hook { .. } => "a webhook answer",
            StepOutput::Certificate(_) => "a certificate",
            StepOutput::Redirect { .. } => "a redirect",
            StepOutput::Theme(_) => "a theme",
            StepOutput::Data(_) => "data counts",
            StepOutput::Refused { .. } => "a refused request",
            StepOutput::Mail(_) => "a mail outcome",
        }
    )
}

fn sso_of<'o>(e: &Expectation, out: &'o StepOutput) -> Result<&'o SsoOutcome, String> {
    let StepOutput::Sso(o) = out else {
        return Err(cannot_check(e, out));
    };
    Ok(o)
}

fn hook_of<'o>(
    e: &Expectation,
    out: &'o StepOutput,
) -> Result<(&'o HookAnswer, &'o Option<PostView>), String> {
    let StepOutput::Hook { answer, post } = out else {
        return Err(cannot_check(e, out));
    };
    Ok((answer, post))
}

fn certificate_of<'o>(e: &Expectation, out: &'o StepOutput) -> Result<&'o CertificateView, String> {
    let StepOutput::Certificate(c) = out else {
        return Err(cannot_check(e, out));
    };
    Ok(c)
}

fn mail_of<'o>(e: &Expectation, out: &'o StepOutput) -> Result<&'o MailOutcome, String> {
    let StepOutput::Mail(o) = out else {
        return Err(cannot_check(e, out));
    };
    Ok(o)
}

fn describe_sso(o: &SsoOutcome) -> String {
    match o {
        SsoOutcome::SignedIn(u) => format!(
            "signed in as {} (auth service {:?})",
            u.username, u.auth_service
        ),
        SsoOutcome::MattermostError {
            status,
            message,
            id,
        } => format!(
            "Mattermost answered {status} {message:?}{}",
            id.as_ref().map(|i| format!(" ({i})")).unwrap_or_default()
        ),
        SsoOutcome::GitlabError { description } => {
            format!("GitLab showed its error page: {description:?}")
        }
        SsoOutcome::AccessDenied => "access was denied".into(),
    }
}

fn hook_refused(answer: &HookAnswer) -> String {
    format!(
        "the webhook answered {} {}",
        answer.status,
        answer.error_id.as_deref().unwrap_or(answer.body.trim())
    )
}

fn field_eq(what: &str, want: &Option<String>, got: &str) -> Result<(), String> {
    if let Some(w) = want
        && w != got
    {
        return Err(format!("expected {what} {w:?}, got {got:?}"));
    }
    Ok(())
}

fn check_mattermost_user(
    o: &SsoOutcome,
    username: &Option<String>,
    email: &Option<String>,
    auth_service: &Option<String>,
) -> Result<(), String> {
    let SsoOutcome::SignedIn(u) = o else {
        return Err(format!("expected to be signed in, but {}", describe_sso(o)));
    };
    field_eq("username", username, &u.username)?;
    field_eq("email", email, &u.email)?;
    field_eq("auth service", auth_service, &u.auth_service)
}

/// `same_user`: the id signed in as now against the one the account first signed in as (`false`:
/// it must differ, an account re-created).
fn check_same_user(o: &SsoOutcome, same_user: Option<bool>) -> Result<(), String> {
    let (Some(want), SsoOutcome::SignedIn(u)) = (same_user, o) else {
        return Ok(());
    };
    let Some(first) = &u.first_id_in_run else {
        return Err("same_user: the run recorded no earlier sign-in of this account".into());
    };
    match (want, first == &u.id) {
        (true, true) | (false, false) => Ok(()),
        (true, false) => Err(format!(
            "expected the same Mattermost user as the first sign-in ({first}), but signed in as {}",
            u.id
        )),
        (false, true) => Err(format!(
            "expected another Mattermost user than the first sign-in, but signed in as the same ({first})"
        )),
    }
}

fn check_sso_error(o: &SsoOutcome, id: &str, status: u16) -> Result<(), String> {
    let SsoOutcome::MattermostError {
        status: got_status,
        message,
        id: got_id,
    } = o
    else {
        return Err(format!(
            "expected Mattermost error {id} ({status}), but {}",
            describe_sso(o)
        ));
    };
    let spec = sso::lookup(id);
    // Either era's text: a live target may run either Mattermost (vocab/sso.rs).
    let id_matches =
        got_id.as_deref() == Some(id) || spec.is_some_and(|s| s.matches_message(message));
    if !id_matches {
        let expected = spec
            .and_then(|s| s.mattermost10.or(s.mattermost3))
            .map(|t| t.message)
            .unwrap_or("");
        return Err(format!(
            "expected Mattermost error {id} ({expected:?}), got {got_status} {message:?}{}",
            got_id
                .as_ref()
                .map(|i| format!(" ({i})"))
                .unwrap_or_default()
        ));
    }
    if *got_status != status {
        return Err(format!(
            "Mattermost error {id} came with status {got_status}, expected {status}"
        ));
    }
    Ok(())
}

fn check_gitlab_error(o: &SsoOutcome, description_contains: &str) -> Result<(), String> {
    let SsoOutcome::GitlabError { description } = o else {
        return Err(format!(
            "expected GitLab's error page ({description_contains:?}), but {}",
            describe_sso(o)
        ));
    };
    if description.contains(description_contains) {
        Ok(())
    } else {
        Err(format!(
            "GitLab's error page says {description:?}, which does not contain {description_contains:?}"
        ))
    }
}

fn check_access_denied(o: &SsoOutcome) -> Result<(), String> {
    match o {
        SsoOutcome::AccessDenied => Ok(()),
        SsoOutcome::SignedIn(_)
        | SsoOutcome::MattermostError { .. }
        | SsoOutcome::GitlabError { .. } => Err(format!(
            "expected access to be denied, but {}",
            describe_sso(o)
        )),
    }
}

/// The properties a `post` expectation asks of the post read back.
struct PostWanted<'a> {
    text_contains: Option<&'a str>,
    attachments: Option<usize>,
    username: Option<&'a str>,
    from_webhook: Option<bool>,
    post_type: Option<&'a str>,
}

fn check_post(
    answer: &HookAnswer,
    post: Option<&PostView>,
    want: PostWanted<'_>,
) -> Result<(), String> {
    if answer.status != 200 {
        return Err(hook_refused(answer));
    }
    let post = post.ok_or("the webhook answered 200 but no post appeared")?;
    if let Some(t) = want.text_contains
        && !post.all_text().contains(t)
    {
        return Err(format!(
            "the post does not contain {t:?}: {:?}",
            post.message
        ));
    }
    if let Some(n) = want.attachments
        && post.attachments() != n
    {
        return Err(format!(
            "expected {n} attachment(s), the post has {}",
            post.attachments()
        ));
    }
    if let Some(u) = want.username
        && post.override_username() != Some(u)
    {
        return Err(format!(
            "expected the post to show username {u:?}, it shows {:?}",
            post.override_username()
        ));
    }
    if let Some(w) = want.from_webhook
        && post.from_webhook() != w
    {
        return Err(format!(
            "expected from_webhook={w}, the post has {}",
            post.from_webhook()
        ));
    }
    if let Some(t) = want.post_type
        && post.post_type != t
    {
        return Err(format!(
            "expected post type {t:?}, got {:?}",
            post.post_type
        ));
    }
    Ok(())
}

fn check_webhook_error(answer: &HookAnswer, status: u16, id: Option<&str>) -> Result<(), String> {
    if answer.status != status {
        return Err(format!(
            "expected the webhook to answer {status}, it answered {} {}",
            answer.status,
            answer.error_id.as_deref().unwrap_or(answer.body.trim())
        ));
    }
    if let Some(id) = id
        && answer.error_id.as_deref() != Some(id)
    {
        return Err(format!(
            "expected webhook error {id}, got {:?}",
            answer.error_id
        ));
    }
    Ok(())
}

/// An `api_error` is met by a refusal; any other output means the request was not refused.
fn check_api_error(out: &StepOutput, status: u16, id: Option<&str>) -> Result<(), String> {
    let StepOutput::Refused { status: s, id: got } = out else {
        return Err(format!(
            "expected the API to refuse with {status}{}, but it succeeded",
            id.map(|i| format!(" ({i})")).unwrap_or_default()
        ));
    };
    if *s != status {
        return Err(format!(
            "expected the API to answer {status}, it answered {s}"
        ));
    }
    if let Some(id) = id
        && got.as_deref() != Some(id)
    {
        return Err(format!("expected API error {id}, got {got:?}"));
    }
    Ok(())
}

fn check_certificate(
    c: &CertificateView,
    subject_cn: &Option<String>,
    san: Option<&str>,
    issuer_cn: &Option<String>,
    trusted: Option<bool>,
) -> Result<(), String> {
    field_eq(
        "subject CN",
        subject_cn,
        c.subject_cn.as_deref().unwrap_or(""),
    )?;
    field_eq("issuer CN", issuer_cn, c.issuer_cn.as_deref().unwrap_or(""))?;
    if let Some(s) = san
        && !c.sans.iter().any(|x| x == s)
    {
        return Err(format!(
            "the certificate's SANs [{}] do not include {s:?}",
            c.sans.join(", ")
        ));
    }
    let want_trusted = trusted.unwrap_or(true);
    if c.trusted() != want_trusted {
        return Err(match &c.verify_error {
            Some(e) => format!("expected a trusted certificate, but: {e}"),
            None => "expected the certificate to fail verification, but it is trusted".to_string(),
        });
    }
    Ok(())
}

fn check_redirect(
    got_status: u16,
    got_location: Option<&str>,
    status: u16,
    location: &str,
) -> Result<(), String> {
    if got_status != status {
        return Err(format!("expected status {status}, got {got_status}"));
    }
    if got_location != Some(location) {
        return Err(format!(
            "expected Location {location:?}, got {got_location:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(id: &str, message: &str, status: u16) -> StepOutput {
        StepOutput::Sso(SsoOutcome::MattermostError {
            status,
            message: message.into(),
            id: Some(id.into()),
        })
    }

    #[test]
    fn sso_error_expectation_is_asserted_on_id_and_status() {
        let want = Expectation::SsoError {
            id: "api.user.authorize_oauth_user.response.app_error".into(),
            status: 500,
        };
        let right = err(
            "api.user.authorize_oauth_user.response.app_error",
            "Received invalid response from OAuth service provider.",
            500,
        );
        assert_eq!(check(&right, Some(&want)), Ok(()));
        let wrong_error = err(
            "api.user.authorize_oauth_user.bad_response.app_error",
            "Bad response from token request.",
            500,
        );
        assert!(check(&wrong_error, Some(&want)).is_err());
        let wrong_status = err(
            "api.user.authorize_oauth_user.response.app_error",
            "Received invalid response from OAuth service provider.",
            400,
        );
        assert!(check(&wrong_status, Some(&want)).is_err());
        let success = StepOutput::Sso(SsoOutcome::SignedIn(crate::drive::sso::SignedInUser {
            id: "x".into(),
            first_id_in_run: None,
            username: "alice".into(),
            email: "alice@example.com".into(),
            auth_service: "gitlab".into(),
        }));
        let e = check(&success, Some(&want)).unwrap_err();
        assert!(e.contains("signed in as alice"), "{e}");
        assert_eq!(check(&success, None), Ok(()));
        assert!(
            check(&right, None).is_err(),
            "an error is a failure by default"
        );
    }

    #[test]
    fn same_user_compares_the_id_with_the_first_sign_in_of_the_run() {
        let signed_in = |id: &str, first: Option<&str>| {
            StepOutput::Sso(SsoOutcome::SignedIn(crate::drive::sso::SignedInUser {
                id: id.into(),
                first_id_in_run: first.map(str::to_string),
                username: "alice".into(),
                email: "alice@example.com".into(),
                auth_service: "gitlab".into(),
            }))
        };
        let want = |same: bool| Expectation::MattermostUser {
            username: Some("alice".into()),
            email: None,
            auth_service: None,
            same_user: Some(same),
        };
        assert_eq!(check(&signed_in("a", Some("a")), Some(&want(true))), Ok(()));
        let e = check(&signed_in("b", Some("a")), Some(&want(true))).unwrap_err();
        assert!(
            e.contains("same Mattermost user as the first sign-in (a)"),
            "{e}"
        );
        assert_eq!(
            check(&signed_in("b", Some("a")), Some(&want(false))),
            Ok(())
        );
        assert!(check(&signed_in("a", Some("a")), Some(&want(false))).is_err());
        assert!(check(&signed_in("a", None), Some(&want(true))).is_err());
    }

    #[test]
    fn a_message_without_id_still_matches_its_documented_id() {
        let want = Expectation::SsoError {
            id: "api.user.authorize_oauth_user.bad_response.app_error".into(),
            status: 500,
        };
        let out = StepOutput::Sso(SsoOutcome::MattermostError {
            status: 500,
            message: "Bad response from token request.".into(),
            id: None,
        });
        assert_eq!(check(&out, Some(&want)), Ok(()));
    }

    #[test]
    fn a_mattermost_3_text_matches_its_id() {
        // Mattermost 3.4's i18n/en.json (v3.4.0) has no trailing period, and its errors are 307s.
        let want = Expectation::SsoError {
            id: "api.user.authorize_oauth_user.bad_token.app_error".into(),
            status: 307,
        };
        let out = StepOutput::Sso(SsoOutcome::MattermostError {
            status: 307,
            message: "Bad token type".into(),
            id: None,
        });
        assert_eq!(check(&out, Some(&want)), Ok(()));
    }
}
