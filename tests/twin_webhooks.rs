//! The twin Mattermost's incoming webhooks, tested from the outside with plain reqwest against the
//! served router (no harness driver): `/hooks/{id}` with JSON, form `payload=` (what GitLab's
//! integration sends) and multipart bodies; channel resolution, overrides, attachments, and every
//! error of wire/mattermost.md on both profiles; one test per item of
//! wire/fidelity-audit.md's "Webhooks" sections (multipart field names, 10.11's error wrapping,
//! 3.4's order and statuses, message texts, Slack text processing, splitting).

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

    /// Mattermost 3.4 through API v3: team `dev`, channel `builds`, a hook on it:
    /// (team id, channel id, hook id).
    async fn team_channel_and_hook_v3(&self) -> (String, String, String) {
        let (s, team) = self
            .api(
                reqwest::Method::POST,
                "/api/v3/teams/create",
                Some(json!({"name": "dev", "display_name": "Dev", "type": "O"})),
            )
            .await;
        assert_eq!(s, 200, "{team}");
        let team_id = team["id"].as_str().unwrap().to_string();
        let (s, ch) = self
            .api(
                reqwest::Method::POST,
                &format!("/api/v3/teams/{team_id}/channels/create"),
                Some(json!({"team_id": team_id, "name": "builds", "display_name": "Builds", "type": "O"})),
            )
            .await;
        assert_eq!(s, 200, "{ch}");
        let channel_id = ch["id"].as_str().unwrap().to_string();
        let (s, hook) = self
            .api(
                reqwest::Method::POST,
                &format!("/api/v3/teams/{team_id}/hooks/incoming/create"),
                Some(json!({"channel_id": channel_id, "display_name": "GitLab"})),
            )
            .await;
        assert_eq!(s, 200, "{hook}");
        let hook_id = hook["id"].as_str().unwrap().to_string();
        (team_id, channel_id, hook_id)
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
    assert_app_error(s, &err, 400, "web.incoming_webhook.general.app_error");
}

