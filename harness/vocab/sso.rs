//! GitLab SSO as scenarios, drivers, checks and the doctor name it: which path a person takes
//! ([`SsoFlavour`]), what they do on the consent page ([`Consent`]), and the Mattermost SSO errors
//! a negative scenario may expect (shared/wire/mattermost.md, from server/channels/app/oauth.go and
//! i18n/en.json): id, the English message a person sees and the HTTP status of the error page.
//!
//! A real Mattermost renders a callback error as a page pointing to `/error?message=<message>`;
//! the id itself is only in the server log. So an expectation names the id (stable, greppable) and
//! the check matches the documented message and status the id stands for.

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

/// One documented SSO error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsoErrorSpec {
    pub id: &'static str,
    pub message: &'static str,
    pub status: u16,
}

/// Every SSO callback error of wire/mattermost.md's table.
pub const SSO_ERRORS: [SsoErrorSpec; 8] = [
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.bad_response.app_error",
        message: "Bad response from token request.",
        status: 500,
    },
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.bad_token.app_error",
        message: "Bad token type.",
        status: 500,
    },
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.missing.app_error",
        message: "Missing access token.",
        status: 500,
    },
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.token_failed.app_error",
        message: "Token request failed.",
        status: 500,
    },
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.response.app_error",
        message: "Received invalid response from OAuth service provider.",
        status: 500,
    },
    SsoErrorSpec {
        id: "api.user.login_by_oauth.parse.app_error",
        message: "Could not parse auth data out of gitlab user object.",
        status: 400,
    },
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.unsupported.app_error",
        message: "gitlab SSO through OAuth 2.0 not available on this server.",
        status: 501,
    },
    SsoErrorSpec {
        id: "api.user.authorize_oauth_user.invalid_state.app_error",
        message: "Invalid state",
        status: 400,
    },
];

/// The documented error with this id.
pub fn lookup(id: &str) -> Option<&'static SsoErrorSpec> {
    SSO_ERRORS.iter().find(|e| e.id == id)
}

/// The documented error whose message this is (how an error page is recognised).
pub fn by_message(message: &str) -> Option<&'static SsoErrorSpec> {
    let m = message.trim();
    SSO_ERRORS.iter().find(|e| e.message == m)
}

/// Every id, for did-you-mean.
pub fn ids() -> impl Iterator<Item = &'static str> + Clone {
    SSO_ERRORS.iter().map(|e| e.id)
}
