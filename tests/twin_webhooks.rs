//! The twin Mattermost's incoming webhooks, tested from the outside with plain reqwest against the
//! served router (no harness driver): `/hooks/{id}` with JSON, form `payload=` (what GitLab's
//! integration sends) and multipart bodies; channel resolution, overrides, attachments, and every
//! error of wire/mattermost.md on both profiles.

use std::sync::Arc;

use mm_harness::config::model::{MattermostSettings, Secret};
use mm_harness::config::version::Profile;
use mm_harness::twin::mattermost::{MattermostAdmin, MattermostTwin, MattermostTwinConfig};
use serde_json::{Value, json};

use crate::support::mattermost as mm_support;

use mm_support::{MM_SITE as SITE, MmApi, assert_app_error, mm_client, serve};

struct Mm {
    twin: Arc<MattermostTwin>,
    http: reqwest::Client,
    client: MmApi,
}

impl Mm {
    async fn start(profile: Profile, tweak: impl FnOnce(&mut MattermostSettings)) -> Mm {
        mm_harness::crypto::install_default_provider();
        let mut settings = MattermostSettings::defaults(profile);
        settings.service.site_url = SITE.to_string();
        tweak(&mut settings);
        let twin = MattermostTwin::new(MattermostTwinConfig {
            profile,
            settings,
            admin: MattermostAdmin {
                username: "root".into(),
                email: "root@example.com".into(),
                password: Secret::new("Root-Passw0rd!"),
            },
            ..Default::default()
        });
        let addr = serve(twin.router()).await;
        let v = if profile == Profile::Gitlab8_12 {
            "v3"
        } else {
            "v4"
        };
        let client = MmApi::login(addr, v, "root@example.com", "Root-Passw0rd!")
            .await
            .unwrap();
        Mm {
            twin,
            http: mm_client(addr),
            client,
        }
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.client.call(method, path, body).await
    }

    /// Team `dev` (with town-square, off-topic) and a hook on town-square: (team id, hook id).
    async fn team_and_hook(&self, locked: bool) -> (String, String, String) {
        let (s, team) = self
            .api(
                reqwest::Method::POST,
                "/api/v4/teams",
                Some(json!({"name": "dev", "display_name": "Dev", "type": "O"})),
            )
            .await;
        assert_eq!(s, 201, "{team}");
        let team_id = team["id"].as_str().unwrap().to_string();
        let (s, ch) = self
            .api(
                reqwest::Method::GET,
                &format!("/api/v4/teams/{team_id}/channels/name/town-square"),
                None,
            )
            .await;
        assert_eq!(s, 200);
        let channel_id = ch["id"].as_str().unwrap().to_string();
        let (s, hook) = self
            .api(
                reqwest::Method::POST,
                "/api/v4/hooks/incoming",
                Some(json!({"channel_id": channel_id, "display_name": "GitLab", "description": "pushes", "channel_locked": locked})),
            )
            .await;
        assert_eq!(s, 201, "{hook}");
        assert_eq!(hook["channel_id"], channel_id.as_str());
        assert_eq!(hook["team_id"], team_id.as_str());
        (
            team_id,
            channel_id,
            hook["id"].as_str().unwrap().to_string(),
        )
    }

