//! The HTML pages of the GitLab twin, shaped like GitLab's views so an HTTP-level client finds the
//! same forms, field names and texts: Devise's sign-in form (`devise/sessions/new`), Doorkeeper's
//! consent page (`doorkeeper/authorizations/new`), the trusted-application redirect page
//! (`redirect`), the error page (`error`), the admin applications pages, and GitLab's 404/422 pages.
//!
//! Owns: markup only. Every value is HTML-escaped here; handlers pass raw text.

use crate::config::version::Profile;

use super::model::OAuthApplication;
use super::request::escape;

fn layout(title: &str, csrf_token: Option<&str>, body: &str) -> String {
    let meta = csrf_token
        .map(|t| {
            format!(
                "<meta name=\"csrf-param\" content=\"authenticity_token\" />\n\
                 <meta name=\"csrf-token\" content=\"{}\" />\n",
                escape(t)
            )
        })
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html class=\"\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{} · GitLab</title>\n{meta}</head>\n<body>\n{body}\n</body>\n</html>\n",
        escape(title)
    )
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\" autocomplete=\"off\" />",
        escape(name),
        escape(value)
    )
}

/// `GET /users/sign_in`: Devise's form, with an optional flash alert.
pub fn sign_in(profile: Profile, csrf_token: &str, alert: Option<&str>) -> String {
    let flash = alert
        .map(|a| {
            format!(
                "<div class=\"flash-container\"><div class=\"flash-alert\" data-testid=\"alert-danger\">\
                 <span>{}</span></div></div>",
                escape(a)
            )
        })
        .unwrap_or_default();
    let utf8 = match profile {
        Profile::Gitlab8_12 => hidden("utf8", "✓"),
        Profile::Gitlab18_11 => String::new(),
    };
    let body = format!(
        "{flash}\n<div class=\"login-page\">\n<h1>Sign in</h1>\n\
         <form class=\"new_user gl-show-field-errors\" id=\"new_user\" aria-live=\"assertive\" \
         action=\"/users/sign_in\" accept-charset=\"UTF-8\" method=\"post\">\n{utf8}{}\n\
         <label for=\"user_login\">Username or primary email</label>\n\
         <input class=\"form-control\" autocomplete=\"username\" required=\"required\" autofocus=\"autofocus\" \
         type=\"text\" name=\"user[login]\" id=\"user_login\" />\n\
         <label for=\"user_password\">Password</label>\n\
         <input class=\"form-control\" autocomplete=\"current-password\" required=\"required\" \
         type=\"password\" name=\"user[password]\" id=\"user_password\" />\n\
         <input name=\"user[remember_me]\" type=\"hidden\" value=\"0\" autocomplete=\"off\" />\
         <input type=\"checkbox\" value=\"1\" name=\"user[remember_me]\" id=\"user_remember_me\" />\n\
         <label for=\"user_remember_me\">Remember me</label>\n\
         <button type=\"submit\" name=\"button\" class=\"btn btn-confirm\" data-testid=\"sign-in-button\">Sign in</button>\n\
         </form>\n</div>",
        hidden("authenticity_token", csrf_token)
    );
    layout("Sign in", Some(csrf_token), &body)
}

/// The authorization request carried through the consent forms.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationFields {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub response_type: String,
    pub scope: String,
    pub nonce: String,
    pub code_challenge: String,
    pub code_challenge_method: String,
}

fn authorization_hidden_fields(profile: Profile, csrf: &str, f: &AuthorizationFields) -> String {
    let mut out = String::new();
    if profile == Profile::Gitlab8_12 {
        out.push_str(&hidden("utf8", "✓"));
    }
    out.push_str(&hidden("authenticity_token", csrf));
    out.push_str(&hidden("client_id", &f.client_id));
    out.push_str(&hidden("redirect_uri", &f.redirect_uri));
    out.push_str(&hidden("state", &f.state));
    out.push_str(&hidden("response_type", &f.response_type));
    out.push_str(&hidden("scope", &f.scope));
    if profile == Profile::Gitlab18_11 {
        out.push_str(&hidden("nonce", &f.nonce));
        out.push_str(&hidden("code_challenge", &f.code_challenge));
        out.push_str(&hidden("code_challenge_method", &f.code_challenge_method));
    }
    out
}

