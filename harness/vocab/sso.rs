//! GitLab SSO as scenarios, drivers, checks and the doctor name it: which path a person takes
//! ([`SsoFlavour`]), what they do on the consent page ([`Consent`]), and the Mattermost SSO errors
//! a negative scenario may expect: id, and per Mattermost era ([`SsoEra`]) the English message a
//! person sees and the HTTP status of the error page.
//!
//! A real Mattermost renders a callback error as a page pointing to `/error?message=<message>`;
//! the id itself is only in the server log. So an expectation names the id (stable, greppable) and
//! the check matches the documented message and status the id stands for. The two eras differ:
//! Mattermost 3.4's `i18n/en.json` (platform v3.4.0) has no trailing period on most of these texts
//! and every SSO error is a `NewLocAppError` (status 500, which `RenderWebError` answers with a
//! 307 redirect to `/error?title=..&message=..`); Mattermost 10.x (server/i18n/en.json, read at
//! mattermost/mattermost 00018c9a; server/channels/app/oauth.go, web/oauth.go) has the periods and
//! per-error statuses.

use super::names::named_enum;

named_enum! {
    /// Which SSO path a person takes: Mattermost's GitLab sign-up or its GitLab login.
    pub enum SsoFlavour {
        SignUp => "sign_up",
        LogIn => "log_in",
    }
}

named_enum! {
    /// What a person does on GitLab's consent page.
    pub enum Consent {
        Approve => "approve",
        Deny => "deny",
    }
}

/// Which Mattermost's texts and statuses: the 3.x server (GitLab 8.x omnibus, SSO under
/// `/api/v3/oauth/...`) or the 4.x-and-later one (Mattermost 10.11 in GitLab 18.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoEra {
    Mattermost3,
    Mattermost10,
}

impl SsoEra {
    /// The era of a Mattermost server by its major version.
    pub fn for_mattermost_major(major: u32) -> SsoEra {
        if major < 4 {
            SsoEra::Mattermost3
        } else {
            SsoEra::Mattermost10
        }
    }

    /// How docs and messages name the era.
    pub fn label(self) -> &'static str {
        match self {
            SsoEra::Mattermost3 => "Mattermost 3.4",
            SsoEra::Mattermost10 => "Mattermost 10.x",
        }
    }
}

/// What one era shows for an error: the message on the error page and the page's HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsoErrorText {
    pub message: &'static str,
    pub status: u16,
}

/// One documented SSO error: its id and what each era shows (`None`: that era never gives this
/// error on the SSO path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsoErrorSpec {
    pub id: &'static str,
    pub mattermost10: Option<SsoErrorText>,
    pub mattermost3: Option<SsoErrorText>,
}

impl SsoErrorSpec {
    /// What `era` shows for this error.
    pub fn on(&self, era: SsoEra) -> Option<SsoErrorText> {
        match era {
            SsoEra::Mattermost3 => self.mattermost3,
            SsoEra::Mattermost10 => self.mattermost10,
        }
    }

    /// Whether an error page's message is this error's, in either era.
    pub fn matches_message(&self, message: &str) -> bool {
        let m = message.trim();
        [self.mattermost10, self.mattermost3]
            .iter()
            .flatten()
            .any(|t| t.message == m)
    }
}

const fn text(message: &'static str, status: u16) -> Option<SsoErrorText> {
    Some(SsoErrorText { message, status })
}

/// A 3.4 `NewLocAppError` (status 500): `RenderWebError` answers 307 to the error page.
const fn v3(message: &'static str) -> Option<SsoErrorText> {
    text(message, 307)
}

