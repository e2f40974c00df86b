//! A GitLab administrator authorising Mattermost by hand (the seed's "Authorise GitLab Mattermost"
//! and "Reauthorise"): create the OAuth application with both Mattermost callback URLs, revoke it,
//! create it again. GitLab ≥ 9 has the admin applications API (`/api/v4/applications`, admin
//! token); GitLab 8.x has only the admin area's form (`/admin/applications/new`), which is driven
//! like a person: sign in as the administrator, fill the form, read the id and secret off the page.

use url::Url;

use crate::config::{Secret, Version};

use super::error::DriveError;
use super::html::Document;
use super::http::{Body, Browser, Page, Request, url_text};
use super::sso::Person;
use super::transcript::Transcript;

/// The administrator's access to GitLab.
#[derive(Debug, Clone)]
pub struct GitlabAdmin {
    pub gitlab_url: Url,
    pub gitlab_version: Version,
    /// Personal access token with `api` scope (API route).
    pub token: Option<Secret>,
    /// The administrator's account (admin-area route).
    pub root: Person,
}

/// An application GitLab created.
#[derive(Debug, Clone)]
pub struct CreatedApp {
    /// The id GitLab's API and admin area address it by.
    pub record_id: String,
    /// The OAuth client id (`application_id` / "Application ID").
    pub client_id: String,
    pub secret: Secret,
}

fn url(base: &Url, path: &str) -> Result<Url, DriveError> {
    base.join(path)
        .map_err(|e| DriveError::protocol(format!("bad GitLab URL: {e}")))
}

fn uses_api(v: Version) -> bool {
    v.major >= 9
}

fn expect_status(
    page: &Page,
    want: &[u16],
    what: &str,
    secrets: &[String],
) -> Result<(), DriveError> {
    if want.contains(&page.status) {
        return Ok(());
    }
    Err(DriveError::protocol(format!(
        "{what}: {} {} (expected {})",
        url_text(&page.url),
        page.answered(secrets),
        want.iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    )))
}

/// Create an OAuth application with these callback URLs.
pub async fn create_app(
    browser: &Browser,
    admin: &GitlabAdmin,
    name: &str,
    callbacks: &[String],
    scopes: &str,
    tr: &mut Transcript,
) -> Result<CreatedApp, DriveError> {
    if uses_api(admin.gitlab_version) {
        let token = admin.token.as_ref().ok_or_else(|| {
            DriveError::unavailable("no GitLab admin token for the applications API")
        })?;
        let req = Request::post(
            url(&admin.gitlab_url, "/api/v4/applications")?,
            Body::Form(vec![
                ("name".into(), name.into()),
                ("redirect_uri".into(), callbacks.join("\n")),
                ("scopes".into(), scopes.into()),
                ("confidential".into(), "true".into()),
            ]),
        )
        .header("PRIVATE-TOKEN", token.expose());
        let page = browser.send(req, Some("create application"), tr).await?;
        expect_status(
            &page,
            &[201],
            "creating the OAuth application",
            tr.secrets(),
        )?;
        let v = page.json()?;
        let field = |k: &str| -> Result<String, DriveError> {
            match v.get(k) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
                _ => Err(DriveError::protocol(format!(
                    "the applications API answer has no `{k}`"
                ))),
            }
        };
        let app = CreatedApp {
            record_id: field("id")?,
            client_id: field("application_id")?,
            secret: Secret::new(field("secret")?),
        };
        tr.secret(app.secret.expose());
        tr.fact(
            "application",
            format!(
                "{} callbacks={}",
                v.get("application_name")
                    .and_then(|n| n.as_str())
                    .unwrap_or(name),
                v.get("callback_url")
                    .and_then(|n| n.as_str())
                    .unwrap_or("")
                    .replace('\n', " ")
            ),
        );
        return Ok(app);
    }
    sign_in_admin(browser, admin, tr).await?;
    let new_url = url(&admin.gitlab_url, "/admin/applications/new")?;
    let page = browser
        .send(Request::get(new_url), Some("new application form"), tr)
        .await?;
    expect_status(
        &page,
        &[200],
        "opening the new application form",
        tr.secrets(),
    )?;
    let forms = Document::of(&page)?.forms();
    let form = forms
        .iter()
        .find(|f| f.has_field("doorkeeper_application[name]"))
        .ok_or_else(|| DriveError::protocol(format!("{} has no application form", page.url)))?;
    let redirect = callbacks.join("\n");
    let mut fields = form.fill(&[
        ("doorkeeper_application[name]", name),
        ("doorkeeper_application[redirect_uri]", redirect.as_str()),
    ]);
    // Scopes are checkboxes, one per scope (`doorkeeper_application[scopes][]`).
    for scope in scopes.split_whitespace() {
        fields.push(("doorkeeper_application[scopes][]".into(), scope.into()));
    }
    let action = form.action.clone().unwrap_or_else(|| page.url.clone());
    let page = browser
        .send(
            Request::post(action, Body::Form(fields)),
            Some("create application"),
            tr,
        )
        .await?;
    let show = if page.is_redirect() {
        let loc = page
            .location()
            .ok_or_else(|| DriveError::protocol("the application form redirected nowhere"))?;
        browser
            .send(Request::get(loc), Some("application page"), tr)
            .await?
    } else {
        page
    };
    expect_status(&show, &[200], "reading the new application", tr.secrets())?;
    let record_id = show
        .url
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_string))
        .filter(|s| !s.is_empty() && s != "applications")
        .ok_or_else(|| {
            DriveError::protocol(format!("{} is not an application's page", show.url))
        })?;
    let doc = Document::of(&show)?;
    let client_id = doc
        .value_or_text("#application_id")
        .or_else(|| doc.cell_after("Application ID"))
        .ok_or_else(|| DriveError::protocol("the application page shows no Application ID"))?;
    let secret = doc
        .value_or_text("#secret")
        .or_else(|| doc.cell_after("Secret"))
        .ok_or_else(|| DriveError::protocol("the application page shows no Secret"))?;
    tr.secret(&secret);
    tr.fact(
        "application",
        format!("{name} callbacks={}", callbacks.join(" ")),
    );
    Ok(CreatedApp {
        record_id,
        client_id,
        secret: Secret::new(secret),
    })
}

