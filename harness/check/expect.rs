//! Expectations: what a step's outcome must be. A step without `expect` must simply succeed (signed
//! in, post accepted, certificate trusted, a redirect); a step with one must show exactly the
//! documented outcome — a negative scenario passes only when the documented error happens, and is
//! asserted on the error itself (id and status), not on "something failed".

use serde::Serialize;

use crate::drive::mattermost_admin::PostView;
use crate::drive::sso::SsoOutcome;
use crate::drive::tls_probe::CertificateView;
use crate::drive::webhook::HookAnswer;
use crate::scenario::Expectation;
use crate::scenario::sso_errors;

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
    /// An API request refused (status ≥ 400) with Mattermost's error id.
    Refused {
        status: u16,
        id: Option<String>,
    },
}

/// Check an output against the step's expectation (or the default "it worked").
/// `Err` carries a lower-case explanation of the difference.
pub fn check(output: &StepOutput, expect: Option<&Expectation>) -> Result<(), String> {
    match (expect, output) {
        (None, StepOutput::Done) => Ok(()),
        (None, StepOutput::Sso(o)) => match o {
            SsoOutcome::SignedIn(_) => Ok(()),
            other => Err(format!(
                "expected to be signed in, but {}",
                describe_sso(other)
            )),
        },
        (None, StepOutput::Hook { answer, post }) => {
            if answer.status != 200 {
                return Err(format!(
                    "the webhook answered {} {}",
                    answer.status,
                    answer.error_id.as_deref().unwrap_or(answer.body.trim())
                ));
            }
            if post.is_none() {
                return Err("the webhook answered 200 but no post appeared".into());
            }
            Ok(())
        }
        (None, StepOutput::Certificate(c)) => match &c.verify_error {
            None => Ok(()),
            Some(e) => Err(format!("the certificate is not trusted: {e}")),
        },
        (None, StepOutput::Refused { status, id }) => Err(format!(
            "Mattermost refused the request: {status} {}",
            id.as_deref().unwrap_or("(no error id)")
        )),
        (None, StepOutput::Redirect { status, location }) => {
            if (300..400).contains(status) && location.is_some() {
                Ok(())
            } else {
                Err(format!("expected a redirect, got status {status}"))
            }
        }
        (Some(e), out) => check_expectation(e, out),
    }
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

fn field_eq(what: &str, want: &Option<String>, got: &str) -> Result<(), String> {
    match want {
        Some(w) if w != got => Err(format!("expected {what} {w:?}, got {got:?}")),
        _ => Ok(()),
    }
}

fn check_expectation(e: &Expectation, out: &StepOutput) -> Result<(), String> {
    match (e, out) {
        (
            Expectation::MattermostUser {
                username,
                email,
                auth_service,
            },
            StepOutput::Sso(o),
        ) => match o {
            SsoOutcome::SignedIn(u) => {
                field_eq("username", username, &u.username)?;
                field_eq("email", email, &u.email)?;
                field_eq("auth service", auth_service, &u.auth_service)
            }
            other => Err(format!(
                "expected to be signed in, but {}",
                describe_sso(other)
            )),
        },
        (Expectation::SsoError { id, status }, StepOutput::Sso(o)) => match o {
            SsoOutcome::MattermostError {
                status: got_status,
                message,
                id: got_id,
            } => {
                let spec = sso_errors::lookup(id);
                let id_matches = got_id.as_deref() == Some(id.as_str())
                    || spec.is_some_and(|s| s.message == message.trim());
                if !id_matches {
                    return Err(format!(
                        "expected Mattermost error {id} ({:?}), got {got_status} {message:?}{}",
                        spec.map(|s| s.message).unwrap_or(""),
                        got_id
                            .as_ref()
                            .map(|i| format!(" ({i})"))
                            .unwrap_or_default()
                    ));
                }
                if got_status != status {
                    return Err(format!(
                        "Mattermost error {id} came with status {got_status}, expected {status}"
                    ));
                }
                Ok(())
            }
            other => Err(format!(
                "expected Mattermost error {id} ({status}), but {}",
                describe_sso(other)
            )),
        },
        (
            Expectation::GitlabError {
                description_contains,
            },
            StepOutput::Sso(o),
        ) => match o {
            SsoOutcome::GitlabError { description } => {
                if description.contains(description_contains.as_str()) {
                    Ok(())
                } else {
                    Err(format!(
                        "GitLab's error page says {description:?}, which does not contain {description_contains:?}"
                    ))
                }
            }
            other => Err(format!(
                "expected GitLab's error page ({description_contains:?}), but {}",
                describe_sso(other)
            )),
        },
        (Expectation::AccessDenied, StepOutput::Sso(o)) => match o {
            SsoOutcome::AccessDenied => Ok(()),
            other => Err(format!(
                "expected access to be denied, but {}",
                describe_sso(other)
            )),
        },
        (
            Expectation::Post {
                text_contains,
                attachments,
                username,
                from_webhook,
                post_type,
            },
            StepOutput::Hook { answer, post },
        ) => {
            if answer.status != 200 {
                return Err(format!(
                    "the webhook answered {} {}",
                    answer.status,
                    answer.error_id.as_deref().unwrap_or(answer.body.trim())
                ));
            }
            let post = post
                .as_ref()
                .ok_or("the webhook answered 200 but no post appeared")?;
            if let Some(t) = text_contains
                && !post.all_text().contains(t.as_str())
            {
                return Err(format!(
                    "the post does not contain {t:?}: {:?}",
                    post.message
                ));
            }
            if let Some(n) = attachments
                && post.attachments() != *n
            {
                return Err(format!(
                    "expected {n} attachment(s), the post has {}",
                    post.attachments()
                ));
            }
            if let Some(u) = username
                && post.override_username() != Some(u.as_str())
            {
                return Err(format!(
                    "expected the post to show username {u:?}, it shows {:?}",
                    post.override_username()
                ));
            }
            if let Some(w) = from_webhook
                && post.from_webhook() != *w
            {
                return Err(format!(
                    "expected from_webhook={w}, the post has {}",
                    post.from_webhook()
                ));
            }
            if let Some(t) = post_type
                && &post.post_type != t
            {
                return Err(format!(
                    "expected post type {t:?}, got {:?}",
                    post.post_type
                ));
            }
            Ok(())
        }
        (Expectation::WebhookError { status, id }, StepOutput::Hook { answer, .. }) => {
            if answer.status != *status {
                return Err(format!(
                    "expected the webhook to answer {status}, it answered {} {}",
                    answer.status,
                    answer.error_id.as_deref().unwrap_or(answer.body.trim())
                ));
            }
            if let Some(id) = id
                && answer.error_id.as_deref() != Some(id.as_str())
            {
                return Err(format!(
                    "expected webhook error {id}, got {:?}",
                    answer.error_id
                ));
            }
            Ok(())
        }
        (
            Expectation::Certificate {
                subject_cn,
                san,
                issuer_cn,
                trusted,
            },
            StepOutput::Certificate(c),
        ) => {
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
                    None => "expected the certificate to fail verification, but it is trusted"
                        .to_string(),
                });
            }
            Ok(())
        }
        (Expectation::ApiError { status, id }, out) => match out {
            StepOutput::Refused { status: s, id: got } => {
                if s != status {
                    return Err(format!(
                        "expected the API to answer {status}, it answered {s}"
                    ));
                }
                if let Some(id) = id
                    && got.as_deref() != Some(id.as_str())
                {
                    return Err(format!("expected API error {id}, got {got:?}"));
                }
                Ok(())
            }
            _ => Err(format!(
                "expected the API to refuse with {status}{}, but it succeeded",
                id.as_ref().map(|i| format!(" ({i})")).unwrap_or_default()
            )),
        },
        (
            Expectation::Redirect { status, location },
            StepOutput::Redirect {
                status: s,
                location: l,
            },
        ) => {
            if s != status {
                return Err(format!("expected status {status}, got {s}"));
            }
            if l.as_deref() != Some(location.as_str()) {
                return Err(format!("expected Location {location:?}, got {l:?}"));
            }
            Ok(())
        }
        (e, out) => Err(format!(
            "expectation {e:?} cannot be checked against {}",
            match out {
                StepOutput::Done => "a step without output",
                StepOutput::Sso(_) => "an SSO outcome",
                StepOutput::Hook { .. } => "a webhook answer",
                StepOutput::Certificate(_) => "a certificate",
                StepOutput::Redirect { .. } => "a redirect",
                StepOutput::Refused { .. } => "a refused request",
            }
        )),
    }
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
}