/// `api.oauth.complete_oauth.missing_code.app_error` of 3.4 (i18n/en.json v3.4.0), with the
/// service as `strings.Title(service)`.
pub const MISSING_CODE_3: &str = "The service provider Gitlab did not provide an authorization code in the redirect URL.\n\nFor [Google Apps](https://docs.mattermost.com/deployment/sso-google.html) make sure your administrator enabled the Google+ API.\n\nFor [Office 365](https://docs.mattermost.com/deployment/sso-office.html) make sure the administrator of your Microsoft organization has enabled the Mattermost app.\n\nFor [GitLab](https://docs.mattermost.com/deployment/sso-gitlab.html) please make sure you followed the setup instructions.\n\nIf you reviewed the above and are still having trouble with configuration, you may post in our [Troubleshooting forum](https://forum.mattermost.org/c/general/trouble-shoot) where we'll be happy to help with issues during setup.";

/// The id a 10.x error page of `type=oauth_missing_code` stands for: 10.x redirects to
/// `/error?type=oauth_missing_code&service=Gitlab` (web/oauth.go completeOAuth), with no message in
/// the URL (the web app writes it); 3.4 puts [`MISSING_CODE_3`] in the URL under this id.
pub const MISSING_CODE_ID: &str = "api.oauth.complete_oauth.missing_code.app_error";

/// How the 10.x missing-code page is named in the table: its URL carries a type, not a message,
/// so no page message ever matches it (the driver recognises the type).
const MISSING_CODE_10: &str = "(no message: `/error?type=oauth_missing_code&service=Gitlab`)";

/// Every documented SSO callback error (shared/wire/mattermost.md; 10.x texts from
/// server/i18n/en.json, 3.4 texts from platform v3.4.0 i18n/en.json, the service as Mattermost
/// passes it: `gitlab`).
pub const SSO_ERRORS: [SsoErrorSpec; 16] = [
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.bad_response.app_error",
        mattermost10: text("Bad response from token request.", 500),
        mattermost3: v3("Bad response from token request"),
    },
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.bad_token.app_error",
        mattermost10: text("Bad token type.", 500),
        mattermost3: v3("Bad token type"),
    },
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.missing.app_error",
        mattermost10: text("Missing access token.", 500),
        mattermost3: v3("Missing access token"),
    },
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.token_failed.app_error",
        mattermost10: text("Token request failed.", 500),
        mattermost3: v3("Token request failed"),
    },
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.service.app_error",
        mattermost10: text("Token request to gitlab failed.", 500),
        mattermost3: v3("Token request to gitlab failed"),
    },
    // 3.4 reads neither reply's status (api/oauth.go v3.4.0 AuthorizeOAuthUser).
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.response.app_error",
        mattermost10: text(
            "Received invalid response from OAuth service provider.",
            500,
        ),
        mattermost3: None,
    },
    SsoErrorSpec {
        id: "api.user.login_by_oauth.parse.app_error",
        mattermost10: text("Could not parse auth data out of gitlab user object.", 400),
        mattermost3: v3("Could not parse auth data out of gitlab user object"),
    },
    SsoErrorSpec {
        id: "api.user.create_oauth_user.create.app_error",
        mattermost10: text("Could not create user out of gitlab user object.", 500),
        mattermost3: v3("Could not create user out of gitlab user object"),
    },
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.unsupported.app_error",
        mattermost10: text(
            "gitlab SSO through OAuth 2.0 not available on this server.",
            501,
        ),
        mattermost3: v3("Unsupported OAuth service provider"),
    },
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.invalid_state.app_error",
        mattermost10: text("Invalid state", 400),
        mattermost3: v3("Invalid state"),
    },
    SsoErrorSpec {
        id: "api.oauth.invalid_state_token.app_error",
        mattermost10: text("Invalid state token.", 400),
        mattermost3: None,
    },
    SsoErrorSpec {
        id: MISSING_CODE_ID,
        mattermost10: text(MISSING_CODE_10, 307),
        mattermost3: v3(MISSING_CODE_3),
    },
    // 3.4 CreateOAuthUser refuses a known AuthData (api/user.go v3.4.0); 10.x signs it in.
    SsoErrorSpec {
        id: "api.user.create_oauth_user.already_used.app_error",
        mattermost10: None,
        mattermost3: v3("This gitlab account has already been used to sign up"),
    },
    // 3.4 sign-up with a user reply that decodes but has no id or email: the empty user reaches
    // the store, whose IsValid refuses the empty email (model/user.go v3.4.0).
    SsoErrorSpec {
        id: "model.user.is_valid.email.app_error",
        mattermost10: None,
        mattermost3: v3("Invalid email"),
    },
    // The address belongs to an email account (`{{.Auth}}` = email).
    SsoErrorSpec {
        id: "api.user.create_oauth_user.already_attached.app_error",
        mattermost10: text(
            "There is already an account associated with that email address using a sign in method other than gitlab. Please sign in using email.",
            400,
        ),
        mattermost3: v3(
            "There is already an account associated with that email address using a sign in method other than gitlab. Please sign in using email.",
        ),
    },
    // 10.x CreateOAuthUser checks EnableUserCreation (app/user.go); 3.4 does not on the login
    // path, and its sign-up refuses earlier (`singup_with_oauth.disabled`).
    SsoErrorSpec {
        id: "api.user.create_user.disabled.app_error",
        mattermost10: text("User creation is disabled.", 501),
        mattermost3: None,
    },
];