/// The scope texts of the consent page: GitLab 8.12's `config/locales/doorkeeper.en.yml`
/// (gitlab-ce v8.12.11: `doorkeeper.scopes.api: Access your API`, the only scope it has), and
/// current GitLab's `doorkeeper.scope_desc` (the 18.x texts).
fn scope_description(profile: Profile, scope: &str) -> &'static str {
    match profile {
        Profile::Gitlab8_12 => match scope {
            "api" => "Access your API",
            _ => "",
        },
        Profile::Gitlab18_11 => match scope {
            "api" => {
                "Grants complete read/write access to the API, including all groups and projects, \
                 the container registry, the dependency proxy, and the package registry."
            }
            "read_user" => {
                "Grants read-only access to your profile through the /user API endpoint, which includes \
                 username, public email, and full name. Also grants access to read-only API endpoints under /users."
            }
            "read_api" => "Grants read access to the API, including all groups and projects.",
            "openid" => {
                "Grants permission to authenticate with GitLab using OpenID Connect. Also gives read-only \
                 access to the user's profile and group memberships."
            }
            "profile" => "Grants read-only access to the user's profile data using OpenID Connect.",
            "email" => {
                "Grants read-only access to the user's primary email address using OpenID Connect."
            }
            _ => "Grants access as the scope name says.",
        },
    }
}

/// `GET /oauth/authorize` for an application the user has not approved: the consent page, as
/// each version's `doorkeeper/authorizations/new.html.haml` draws it.
pub fn consent(
    profile: Profile,
    csrf: &str,
    app: &OAuthApplication,
    user: ConsentUser<'_>,
    fields: &AuthorizationFields,
) -> String {
    match profile {
        Profile::Gitlab8_12 => consent_8_12(csrf, app, user.admin, fields),
        Profile::Gitlab18_11 => consent_current(csrf, app, user, fields),
    }
}

/// Who is signed in, as the consent page shows them.
#[derive(Debug, Clone, Copy)]
pub struct ConsentUser<'a> {
    pub username: &'a str,
    pub name: &'a str,
    pub admin: bool,
}

/// `doorkeeper.scopes.<scope>`, the title of a scope on the current consent page (GitLab's
/// config/locales/doorkeeper.en.yml, newest stored copy); the scope's name where none is known.
fn scope_title(scope: &str) -> &str {
    match scope {
        "api" => "Access the authenticated user's API",
        "read_user" => "Read the authenticated user's personal information",
        "openid" => "Authenticate using OpenID Connect",
        "profile" => {
            "Allows read-only access to the user's personal information using OpenID Connect"
        }
        "email" => {
            "Allows read-only access to the user's primary email address using OpenID Connect"
        }
        other => other,
    }
}