#[tokio::test]
async fn every_documented_webhook_error_has_its_status_under_the_general_id() {
    let mm = Mm::start(Profile::Gitlab18_11, |_| {}).await;
    let (_, _, hook) = mm.team_and_hook(false).await;
    let (_, _, locked) = mm.team_and_hook_locked_in_second_team().await;

    // 10.11 wraps every HandleIncomingWebhook error (no text, unknown hook, channel, lock, user)
    // as web.incoming_webhook.general.app_error with the inner status; the cause is only in
    // `detailed_error`, which is blank on the wire.
    let cases: Vec<(&str, Value, u16)> = vec![
        (hook.as_str(), json!({"username": "x"}), 400),
        (hook.as_str(), json!({"text": "", "attachments": []}), 400),
        ("nosuchhook1234567890abcdef", json!({"text": "t"}), 400),
        (
            hook.as_str(),
            json!({"text": "t", "channel": "nowhere"}),
            404,
        ),
        (
            hook.as_str(),
            json!({"text": "t", "channel": "@nobody"}),
            400,
        ),
        (
            locked.as_str(),
            json!({"text": "t", "channel": "off-topic"}),
            403,
        ),
        (
            hook.as_str(),
            json!({"text": "t", "type": "system_join_leave"}),
            400,
        ),
    ];
    for (h, body, status) in cases {
        let (s, ct, err) = mm.hook_json(h, body.clone()).await;
        assert_eq!(s, status, "{body} -> {err}");
        assert!(ct.starts_with("application/json"), "{ct}");
        assert_eq!(
            err["id"], "web.incoming_webhook.general.app_error",
            "{body}"
        );
        assert_eq!(
            err["message"],
            format!(
                "Failed to handle the payload of media type application/json for incoming webhook {h}."
            )
        );
        assert_eq!(err["detailed_error"], "");
        assert_eq!(err["status_code"], status);
        assert!(err["request_id"].as_str().is_some_and(|r| r.len() == 26));
    }
    let (s, _, err) = mm.hook_json(&hook, json!({"text": "t"})).await;
    assert_eq!(s, 200, "{err}");

    // A body that does not decode is the web layer's own error, with the media type.
    let (s, _, err) = mm.hook_json(&hook, json!({"text": 5})).await;
    assert_app_error(s, &err, 400, "web.incoming_webhook.decode.app_error");
    assert_eq!(
        err["message"],
        format!(
            "Failed to decode the payload of media type application/json for incoming webhook {hook}."
        )
    );
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
    assert_eq!(
        err["message"],
        format!(
            "Failed to decode the payload of media type application/x-www-form-urlencoded for incoming webhook {hook}."
        )
    );

    // Turned off in the System Console: 501, wrapped like the rest (the decode still comes first).
    mm.twin
        .update_settings(|s| s.service.enable_incoming_webhooks = false);
    let (s, _, err) = mm.hook_json(&hook, json!({"text": "t"})).await;
    assert_app_error(s, &err, 501, "web.incoming_webhook.general.app_error");
    let (s, _, err) = mm
        .hook_json("nosuchhook1234567890abcdef", json!({"text": "t"}))
        .await;
    assert_app_error(s, &err, 501, "web.incoming_webhook.general.app_error");
    let (s, _, err) = mm.hook_json(&hook, json!({"text": 5})).await;
    assert_app_error(s, &err, 400, "web.incoming_webhook.decode.app_error");
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
    /// POST raw bytes with a given Content-Type (none when empty): (status, JSON or text).
    async fn hook_raw(&self, hook: &str, content_type: &str, body: &'static [u8]) -> (u16, Value) {
        let mut req = self.http.post(format!("{SITE}/hooks/{hook}")).body(body);
        if !content_type.is_empty() {
            req = req.header("content-type", content_type);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn hook_multipart(&self, hook: &str, fields: &[(&str, &str)]) -> (u16, Value) {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        let resp = self
            .http
            .post(format!("{SITE}/hooks/{hook}"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// Audit HIGH 1: multipart bodies go through gorilla/schema on the Go field names.
#[tokio::test]
async fn multipart_fields_are_matched_on_go_field_names_case_insensitively() {
    let mm = Mm::start(Profile::Gitlab18_11, |s| {
        s.service.enable_post_icon_override = true;
    })
    .await;
    let (team_id, _, hook) = mm.team_and_hook(false).await;
    for refused in ["channel", "icon_url", "icon_emoji", "payload"] {
        let (s, err) = mm
            .hook_multipart(&hook, &[("text", "t"), (refused, "x")])
            .await;
        assert_app_error(s, &err, 400, "web.incoming_webhook.decode.app_error");
        assert_eq!(
            err["message"],
            format!(
                "Failed to decode the payload of media type multipart/form-data for incoming webhook {hook}."
            )
        );
    }
    let (s, body) = mm
        .hook_multipart(
            &hook,
            &[
                ("Text", "by go names"),
                ("ChannelName", "off-topic"),
                ("iconurl", "https://i.example.com/a.png"),
                ("ICONEMOJI", "tada"),
            ],
        )
        .await;
    assert_eq!((s, body), (200, Value::String("ok".into())));
    let (_, off_topic) = mm
        .api(
            reqwest::Method::GET,
            &format!("/api/v4/teams/{team_id}/channels/name/off-topic"),
            None,
        )
        .await;
    let posts = mm.posts(off_topic["id"].as_str().unwrap()).await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["message"], "by go names");
    assert_eq!(
        posts[0]["props"]["override_icon_url"],
        "https://i.example.com/a.png"
    );
    // Audit MEDIUM 6: the emoji is its own prop, not override_icon_url.
    assert_eq!(posts[0]["props"]["override_icon_emoji"], "tada");
}

/// Go's ParseForm fails on a malformed Content-Type or form body before any decoding.
#[tokio::test]
async fn malformed_content_types_and_form_bodies_fail_parse_form() {
    let mm = Mm::start(Profile::Gitlab18_11, |_| {}).await;
    let (_, _, hook) = mm.team_and_hook(false).await;
    for (ct, body) in [
        ("/json", &b"{\"text\":\"t\"}"[..]),
        ("application/json; charset", &b"{\"text\":\"t\"}"[..]),
        ("application/x-www-form-urlencoded", &b"payload=%zz"[..]),
    ] {
        let (s, err) = mm.hook_raw(&hook, ct, body).await;
        assert_app_error(s, &err, 400, "web.incoming_webhook.parse_form.app_error");
        assert_eq!(
            err["message"],
            format!("Failed to parse form for webhook {hook}.")
        );
    }
    // A multipart type without a boundary cannot be parsed as multipart.
    let (s, err) = mm.hook_raw(&hook, "multipart/form-data", b"text=t").await;
    assert_app_error(
        s,
        &err,
        400,
        "web.incoming_webhook.parse_multipart.app_error",
    );
    // No Content-Type at all: the body is JSON, the media type in messages is empty.
    let (s, body) = mm.hook_raw(&hook, "", b"{\"text\":\"no header\"}").await;
    assert_eq!((s, body), (200, Value::String("ok".into())));
    let (s, err) = mm.hook_raw(&hook, "", b"{\"username\":\"x\"}").await;
    assert_app_error(s, &err, 400, "web.incoming_webhook.general.app_error");
    assert_eq!(
        err["message"],
        format!("Failed to handle the payload of media type  for incoming webhook {hook}.")
    );
}

/// Audit MEDIUM 5 and 8: app/slack.go's processing and the hook's display name.
#[tokio::test]
async fn slack_text_is_processed_as_app_slack_go_does() {
    let mm = Mm::start(Profile::Gitlab18_11, |_| {}).await;
    let (_, town, hook) = mm.team_and_hook(false).await;
    let root = mm.twin.admin_user_id().to_string();
    let (s, _, err) = mm
        .hook_json(
            &hook,
            json!({
                "text": format!("<!all> <!everyone> <!here> hi <@{root}> and <@nosuchuser>"),
                "props": {"webhook_display_name": "Spoofed", "card": "c"},
                "attachments": [{"title": "<!channel> t", "pretext": format!("<@{root}>"), "unknown": 1,
                                 "fields": [{"title": "n", "value": 42, "short": true}]}]
            }),
        )
        .await;
    assert_eq!(s, 200, "{err}");
    let posts = mm.posts(&town).await;
    let p = &posts[0];
    assert_eq!(
        p["message"],
        "@all <!everyone> @here hi @root and <@nosuchuser>"
    );
    assert_eq!(p["props"]["webhook_display_name"], "GitLab");
    assert_eq!(p["props"]["card"], "c");
    let a = &p["props"]["attachments"][0];
    assert_eq!(a["title"], "@channel t");
    assert_eq!(a["pretext"], "@root");
    assert_eq!(a["fields"][0]["value"], "42");
    assert_eq!(a["fields"][0]["short"], true);
    assert!(
        a.get("unknown").is_none(),
        "decoded into model.SlackAttachment"
    );
    assert_eq!(a["fallback"], "");
}

/// Audit MEDIUM 7: long text becomes several posts; props that cannot fit are refused.
#[tokio::test]
async fn long_webhook_text_is_split_into_several_posts() {
    let mm = Mm::start(Profile::Gitlab18_11, |_| {}).await;
    let (_, town, hook) = mm.team_and_hook(false).await;
    let text = format!("{}{}tail", "a".repeat(16383), "é".repeat(16383));
    let (s, _, err) = mm.hook_json(&hook, json!({ "text": text })).await;
    assert_eq!(s, 200, "{err}");
    let posts = mm.posts(&town).await;
    let mut messages: Vec<String> = posts
        .iter()
        .map(|p| p["message"].as_str().unwrap().to_string())
        .collect();
    messages.sort_by_key(|m| m.chars().next());
    // "aaa…" (16383), "ééé…" (16383), "tail".
    assert_eq!(
        messages,
        vec!["a".repeat(16383), "tail".to_string(), "é".repeat(16383)]
    );
    assert!(posts.iter().all(|p| p["props"]["from_webhook"] == "true"));
    let (s, _, err) = mm
        .hook_json(
            &hook,
            json!({"text": "t", "props": {"big": "x".repeat(760_001)}}),
        )
        .await;
    assert_app_error(s, &err, 400, "web.incoming_webhook.general.app_error");
}

/// Audit HIGH 3 and MEDIUM 4: Mattermost 3.4's order (disabled before parsing), its 500s and its
/// English texts, and `@user` only into an existing direct channel.
#[tokio::test]
async fn mattermost_3_4_checks_disabled_first_and_answers_500_with_its_texts() {
    let mm = Mm::start(Profile::Gitlab8_12, |_| {}).await;
    // Disabled (omnibus 8.12's default) wins over a body that would not parse.
    let (s, err) = mm
        .hook_raw("abcdefghijklmnopqrstuvwxyz", "application/json", b"{nope")
        .await;
    assert_app_error(s, &err, 501, "web.incoming_webhook.disabled.app_error");
    assert_eq!(
        err["message"],
        "Incoming webhooks have been disabled by the system admin."
    );
    mm.twin
        .update_settings(|s| s.service.enable_incoming_webhooks = true);
    let (_team_id, channel_id, hook_id) = mm.team_channel_and_hook_v3().await;
    let (s, bob) = mm
        .api(
            reqwest::Method::POST,
            "/api/v3/users/create",
            Some(
                json!({"username": "bob", "email": "bob@example.com", "password": "Bob-Passw0rd!"}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{bob}");
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            &hook_id,
            json!({"username": "x"}),
            "web.incoming_webhook.text.app_error",
            "No text specified",
        ),
        (
            "abcdefghijklmnopqrstuvwxyz",
            json!({"text": "t"}),
            "web.incoming_webhook.invalid.app_error",
            "Invalid webhook",
        ),
        (
            &hook_id,
            json!({"text": "t", "channel": "nowhere"}),
            "web.incoming_webhook.channel.app_error",
            "Couldn't find the channel",
        ),
        (
            &hook_id,
            json!({"text": "t", "channel": "@nobody"}),
            "web.incoming_webhook.user.app_error",
            "Couldn't find the user",
        ),
        // bob exists but no direct channel with the hook's creator does: 3.4 never creates one.
        (
            &hook_id,
            json!({"text": "t", "channel": "@bob"}),
            "web.incoming_webhook.channel.app_error",
            "Couldn't find the channel",
        ),
        (
            &hook_id,
            json!({"text": "t", "type": "custom_thing"}),
            "api.post.create_webhook_post.creating.app_error",
            "Error creating post",
        ),
        (
            &hook_id,
            json!({"text": "x".repeat(4001)}),
            "api.post.create_webhook_post.creating.app_error",
            "Error creating post",
        ),
        (
            &hook_id,
            json!({"text": 5}),
            "web.incoming_webhook.parse.app_error",
            "Unable to parse incoming data",
        ),
    ];
    for (h, body, id, message) in cases {
        let (s, _, err) = mm.hook_json(h, body.clone()).await;
        assert_app_error(s, &err, 500, id);
        assert_eq!(err["message"], message, "{body}");
        assert_eq!(err["is_oauth"], false);
    }
    // Multipart is read as JSON on 3.4 and fails to parse.
    let (s, err) = mm.hook_multipart(&hook_id, &[("text", "x")]).await;
    assert_app_error(s, &err, 500, "web.incoming_webhook.parse.app_error");
    // 3.4 expands only <!channel>, converts links, has no webhook_display_name.
    let (s, _, err) = mm
        .hook_json(&hook_id, json!({"text": "<!channel> <!here> <!all> see <http://g/1|!1>", "type": "system_join_leave"}))
        .await;
    assert_eq!(s, 200, "{err}");
    let post = mm
        .twin
        .posts()
        .into_iter()
        .find(|p| p.channel_id == channel_id)
        .expect("the post");
    assert_eq!(post.message, "@channel <!here> <!all> see [!1](http://g/1)");
    assert_eq!(post.post_type, "system_join_leave");
    assert!(!post.props.contains_key("webhook_display_name"));
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
    assert_app_error(s, &err, 400, "web.incoming_webhook.general.app_error");
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
    let (team_id, channel_id, hook_id) = mm.team_channel_and_hook_v3().await;
    let resp = mm
        .http
        .post(format!("{SITE}/hooks/{hook_id}"))
        .form(&[("payload", json!({"text": "pipeline passed"}).to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // 3.4 had no multipart decoding: the body is read as JSON and fails to parse (a 500).
    let resp = mm
        .http
        .post(format!("{SITE}/hooks/{hook_id}"))
        .multipart(reqwest::multipart::Form::new().text("text", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
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