/// The sign-up entry point's refusal when user creation is off. Not a callback error, but shown
/// the same way: 10.x `RenderWebError` 400 with the message (web/oauth.go signupWithOAuth); 3.4
/// `NewLocAppError` with status 501 (api/oauth.go v3.4.0:687-690), rendered with that status.
pub const SIGNUP_DISABLED: SsoErrorSpec = SsoErrorSpec {
    id: "api.oauth.singup_with_oauth.disabled.app_error",
    mattermost10: text("User sign-up is disabled.", 400),
    mattermost3: text("User sign-up is disabled.", 501),
};

fn all() -> impl Iterator<Item = &'static SsoErrorSpec> + Clone {
    SSO_ERRORS.iter().chain(std::iter::once(&SIGNUP_DISABLED))
}

/// The documented error with this id.
pub fn lookup(id: &str) -> Option<&'static SsoErrorSpec> {
    all().find(|e| e.id == id)
}

/// The documented error whose message this is, in either era (how an error page is recognised).
pub fn by_message(message: &str) -> Option<&'static SsoErrorSpec> {
    all().find(|e| e.matches_message(message))
}

/// Every id, for did-you-mean and the docs.
pub fn ids() -> impl Iterator<Item = &'static str> + Clone {
    all().map(|e| e.id)
}

/// Every documented error, in table order.
pub fn specs() -> impl Iterator<Item = &'static SsoErrorSpec> + Clone {
    all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_eras_are_recognised_by_message() {
        let spec = by_message("Bad token type").expect("3.4 text");
        assert_eq!(spec.id, "api.user.authorize_oauth_user.bad_token.app_error");
        assert_eq!(by_message("Bad token type.").map(|s| s.id), Some(spec.id));
        assert_eq!(
            spec.on(SsoEra::Mattermost3).map(|t| t.status),
            Some(307),
            "a 3.4 NewLocAppError is a 307 to the error page"
        );
        assert_eq!(
            by_message(MISSING_CODE_3).map(|s| s.id),
            Some(MISSING_CODE_ID)
        );
        assert!(
            lookup("api.user.create_oauth_user.already_used.app_error")
                .is_some_and(|s| s.on(SsoEra::Mattermost10).is_none())
        );
        assert_eq!(SsoEra::for_mattermost_major(3), SsoEra::Mattermost3);
        assert_eq!(SsoEra::for_mattermost_major(10), SsoEra::Mattermost10);
    }

    #[test]
    fn ids_are_unique_and_every_error_exists_in_an_era() {
        let ids: Vec<&str> = ids().collect();
        for (i, id) in ids.iter().enumerate() {
            assert!(!ids[i + 1..].contains(id), "{id} twice");
        }
        assert!(all().all(|e| e.mattermost3.is_some() || e.mattermost10.is_some()));
    }
}