/// GitLab 8.12 (gitlab-ce v8.12.11 `app/views/doorkeeper/authorizations/new.html.haml`):
/// "Authorization required", "Authorize NAME to use your account?", the admin warning, the scope
/// list, then the approve form (`submit_tag "Authorize"`) before the deny form (`submit_tag
/// "Deny"`, `method: :delete`). `form_tag` puts `utf8` (and `_method`) before the token.
fn consent_8_12(
    csrf: &str,
    app: &OAuthApplication,
    admin: bool,
    f: &AuthorizationFields,
) -> String {
    let name = escape(&app.name);
    let warning = if admin {
        format!(
            "<div class=\"text-warning prepend-top-20\"><p>You are an admin, which means granting access to \
             <strong>{name}</strong> will allow them to interact with GitLab as an admin as well. \
             Proceed with caution.</p></div>\n"
        )
    } else {
        String::new()
    };
    let scopes: String = f
        .scope
        .split_whitespace()
        .map(|s| {
            format!(
                "<li>{}</li>",
                escape(scope_description(Profile::Gitlab8_12, s))
            )
        })
        .collect();
    let form_fields = |method_delete: bool| {
        let mut out = hidden("utf8", "✓");
        if method_delete {
            out.push_str(&hidden("_method", "delete"));
        }
        out.push_str(&hidden("authenticity_token", csrf));
        out.push_str(&hidden("client_id", &f.client_id));
        out.push_str(&hidden("redirect_uri", &f.redirect_uri));
        out.push_str(&hidden("state", &f.state));
        out.push_str(&hidden("response_type", &f.response_type));
        out.push_str(&hidden("scope", &f.scope));
        out
    };
    let body = format!(
        "<h3 class=\"page-title\">Authorization required</h3>\n<main role=\"main\">\n\
         <p class=\"h4\">Authorize <strong class=\"text-info\">{name}</strong> to use your account?</p>\n\
         {warning}<div id=\"oauth-permissions\"><p>This application will be able to:</p>\
         <ul class=\"text-info\">{scopes}</ul></div>\n<hr />\n<div class=\"actions\">\n\
         <form action=\"/oauth/authorize\" accept-charset=\"UTF-8\" method=\"post\">{approve}\
         <input type=\"submit\" name=\"commit\" value=\"Authorize\" class=\"btn btn-success wide pull-left\" /></form>\n\
         <form action=\"/oauth/authorize\" accept-charset=\"UTF-8\" method=\"post\">{deny}\
         <input type=\"submit\" name=\"commit\" value=\"Deny\" class=\"btn btn-danger prepend-left-10\" /></form>\n\
         </div>\n</main>",
        approve = form_fields(false),
        deny = form_fields(true),
    );
    layout("Authorize", Some(csrf), &body)
}

/// Current GitLab (newest stored `app/views/doorkeeper/authorizations/new.html.haml` @36408c40;
/// the v18.11 tag itself could not be read, docs/twin.md): "**name** is requesting access to your
/// account on GitLab.", the signed-in user, the administrator warning, one accordion per scope
/// (title from `doorkeeper.scopes`, description from `doorkeeper.scope_desc`), "Make sure you
/// trust **name** before authorizing." with the callback's domain, then the approve form
/// ("Authorize name", testid `authorization-button`) before the deny form ("Cancel").
fn consent_current(
    csrf: &str,
    app: &OAuthApplication,
    user: ConsentUser<'_>,
    fields: &AuthorizationFields,
) -> String {
    let profile = Profile::Gitlab18_11;
    let name = escape(&app.name);
    let warning = if user.admin {
        format!(
            "<div class=\"gl-alert gl-alert-warning gl-mb-5\" role=\"alert\"><div class=\"gl-alert-body\">\
             You are an administrator, which means authorizing access to <strong>{name}</strong> will \
             allow it to interact with GitLab as an administrator as well.</div></div>\n"
        )
    } else {
        String::new()
    };
    let scopes: String = fields
        .scope
        .split_whitespace()
        .map(|s| {
            format!(
                "<div class=\"js-experimental-setting-accordion gl-mb-5\"><div class=\"gl-accordion-item\">\
                 <h3 class=\"gl-accordion-item-header\"><button type=\"button\" class=\"btn btn-link !gl-text-default gl-font-bold\" aria-expanded=\"false\">{}</button></h3>\
                 <div class=\"gl-text-subtle gl-text-sm\" hidden>{}</div></div></div>\n",
                escape(scope_title(s)),
                escape(scope_description(profile, s))
            )
        })
        .collect();
    // `URI.parse(redirect_uri).host` without `www.`, shown for http(s) callbacks not on localhost.
    let domain = url::Url::parse(&fields.redirect_uri)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .and_then(|u| {
            u.host_str()
                .map(|h| h.trim_start_matches("www.").to_string())
        })
        .filter(|h| h != "localhost")
        .map(|d| {
            format!(
                "You will be redirected to <strong>{}</strong> after authorizing.",
                escape(&d)
            )
        })
        .unwrap_or_default();
    let hidden = authorization_hidden_fields(profile, csrf, fields);
    let body = format!(
        "<div class=\"gl-ml-auto gl-mr-auto sm:gl-w-1/2\">\n<div class=\"gl-items-center\">\n\
         <div class=\"gl-text-size-h1\"><strong>{name}</strong> is requesting access to your account on GitLab.</div>\n\
         <div class=\"gl-flex gl-items-center gl-gap-2 gl-py-5\">\
         <img class=\"gl-avatar gl-avatar-circle gl-avatar-s24\" data-testid=\"user_avatar_content\" title=\"{username}\" alt=\"\" />\
         <div class=\"gl-pl-1\"><strong>{full_name}</strong></div>&middot;\
         <div class=\"gl-text-subtle\"><span>@{username}</span></div></div>\n</div>\n\
         {warning}{scopes}\
         <div class=\"info-well\"><div class=\"well-segment\">\
         <p class=\"gl-text-warning\">Make sure you trust <strong>{name}</strong> before authorizing.</p>\
         <p>{domain}</p></div></div>\n\
         <div>\n\
         <form class=\"gl-inline-block gl-pr-3\" action=\"/oauth/authorize\" accept-charset=\"UTF-8\" method=\"post\">{hidden}\
         <button type=\"submit\" class=\"btn btn-confirm btn-md gl-button\" data-testid=\"authorization-button\">Authorize {name}</button></form>\n\
         <form class=\"gl-inline-block\" action=\"/oauth/authorize\" accept-charset=\"UTF-8\" method=\"post\">\
         <input type=\"hidden\" name=\"_method\" value=\"delete\" autocomplete=\"off\" />{hidden}\
         <button type=\"submit\" class=\"btn btn-default btn-md gl-button\">Cancel</button></form>\n\
         </div>\n</div>",
        username = escape(user.username),
        full_name = escape(user.name),
    );
    layout("Authorize", Some(csrf), &body)
}