/// Revoke (delete) an application.
pub async fn revoke_app(
    browser: &Browser,
    admin: &GitlabAdmin,
    app: &CreatedApp,
    tr: &mut Transcript,
) -> Result<(), DriveError> {
    if uses_api(admin.gitlab_version) {
        let token = admin.token.as_ref().ok_or_else(|| {
            DriveError::unavailable("no GitLab admin token for the applications API")
        })?;
        let req = Request::delete(url(
            &admin.gitlab_url,
            &format!("/api/v4/applications/{}", app.record_id),
        )?)
        .header("PRIVATE-TOKEN", token.expose());
        let page = browser.send(req, Some("revoke application"), tr).await?;
        return expect_status(
            &page,
            &[204],
            "revoking the OAuth application",
            tr.secrets(),
        );
    }
    sign_in_admin(browser, admin, tr).await?;
    let show_url = url(
        &admin.gitlab_url,
        &format!("/admin/applications/{}", app.record_id),
    )?;
    let page = browser
        .send(Request::get(show_url.clone()), Some("application page"), tr)
        .await?;
    expect_status(&page, &[200], "opening the application page", tr.secrets())?;
    let forms = Document::of(&page)?.forms();
    let form = forms
        .iter()
        .find(|f| f.value("_method") == Some("delete"))
        .ok_or_else(|| DriveError::protocol(format!("{} has no destroy form", page.url)))?;
    let action = form.action.clone().unwrap_or(show_url);
    let page = browser
        .send(
            Request::post(action, Body::Form(form.fill(&[]))),
            Some("revoke application"),
            tr,
        )
        .await?;
    expect_status(
        &page,
        &[200, 302, 303],
        "revoking the OAuth application",
        tr.secrets(),
    )
}

/// Sign in to GitLab's web UI as the administrator (once per session).
async fn sign_in_admin(
    browser: &Browser,
    admin: &GitlabAdmin,
    tr: &mut Transcript,
) -> Result<(), DriveError> {
    tr.secret(admin.root.password.expose());
    let sign_in = url(&admin.gitlab_url, "/users/sign_in")?;
    let page = browser
        .send(Request::get(sign_in.clone()), Some("sign-in form"), tr)
        .await?;
    if page.is_redirect() {
        // Devise sends a signed-in user away from the sign-in page.
        return Ok(());
    }
    expect_status(&page, &[200], "opening GitLab's sign-in form", tr.secrets())?;
    let forms = Document::of(&page)?.forms();
    let form = forms
        .iter()
        .find(|f| f.has_field("user[login]"))
        .ok_or_else(|| DriveError::protocol(format!("{} has no sign-in form", page.url)))?;
    let fields = form.fill(&[
        ("user[login]", admin.root.login.as_str()),
        ("user[password]", admin.root.password.expose()),
        ("user[remember_me]", "0"),
    ]);
    let action = form.action.clone().unwrap_or(sign_in);
    let page = browser
        .send(
            Request::post(action, Body::Form(fields)),
            Some("sign in"),
            tr,
        )
        .await?;
    if !page.is_redirect() {
        return Err(DriveError::protocol(format!(
            "GitLab refused the administrator's credentials ({} answered {})",
            page.url, page.status
        )));
    }
    Ok(())
}