    async fn posts(&self, channel_id: &str) -> Vec<Value> {
        let (s, list) = self
            .api(
                reqwest::Method::GET,
                &format!("/api/v4/channels/{channel_id}/posts"),
                None,
            )
            .await;
        assert_eq!(s, 200);
        list["order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| list["posts"][id.as_str().unwrap()].clone())
            .collect()
    }

    async fn hook_json(&self, hook: &str, body: Value) -> (u16, String, Value) {
        let resp = self
            .http
            .post(format!("{SITE}/hooks/{hook}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = resp.text().await.unwrap();
        (
            status,
            ct,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

#[tokio::test]
async fn json_form_and_multipart_payloads_each_create_a_post() {
    let mm = Mm::start(Profile::Gitlab18_11, |_| {}).await;
    let (team_id, town, hook) = mm.team_and_hook(false).await;

    let (s, ct, body) = mm
        .hook_json(
            &hook,
            json!({"text": "Build <https://ci.example.com/1|#1> passed <!channel>"}),
        )
        .await;
    assert_eq!(
        (s, ct.as_str(), body),
        (200, "text/plain", Value::String("ok".into()))
    );

    // GitLab's Mattermost integration posts form-encoded `payload=<json>`.
    let payload = json!({"text": "alice pushed to branch main", "channel": "#off-topic", "username": "gitlab"});
    let resp = mm
        .http
        .post(format!("{SITE}/hooks/{hook}"))
        .form(&[("payload", payload.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");

    let form = reqwest::multipart::Form::new().text("text", "from a multipart form");
    let resp = mm
        .http
        .post(format!("{SITE}/hooks/{hook}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let posts = mm.posts(&town).await;
    let messages: Vec<&str> = posts
        .iter()
        .map(|p| p["message"].as_str().unwrap())
        .collect();
    assert!(messages.contains(&"Build [#1](https://ci.example.com/1) passed @channel"));
    assert!(messages.contains(&"from a multipart form"));
    for p in &posts {
        assert_eq!(p["props"]["from_webhook"], "true");
        assert_eq!(p["props"]["webhook_display_name"], "GitLab");
        // Overrides are off by default: no override props even when a username was sent.
        assert!(p["props"].get("override_username").is_none());
    }
    let (_, off_topic) = mm
        .api(
            reqwest::Method::GET,
            &format!("/api/v4/teams/{team_id}/channels/name/off-topic"),
            None,
        )
        .await;
    let posts = mm.posts(off_topic["id"].as_str().unwrap()).await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["message"], "alice pushed to branch main");
    assert!(posts[0]["props"].get("override_username").is_none());
}

#[tokio::test]
async fn overrides_apply_only_when_enabled_and_attachments_make_slack_posts() {
    let mm = Mm::start(Profile::Gitlab18_11, |s| {
        s.service.enable_post_username_override = true;
        s.service.enable_post_icon_override = true;
    })
    .await;
    let (_, town, hook) = mm.team_and_hook(false).await;
    let (s, _, _) = mm
        .hook_json(
            &hook,
            json!({
                "username": "gitlab", "icon_url": "https://gitlab.example.com/logo.png",
                "props": {"card": "x", "from_webhook": "false"},
                "attachments": [{"fallback": "f", "color": "#345", "text": "see <http://g/1|!1>",
                                 "fields": [{"title": "Branch", "value": "<http://g/b|main>", "short": true}]}]
            }),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _, _) = mm.hook_json(&hook, json!({"text": "plain"})).await;
    assert_eq!(s, 200);
    let posts = mm.posts(&town).await;
    let with_attachments = posts
        .iter()
        .find(|p| p["type"] == "slack_attachment")
        .expect("attachment post");
    let props = &with_attachments["props"];
    assert_eq!(props["override_username"], "gitlab");
    assert_eq!(
        props["override_icon_url"],
        "https://gitlab.example.com/logo.png"
    );
    assert_eq!(props["card"], "x");
    assert_eq!(props["from_webhook"], "true");
    assert_eq!(props["attachments"][0]["text"], "see [!1](http://g/1)");
    assert_eq!(
        props["attachments"][0]["fields"][0]["value"],
        "[main](http://g/b)"
    );
    let plain = posts.iter().find(|p| p["message"] == "plain").unwrap();
    assert_eq!(plain["type"], "");
    // No username sent and none on the hook: the default override name.
    assert_eq!(plain["props"]["override_username"], "webhook");
}

#[tokio::test]
async fn direct_messages_by_username_go_to_the_direct_channel() {
    let mm = Mm::start(Profile::Gitlab18_11, |_| {}).await;
    let (_, _, hook) = mm.team_and_hook(false).await;
    let (s, bob) = mm
        .api(
            reqwest::Method::POST,
            "/api/v4/users",
            Some(
                json!({"username": "bob", "email": "bob@example.com", "password": "Bob-Passw0rd!"}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{bob}");
    let (s, _, _) = mm
        .hook_json(&hook, json!({"text": "psst", "channel": "@bob"}))
        .await;
    assert_eq!(s, 200);
    let bob_id = bob["id"].as_str().unwrap();
    let dm = mm
        .twin
        .posts()
        .into_iter()
        .find(|p| p.message == "psst")
        .expect("direct post");
    let channel = mm.twin.channel(&dm.channel_id).expect("direct channel");
    assert_eq!(channel.channel_type, "D");
    assert!(channel.name.contains(bob_id));
    assert!(channel.name.contains(mm.twin.admin_user_id()));
    let (s, _, err) = mm
        .hook_json(&hook, json!({"text": "psst", "channel": "@nobody"}))
        .await;
    assert_app_error(s, &err, 400, "web.incoming_webhook.user.app_error");
}

#[tokio::test]
async fn every_documented_webhook_error_has_its_id_and_status() {
    let mm = Mm::start(Profile::Gitlab18_11, |_| {}).await;
    let (_, _, hook) = mm.team_and_hook(false).await;
    let (_, _, locked) = mm.team_and_hook_locked_in_second_team().await;

    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            hook.as_str(),
            json!({"username": "x"}),
            400,
            "web.incoming_webhook.text.app_error",
        ),
        (
            "nosuchhook1234567890abcdef",
            json!({"text": "t"}),
            400,
            "web.incoming_webhook.invalid.app_error",
        ),
        (
            hook.as_str(),
            json!({"text": "t", "channel": "nowhere"}),
            404,
            "web.incoming_webhook.channel.app_error",
        ),
        (
            locked.as_str(),
            json!({"text": "t", "channel": "off-topic"}),
            403,
            "web.incoming_webhook.channel_locked.app_error",
        ),
        (
            hook.as_str(),
            json!({"text": 5}),
            400,
            "web.incoming_webhook.decode.app_error",
        ),
    ];
    for (h, body, status, id) in cases {
        let (s, ct, err) = mm.hook_json(h, body.clone()).await;
        assert_eq!(s, status, "{body} -> {err}");
        assert!(ct.starts_with("application/json"), "{ct}");
        assert_eq!(err["id"], id);
        assert_eq!(err["status_code"], status);
        assert!(err["request_id"].as_str().is_some_and(|r| r.len() == 26));
    }
    let (s, _, err) = mm.hook_json(&hook, json!({"text": "t"})).await;
    assert_eq!(s, 200, "{err}");

    // Broken JSON in a form payload.
    let resp = mm
        .http
        .post(format!("{SITE}/hooks/{hook}"))
        .form(&[("payload", "{not json")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["id"], "web.incoming_webhook.decode.app_error");

    // Turned off in the System Console: 501, before anything else is looked at.
    mm.twin
        .update_settings(|s| s.service.enable_incoming_webhooks = false);
    let (s, _, err) = mm.hook_json(&hook, json!({"text": "t"})).await;
    assert_app_error(s, &err, 501, "web.incoming_webhook.disabled.app_error");
    assert_eq!(
        err["message"],
        "Incoming webhooks have been disabled by the system admin."
    );
    let (s, _, err) = mm
        .hook_json("nosuchhook1234567890abcdef", json!({"text": "t"}))
        .await;
    assert_app_error(s, &err, 501, "web.incoming_webhook.disabled.app_error");
    // Creating hooks is refused too.
    let (s, err) = mm
        .api(
            reqwest::Method::POST,
            "/api/v4/hooks/incoming",
            Some(json!({"channel_id": "x"})),
        )
        .await;
    assert_app_error(s, &err, 501, "api.incoming_webhook.disabled.app_error");
}

impl Mm {
    /// A second team `ops` with a hook locked to its town-square: (team, channel, hook).
    async fn team_and_hook_locked_in_second_team(&self) -> (String, String, String) {
        let (s, team) = self
            .api(
                reqwest::Method::POST,
                "/api/v4/teams",
                Some(json!({"name": "ops", "display_name": "Ops", "type": "O"})),
            )
            .await;
        assert_eq!(s, 201);
        let team_id = team["id"].as_str().unwrap().to_string();
        let (_, ch) = self
            .api(
                reqwest::Method::GET,
                &format!("/api/v4/teams/{team_id}/channels/name/town-square"),
                None,
            )
            .await;
        let channel_id = ch["id"].as_str().unwrap().to_string();
        let (s, hook) = self
            .api(
                reqwest::Method::POST,
                "/api/v4/hooks/incoming",
                Some(json!({"channel_id": channel_id, "display_name": "Locked", "channel_locked": true})),
            )
            .await;
        assert_eq!(s, 201);
        (
            team_id,
            channel_id,
            hook["id"].as_str().unwrap().to_string(),
        )
    }
}

#[tokio::test]
async fn hooks_are_listed_and_deleted_through_the_api() {
    let mm = Mm::start(Profile::Gitlab18_11, |_| {}).await;
    let (team_id, _, hook) = mm.team_and_hook(false).await;
    let (s, list) = mm
        .api(
            reqwest::Method::GET,
            &format!("/api/v4/hooks/incoming?team_id={team_id}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (s, body) = mm
        .api(
            reqwest::Method::DELETE,
            &format!("/api/v4/hooks/incoming/{hook}"),
            None,
        )
        .await;
    assert_eq!((s, body), (200, json!({"status": "OK"})));
    let (s, _, err) = mm.hook_json(&hook, json!({"text": "t"})).await;
    assert_app_error(s, &err, 400, "web.incoming_webhook.invalid.app_error");
    let (s, err) = mm
        .api(
            reqwest::Method::DELETE,
            &format!("/api/v4/hooks/incoming/{hook}"),
            None,
        )
        .await;
    assert_app_error(s, &err, 404, "app.webhooks.get_incoming.app_error");
}

#[tokio::test]
async fn mattermost_3_4_hooks_are_off_by_default_and_speak_api_v3() {
    let mm = Mm::start(Profile::Gitlab8_12, |_| {}).await;
    // Omnibus 8.12 renders EnableIncomingWebhooks false.
    let resp = mm
        .http
        .post(format!("{SITE}/hooks/abcdefghijklmnopqrstuvwxyz"))
        .json(&json!({"text": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["id"], "web.incoming_webhook.disabled.app_error");
    assert_eq!(err["is_oauth"], false);

    mm.twin
        .update_settings(|s| s.service.enable_incoming_webhooks = true);
    let (s, team) = mm
        .api(
            reqwest::Method::POST,
            "/api/v3/teams/create",
            Some(json!({"name": "dev", "display_name": "Dev", "type": "O"})),
        )
        .await;
    assert_eq!(s, 200, "{team}");
    let team_id = team["id"].as_str().unwrap();
    let (s, ch) = mm
        .api(
            reqwest::Method::POST,
            &format!("/api/v3/teams/{team_id}/channels/create"),
            Some(json!({"team_id": team_id, "name": "builds", "display_name": "Builds", "type": "O"})),
        )
        .await;
    assert_eq!(s, 200, "{ch}");
    let channel_id = ch["id"].as_str().unwrap();
    let (s, hook) = mm
        .api(
            reqwest::Method::POST,
            &format!("/api/v3/teams/{team_id}/hooks/incoming/create"),
            Some(json!({"channel_id": channel_id, "display_name": "GitLab"})),
        )
        .await;
    assert_eq!(s, 200, "{hook}");
    let hook_id = hook["id"].as_str().unwrap();
    let resp = mm
        .http
        .post(format!("{SITE}/hooks/{hook_id}"))
        .form(&[("payload", json!({"text": "pipeline passed"}).to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // 3.4 had no multipart decoding: the body is read as JSON and fails to parse.
    let resp = mm
        .http
        .post(format!("{SITE}/hooks/{hook_id}"))
        .multipart(reqwest::multipart::Form::new().text("text", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["id"], "web.incoming_webhook.parse.app_error");
    let (s, posts) = mm
        .api(
            reqwest::Method::GET,
            &format!("/api/v3/teams/{team_id}/channels/{channel_id}/posts/page/0/60"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let first = &posts["order"][0];
    assert_eq!(
        posts["posts"][first.as_str().unwrap()]["message"],
        "pipeline passed"
    );
}