/// The page GitLab (>= 15.x) renders instead of a 302 when the authorization is granted without
/// consent: a link to the callback and a script following it.
pub fn redirect_page(redirect_uri: &str) -> String {
    let href = escape(redirect_uri);
    let body = format!(
        "<h3 class=\"page-title\">Redirecting</h3>\n<div>\n\
         <a href=\"{href}\" data-testid=\"redirect-link\">Click here to redirect to {href}</a>\n</div>\n\
         <script>window.location.href = document.querySelector('a[data-testid=redirect-link]').href;</script>"
    );
    layout("Redirecting", None, &body)
}

/// Doorkeeper's error page for a request it cannot send back to the client.
pub fn authorization_error(description: &str) -> String {
    let body = format!(
        "<div class=\"modal-header\"><h3 class=\"page-title\">An error has occurred</h3></div>\n\
         <main role=\"main\"><div class=\"modal-body\"><pre>{}</pre></div></main>",
        escape(description)
    );
    layout("An error has occurred", None, &body)
}

/// GitLab's 404 page.
pub fn not_found() -> String {
    layout(
        "The page could not be found or you don't have permission to view it.",
        None,
        "<h1>404</h1>\n<h3>Page Not Found</h3>\n\
         <p>The page could not be found or you don't have permission to view it.</p>",
    )
}

/// Rails' 422 page (invalid authenticity token).
pub fn unprocessable() -> String {
    layout(
        "The change you requested was rejected (422)",
        None,
        "<h1>422</h1>\n<h3>The change you requested was rejected.</h3>\n\
         <p>Make sure you have access to the thing you tried to change.</p>",
    )
}

/// The dashboard a signed-in user lands on.
pub fn dashboard(csrf: &str, username: &str) -> String {
    let body = format!(
        "<header><span class=\"current-user\" data-username=\"{u}\">{u}</span>\
         <form action=\"/users/sign_out\" method=\"post\">{}{}<button type=\"submit\">Sign out</button></form></header>\n\
         <h1>Projects</h1>",
        hidden("_method", "delete"),
        hidden("authenticity_token", csrf),
        u = escape(username)
    );
    layout("Projects", Some(csrf), &body)
}

/// `GET /admin/applications`.
pub fn admin_applications(csrf: &str, apps: &[OAuthApplication]) -> String {
    let rows: String = apps
        .iter()
        .map(|a| {
            format!(
                "<tr id=\"application_{id}\"><td><a href=\"/admin/applications/{id}\">{name}</a></td>\
                 <td>{cb}</td><td><form action=\"/admin/applications/{id}\" method=\"post\">{}{}\
                 <button type=\"submit\">Destroy</button></form></td></tr>",
                hidden("_method", "delete"),
                hidden("authenticity_token", csrf),
                id = a.id,
                name = escape(&a.name),
                cb = escape(&a.callback_url()).replace('\n', "<br>"),
            )
        })
        .collect();
    let body = format!(
        "<h1>System OAuth applications</h1>\n<a href=\"/admin/applications/new\">New application</a>\n\
         <table class=\"table\"><thead><tr><th>Name</th><th>Callback URL</th><th></th></tr></thead>\
         <tbody>{rows}</tbody></table>"
    );
    layout("Applications", Some(csrf), &body)
}

/// `GET /admin/applications/new` (and the form re-rendered with errors).
pub fn admin_application_form(
    profile: Profile,
    csrf: &str,
    errors: &[String],
    name: &str,
    redirect_uri: &str,
) -> String {
    let errors_html = if errors.is_empty() {
        String::new()
    } else {
        let items: String = errors
            .iter()
            .map(|e| format!("<li>{}</li>", escape(e)))
            .collect();
        format!("<div class=\"alert alert-danger\" id=\"error_explanation\"><ul>{items}</ul></div>")
    };
    // GitLab 8.12's `admin/applications/_form.html.haml` (v8.12.11) has name and redirect URI only.
    let form_scopes = match profile {
        Profile::Gitlab8_12 => &[][..],
        Profile::Gitlab18_11 => super::model::server_scopes(profile),
    };
    let scopes: String = form_scopes
        .iter()
        .map(|s| {
            format!(
                "<input type=\"checkbox\" name=\"doorkeeper_application[scopes][]\" value=\"{s}\" \
                 id=\"doorkeeper_application_scopes_{s}\" /><label for=\"doorkeeper_application_scopes_{s}\">{s}</label>"
            )
        })
        .collect();
    let extra = match profile {
        Profile::Gitlab8_12 => String::new(),
        Profile::Gitlab18_11 => "<input name=\"doorkeeper_application[trusted]\" type=\"hidden\" value=\"0\" />\
             <input type=\"checkbox\" value=\"1\" name=\"doorkeeper_application[trusted]\" id=\"doorkeeper_application_trusted\" />\
             <label for=\"doorkeeper_application_trusted\">Trusted</label>\
             <input name=\"doorkeeper_application[confidential]\" type=\"hidden\" value=\"0\" />\
             <input type=\"checkbox\" value=\"1\" checked=\"checked\" name=\"doorkeeper_application[confidential]\" id=\"doorkeeper_application_confidential\" />\
             <label for=\"doorkeeper_application_confidential\">Confidential</label>"
            .to_string(),
    };
    let body = format!(
        "<h1>New application</h1>\n{errors_html}\n\
         <form class=\"new_doorkeeper_application\" id=\"new_doorkeeper_application\" action=\"/admin/applications\" \
         accept-charset=\"UTF-8\" method=\"post\">{}\n\
         <label for=\"doorkeeper_application_name\">Name</label>\
         <input type=\"text\" name=\"doorkeeper_application[name]\" id=\"doorkeeper_application_name\" value=\"{}\" />\n\
         <label for=\"doorkeeper_application_redirect_uri\">Redirect URI</label>\
         <textarea name=\"doorkeeper_application[redirect_uri]\" id=\"doorkeeper_application_redirect_uri\">{}</textarea>\n\
         <span class=\"form-text\">Use one line per URI</span>\n{extra}\n{scopes}\n\
         <input type=\"submit\" name=\"commit\" value=\"Submit\" class=\"btn btn-confirm\" />\n</form>",
        hidden("authenticity_token", csrf),
        escape(name),
        escape(redirect_uri),
    );
    layout("New application", Some(csrf), &body)
}

/// `GET /admin/applications/:id`: Application ID, Secret (when it may be shown), callbacks.
pub fn admin_application(
    profile: Profile,
    csrf: &str,
    app: &OAuthApplication,
    show_secret: bool,
) -> String {
    if profile == Profile::Gitlab8_12 {
        return admin_application_8_12(csrf, app);
    }
    let secret = if show_secret {
        format!(
            "<input type=\"text\" readonly=\"readonly\" id=\"secret\" class=\"form-control\" value=\"{}\" />",
            escape(app.secret.expose())
        )
    } else {
        "<span class=\"gl-text-secondary\">This is the only time the secret is accessible. \
         Copy the secret and store it securely.</span> <form action=\"/admin/applications/ID/renew\" method=\"post\">\
         AUTH<button type=\"submit\">Renew secret</button></form>"
            .replace("ID", &app.id.to_string())
            .replace("AUTH", &hidden("authenticity_token", csrf))
    };
    let callbacks: String = app
        .redirect_uris
        .iter()
        .map(|u| format!("<div><code>{}</code></div>", escape(u)))
        .collect();
    let body = format!(
        "<h1>Application: {name}</h1>\n<table class=\"table\">\n\
         <tr><td>Application ID</td><td><input type=\"text\" readonly=\"readonly\" id=\"application_id\" \
         class=\"form-control\" value=\"{uid}\" /></td></tr>\n\
         <tr><td>Secret</td><td>{secret}</td></tr>\n\
         <tr><td>Callback URL</td><td>{callbacks}</td></tr>\n\
         <tr><td>Trusted</td><td>{trusted}</td></tr>\n\
         <tr><td>Confidential</td><td>{confidential}</td></tr>\n</table>\n\
         <form action=\"/admin/applications/{id}\" method=\"post\">{}{}<button type=\"submit\">Destroy</button></form>",
        hidden("_method", "delete"),
        hidden("authenticity_token", csrf),
        id = app.id,
        name = escape(&app.name),
        uid = escape(&app.uid),
        trusted = if app.trusted { "Y" } else { "N" },
        confidential = if app.confidential { "Y" } else { "N" },
    );
    layout("Application", Some(csrf), &body)
}

/// GitLab 8.12's application page (`admin/applications/show.html.haml` v8.12.11): a table whose
/// cells are `%code#application_id= @application.uid` and `%code#secret= @application.secret`
/// (always shown), the callback URLs as `%span.monospace`, and `_delete_form` (`_method=delete`,
/// `submit_tag 'Destroy'`).
fn admin_application_8_12(csrf: &str, app: &OAuthApplication) -> String {
    let callbacks: String = app
        .redirect_uris
        .iter()
        .map(|u| format!("<div><span class=\"monospace\">{}</span></div>", escape(u)))
        .collect();
    let body = format!(
        "<h3 class=\"page-title\">Application: {name}</h3>\n<table class=\"table\">\n\
         <tr><td>Application Id</td><td><code id=\"application_id\">{uid}</code></td></tr>\n\
         <tr><td>Secret:</td><td><code id=\"secret\">{secret}</code></td></tr>\n\
         <tr><td>Callback url</td><td>{callbacks}</td></tr>\n</table>\n\
         <form action=\"/admin/applications/{id}\" method=\"post\">{}{}\
         <input type=\"submit\" name=\"commit\" value=\"Destroy\" class=\"btn btn-danger prepend-left-10\" /></form>",
        hidden("_method", "delete"),
        hidden("authenticity_token", csrf),
        id = app.id,
        name = escape(&app.name),
        uid = escape(&app.uid),
        secret = escape(app.secret.expose()),
    );
    layout("Application", Some(csrf), &body)
}
