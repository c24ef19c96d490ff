//! Black-box tests of the web product over real HTTP on 127.0.0.1:0:
//! security (routes, campaigns, CSRF, login slow-down), lead intake dialed
//! in the simulated world, and the report figures of the kpi-definitions
//! case.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use reqwest::{Client, Method, StatusCode};
use ringa_core::{CallResult, CampaignId, ContactId, PhoneNumber, Region};
use ringa_store::{AttemptEnd, AttemptStart, ListRow, NewContact, NewNumber, NextStep, Store};
use ringa_web::floor::FloorConfig;
use ringa_web::{AppState, WorldProfile};
use serde_json::{Value, json};
use tokio::sync::oneshot;

struct Server {
    base: String,
    state: AppState,
    admin_password: String,
    stop: Option<oneshot::Sender<()>>,
    dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Stops serving and hands back the database's folder.
    fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.dir.take().expect("the folder is kept until the server stops")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start(sim_agents: u32) -> Server {
    start_in(tempfile::tempdir().expect("a temporary folder"), sim_agents).await
}

/// Serves the database in `dir` (created on the first start); on the first
/// start the administrator's one-time password is replaced, as the first
/// login must, by [`ADMIN_PASSWORD`].
async fn start_in(dir: tempfile::TempDir, sim_agents: u32) -> Server {
    let mut server = start_untouched(dir, sim_agents).await;
    if !server.admin_password.is_empty() {
        let http = client();
        let body = json!({ "login": "admin", "password": server.admin_password });
        let res = http.post(format!("{}/api/v1/login", server.base)).json(&body).send().await;
        let body: Value = res.expect("login").json().await.expect("JSON");
        let (user, csrf) = (&body["user"], body["csrf"].as_str().expect("a CSRF token"));
        let res = http
            .post(format!("{}/api/v1/users/{user}/password", server.base))
            .header("x-csrf-token", csrf)
            .json(&json!({ "password": ADMIN_PASSWORD, "old_password": server.admin_password }))
            .send()
            .await
            .expect("sent");
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "the first password change");
        server.admin_password = ADMIN_PASSWORD.to_string();
    }
    server
}

/// The administrator's password after the first login's change.
const ADMIN_PASSWORD: &str = "admin-password-1";

/// Serves the database in `dir`, leaving a first start's one-time password
/// as it is.
async fn start_untouched(dir: tempfile::TempDir, sim_agents: u32) -> Server {
    let url = format!("sqlite://{}", dir.path().join("web.db").display());
    let store = Store::open(&url).await.expect("the store opens");
    let config = FloorConfig {
        sim_agents,
        profile: WorldProfile::quick(),
        worker: "test".to_string(),
        seed: 7,
    };
    let (state, first) = AppState::open(store, config).await.expect("the floor starts");
    let admin_password = first.admin.map(|(_, p)| p).unwrap_or_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let (stop, stopped) = oneshot::channel::<()>();
    let served = state.clone();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        ringa_web::run(listener, served, shutdown).await.expect("serves");
    });
    Server { base, state, admin_password, stop: Some(stop), dir: Some(dir) }
}

/// A client with its own cookie jar and the CSRF token of its session.
struct Session {
    client: Client,
    base: String,
    csrf: String,
}

fn client() -> Client {
    Client::builder().cookie_store(true).no_proxy().build().expect("a client")
}

async fn login(server: &Server, user: &str, password: &str) -> Session {
    let client = client();
    let res = client
        .post(format!("{}/api/v1/login", server.base))
        .json(&json!({ "login": user, "password": password }))
        .send()
        .await
        .expect("login request");
    assert_eq!(res.status(), StatusCode::OK, "login of {user}");
    let body: Value = res.json().await.expect("login answer");
    let csrf = body["csrf"].as_str().expect("a CSRF token").to_string();
    Session { client, base: server.base.clone(), csrf }
}

impl Session {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request")
    }

    async fn json(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let res = self.send(method.clone(), path, body).await;
        let status = res.status();
        let text = res.text().await.expect("body");
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") }
    }
}

/// Creates a campaign that may dial at any hour, with no rule set's limits.
async fn open_campaign(admin: &Session, name: &str, mode: &str) -> u64 {
    let body = json!({ "name": name, "mode": mode, "rule_set": "none" });
    let mut campaign = admin.json(Method::POST, "/campaigns", Some(body)).await;
    let id = campaign["id"].as_u64().expect("an id");
    campaign["rules"]["windows"] =
        json!({ "spans": [{ "days": "all", "start": "00:00:00", "end": "00:00:00" }] });
    admin.json(Method::PUT, &format!("/campaigns/{id}"), Some(campaign)).await;
    id
}

async fn add_user(admin: &Session, login: &str, role: &str, campaigns: &[u64]) {
    let body = json!({
        "login": login, "role": role, "password": "password-1", "campaigns": campaigns,
    });
    admin.json(Method::POST, "/users", Some(body)).await;
}

async fn import(admin: &Session, campaign: u64, csv: &str) -> Value {
    let list = admin
        .json(Method::POST, &format!("/campaigns/{campaign}/lists"), Some(json!({"name": "L"})))
        .await;
    let list = list["id"].as_u64().expect("a list id");
    let res = admin
        .client
        .post(format!("{}/api/v1/lists/{list}/import", admin.base))
        .header("x-csrf-token", &admin.csrf)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .expect("import");
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.expect("report")
}

#[tokio::test]
async fn every_api_route_refuses_requests_without_session_or_token() {
    let server = start(0).await;
    let anonymous = client();
    let mut checked = 0;
    for (method, path, _, who) in ringa_web::openapi::ROUTES {
        if *who == "public" {
            continue;
        }
        let url = format!(
            "{}/api/v1{}",
            server.base,
            path.replace("{id}", "1").replace("{contact}", "1")
        );
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
        let res =
            anonymous.request(method.clone(), &url).json(&json!({})).send().await.expect("sent");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        checked += 1;
    }
    assert!(checked > 30, "only {checked} routes were checked");

    // A revoked or made-up token is refused too.
    let res = anonymous
        .get(format!("{}/api/v1/campaigns", server.base))
        .bearer_auth("rga_1_not-a-real-token")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = anonymous.get(format!("{}/metrics", server.base)).send().await.expect("sent");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn roles_and_token_scopes_are_checked() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let c1 = open_campaign(&admin, "One", "preview").await;
    add_user(&admin, "agent1", "agent", &[c1]).await;
    add_user(&admin, "super", "supervisor", &[]).await;
    let agent = login(&server, "agent1", "password-1").await;
    let supervisor = login(&server, "super", "password-1").await;

    // Agents may not administer nor watch the wall; supervisors may not
    // administer.
    let new = json!({ "name": "Nope" });
    assert_eq!(agent.send(Method::POST, "/campaigns", Some(new.clone())).await.status(), 403);
    assert_eq!(agent.send(Method::GET, "/wall", None).await.status(), 403);
    assert_eq!(agent.send(Method::GET, "/users", None).await.status(), 403);
    assert_eq!(supervisor.send(Method::POST, "/campaigns", Some(new)).await.status(), 403);
    assert_eq!(supervisor.send(Method::GET, "/wall", None).await.status(), 200);

    // A lead-intake token reaches leads only, and not after revocation.
    let token = admin
        .json(Method::POST, "/tokens", Some(json!({ "name": "crm", "scopes": ["leads"] })))
        .await;
    let secret = token["token"].as_str().expect("the secret").to_string();
    let anonymous = client();
    let res = anonymous
        .get(format!("{}/api/v1/users", server.base))
        .bearer_auth(&secret)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let id = token["id"].as_u64().expect("token id");
    admin.json(Method::DELETE, &format!("/tokens/{id}"), None).await;
    let res = anonymous
        .post(format!("{}/api/v1/leads", server.base))
        .bearer_auth(&secret)
        .json(&json!({ "campaign": c1, "phone": "070-1234567" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_agent_cannot_read_another_campaigns_contacts() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let mine = open_campaign(&admin, "Mine", "preview").await;
    let other = open_campaign(&admin, "Other", "preview").await;
    let own = import(&admin, mine, "name,phone\nAnna,070-1112233\n").await;
    let foreign = import(&admin, other, "name,phone\nBo,070-4445566\n").await;
    let own_id = own["report"]["rows"][0]["contact"].as_u64().expect("a contact");
    let foreign_id = foreign["report"]["rows"][0]["contact"].as_u64().expect("a contact");
    add_user(&admin, "agent1", "agent", &[mine]).await;
    let agent = login(&server, "agent1", "password-1").await;

    let res =
        agent.send(Method::GET, &format!("/campaigns/{other}/contacts/{foreign_id}"), None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = agent.send(Method::GET, &format!("/campaigns/{other}"), None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Asking for the foreign contact through the agent's own campaign fails too.
    let res =
        agent.send(Method::GET, &format!("/campaigns/{mine}/contacts/{foreign_id}"), None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = agent.send(Method::POST, "/agent/login", Some(json!({ "campaign": other }))).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let contact =
        agent.json(Method::GET, &format!("/campaigns/{mine}/contacts/{own_id}"), None).await;
    assert_eq!(contact["name"], "Anna");
    let listed = agent.json(Method::GET, "/campaigns", None).await;
    let ids: Vec<u64> =
        listed.as_array().expect("a list").iter().filter_map(|c| c["id"].as_u64()).collect();
    assert_eq!(ids, vec![mine]);
}

#[tokio::test]
async fn a_state_change_without_the_csrf_token_is_refused() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let url = format!("{}/api/v1/campaigns", server.base);
    let res = admin.client.post(&url).json(&json!({ "name": "X" })).send().await.expect("sent");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = admin
        .client
        .post(&url)
        .header("x-csrf-token", "wrong")
        .json(&json!({ "name": "X" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = admin.send(Method::POST, "/campaigns", Some(json!({ "name": "X" }))).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Reading needs no token.
    let res = admin.client.get(&url).send().await.expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn five_wrong_passwords_in_a_row_slow_the_login_down() {
    let server = start(0).await;
    let anonymous = client();
    let url = format!("{}/api/v1/login", server.base);
    let attempt = |password: &str| {
        anonymous.post(&url).json(&json!({ "login": "admin", "password": password })).send()
    };
    for n in 1..=5 {
        let res = attempt("wrong-password").await.expect("sent");
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "wrong password {n}");
    }
    // Even the right password must now wait.
    let res = attempt(&server.admin_password).await.expect("sent");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = res.json().await.expect("JSON");
    assert!(body["error"].as_str().unwrap_or("").contains("wait"), "{body}");
    // After the delay the right password works and clears the count.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = attempt(&server.admin_password).await.expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_lead_is_dialed_within_five_seconds_in_the_simulated_world() {
    let server = start(1).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let campaign = open_campaign(&admin, "Leads", "progressive").await;
    let token = admin
        .json(Method::POST, "/tokens", Some(json!({ "name": "form", "scopes": ["leads"] })))
        .await;
    let secret = token["token"].as_str().expect("the secret").to_string();

    let sent = Instant::now();
    let res = client()
        .post(format!("{}/api/v1/leads", server.base))
        .bearer_auth(&secret)
        .json(&json!({ "campaign": campaign, "phone": "070-7654321", "name": "Lead" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body: Value = res.json().await.expect("JSON");
    let contact = ContactId(body["contact"].as_u64().expect("the lead's contact"));

    let attempts = loop {
        let attempts = server.state.store.attempts_of_contact(contact).await.expect("attempts");
        if !attempts.is_empty() || sent.elapsed() > Duration::from_secs(5) {
            break attempts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!attempts.is_empty(), "the lead was not dialed within 5 s");
    assert!(sent.elapsed() <= Duration::from_secs(5), "dialed after {:?}", sent.elapsed());
    assert_eq!(attempts[0].number, "+46707654321");

    // A number on a do-not-call list is washed out at intake.
    let dnc = admin.json(Method::GET, "/dnc", None).await;
    let global = dnc[0]["id"].as_u64().expect("the global list");
    admin
        .json(
            Method::POST,
            &format!("/dnc/{global}/numbers"),
            Some(json!({ "numbers": ["0701111111"] })),
        )
        .await;
    let res = client()
        .post(format!("{}/api/v1/leads", server.base))
        .bearer_auth(&secret)
        .json(&json!({ "campaign": campaign, "phone": "070-1111111" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::CONFLICT);
}

/// Lead intake stores concurrent leads in groups: a burst gets one
/// `Leads` list, a distinct contact per lead with its own number and data,
/// each answered only once it is in the database and claimed for the
/// floor (nothing dials here: no agents).
#[tokio::test]
async fn a_burst_of_leads_is_stored_in_groups_each_once() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let campaign = open_campaign(&admin, "Burst", "progressive").await;
    let token = admin
        .json(Method::POST, "/tokens", Some(json!({ "name": "form", "scopes": ["leads"] })))
        .await;
    let secret = token["token"].as_str().expect("the secret").to_string();
    let http = client();
    let url = format!("{}/api/v1/leads", server.base);
    let mut sent = Vec::new();
    for i in 0..200u32 {
        let (http, url, secret) = (http.clone(), url.clone(), secret.clone());
        sent.push(tokio::spawn(async move {
            let phone = format!("070-{:07}", 2_000_000 + i);
            let body = json!({ "campaign": campaign, "phone": phone, "name": format!("L{i}") });
            let res = http.post(url).bearer_auth(secret).json(&body).send().await.expect("sent");
            assert_eq!(res.status(), StatusCode::ACCEPTED);
            let body: Value = res.json().await.expect("JSON");
            (i, ContactId(body["contact"].as_u64().expect("a contact")))
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for task in sent {
        let (i, id) = task.await.expect("the request task");
        let row = server.state.store.contact(id).await.expect("committed before the answer");
        assert_eq!(row.name.as_deref(), Some(format!("L{i}").as_str()));
        assert_eq!(row.numbers[0].number.as_str(), format!("+46702{:06}", i));
        assert!(row.lead);
        assert_eq!(row.state, "claimed", "claimed for the floor");
        ids.insert(id);
    }
    assert_eq!(ids.len(), 200, "every lead has its own contact");
    let lists = server.state.store.lists(ringa_core::CampaignId(campaign)).await.expect("lists");
    let leads: Vec<_> = lists.iter().filter(|l| l.name == "Leads").collect();
    assert_eq!(leads.len(), 1, "one Leads list: {lists:?}");
}

/// A campaign made in the store directly, with one list that is disabled:
/// the floor, which loads new campaigns within seconds, claims none of its
/// contacts, so a test can write their attempts itself.
async fn campaign_the_floor_leaves_alone(
    store: &Store,
    name: &str,
    now: Timestamp,
) -> (CampaignId, ListRow) {
    let campaign =
        store.create_campaign(name, Region::SE, &json!({}), now).await.expect("a campaign");
    let list = store.ensure_list(campaign, "L", now).await.expect("a list");
    store.set_list_enabled(list.id, false).await.expect("disabled");
    (campaign, list)
}

/// The kpi-definitions case: ten attempts with known results, read back
/// through the API with the formulas next to the figures.
#[tokio::test]
async fn the_report_counts_the_kpi_definitions_case() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let store = &server.state.store;
    let now = Timestamp::now();

    let (campaign, list) = campaign_the_floor_leaves_alone(store, "Case", now).await;
    let results: [(CallResult, Option<u16>, Option<&str>); 10] = [
        (CallResult::Connected, Some(200), Some("sale")),
        (CallResult::Connected, Some(200), Some("not_interested")),
        (CallResult::Connected, Some(200), Some("not_interested")),
        (CallResult::Dropped, Some(200), None),
        (CallResult::Machine, Some(200), None),
        (CallResult::Machine, Some(200), None),
        (CallResult::Busy, Some(486), None),
        (CallResult::Busy, Some(486), None),
        (CallResult::NoAnswer, Some(480), None),
        (CallResult::NoAnswer, Some(480), None),
    ];
    closed_attempts(store, &list, "070123", &results, now).await;

    let stats = admin.json(Method::GET, &format!("/campaigns/{}/stats", campaign.0), None).await;
    let figures = &stats["campaigns"][0];
    assert_eq!(figures["attempts"], 10);
    assert_eq!(figures["live_answers"], 4);
    assert_eq!(figures["connects"], 3);
    assert_eq!(figures["drops"], 1);
    assert_eq!(figures["machines"], 2);
    assert_eq!(figures["drop_rate"], 0.25);
    assert_eq!(figures["per_result"]["busy"], 2);
    assert_eq!(figures["per_result"]["no_answer"], 2);
    assert_eq!(figures["sales"], 1);
    assert_eq!(figures["conversations"], 3);
    assert_eq!(stats["formulas"]["drop_rate"], "drops / live_answers");
    assert!(stats["formulas"]["hit_rate"].as_str().is_some_and(|f| f.contains("conversations")));
    let attempts = store.all_attempts().await.expect("attempts");
    assert!(
        attempts.iter().all(|a| a.sip_code.is_some()),
        "the SIP cause is stored on every attempt"
    );
}

#[tokio::test]
async fn an_agent_books_a_callback_that_survives_a_restart() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let campaign = open_campaign(&admin, "Calls", "progressive").await;
    import(&admin, campaign, "name,phone,city\nAnna,070-1112233,Lund\n").await;
    add_user(&admin, "agent1", "agent", &[campaign]).await;
    let agent = login(&server, "agent1", "password-1").await;
    agent.json(Method::POST, "/agent/login", Some(json!({ "campaign": campaign }))).await;
    agent.json(Method::POST, "/agent/ready", None).await;

    // The simulated customer answers; the card offers person outcomes only.
    let started = Instant::now();
    let card = loop {
        let card = agent.json(Method::GET, "/agent/card", None).await;
        if card["card"]["call_state"] == "connected" || started.elapsed() > Duration::from_secs(10)
        {
            break card;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(card["card"]["call_state"], "connected", "{card}");
    assert_eq!(card["contact"]["fields"]["city"], "Lund");
    let allowed = |code: &str| {
        card["outcomes"]
            .as_array()
            .expect("outcomes")
            .iter()
            .any(|o| o["code"] == code && o["allowed"] == true)
    };
    assert!(allowed("sale") && allowed("callback"));
    assert!(!allowed("no_answer"), "no answer offered on a connected call");
    let res =
        agent.send(Method::POST, "/agent/outcome", Some(json!({ "outcome": "no_answer" }))).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    let tomorrow =
        Timestamp::now().checked_add(jiff::SignedDuration::from_hours(24)).expect("time");
    let at = format!("{}T15:00:00", tomorrow.to_zoned_datetime(jiff::tz::TimeZone::UTC).date());
    let body = json!({
        "outcome": "callback", "note": "after lunch",
        "callback": { "at": at, "personal": true, "zone": "Europe/Stockholm" },
    });
    agent.json(Method::POST, "/agent/outcome", Some(body)).await;
    let contact = card["contact"]["id"].as_u64().expect("contact id");
    let callbacks =
        server.state.store.callbacks_of_contact(ContactId(contact)).await.expect("read");
    assert_eq!(callbacks.len(), 1);
    assert_eq!(callbacks[0].local.to_string(), at);
    assert!(callbacks[0].owner.is_some(), "a personal callback has its agent");

    // A restart hands the pending callback to the new engine.
    let dir = server.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = start_in(dir, 0).await;
    let snap = again.state.floor.snapshot();
    let view = snap.campaigns.iter().find(|c| c.id.0 == campaign).expect("the campaign");
    assert_eq!(view.callbacks_pending, 1);
}

#[tokio::test]
async fn preview_dials_on_click_and_supervisors_manage_the_floor() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let preview = open_campaign(&admin, "Preview", "preview").await;
    let other = open_campaign(&admin, "Other", "progressive").await;
    import(&admin, preview, "name,phone,mobile\nAnna,070-1112233,073-9998877\n").await;
    add_user(&admin, "agent1", "agent", &[preview]).await;
    add_user(&admin, "super", "supervisor", &[]).await;
    let agent = login(&server, "agent1", "password-1").await;
    let supervisor = login(&server, "super", "password-1").await;
    agent.json(Method::POST, "/agent/login", Some(json!({ "campaign": preview }))).await;
    agent.json(Method::POST, "/agent/ready", None).await;

    // The card comes first, with both numbers and nothing dialed.
    let wait_for = |want: &'static str| {
        let agent = &agent;
        async move {
            let started = Instant::now();
            loop {
                let card = agent.json(Method::GET, "/agent/card", None).await;
                let state = card["card"]["call_state"].as_str().unwrap_or("none").to_string();
                if state == want || started.elapsed() > Duration::from_secs(10) {
                    return card;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let card = wait_for("none").await;
    assert_eq!(card["card"]["preview"], true, "{card}");
    assert_eq!(card["contact"]["numbers"].as_array().map(Vec::len), Some(2));
    let contact = ContactId(card["contact"]["id"].as_u64().expect("contact"));
    assert!(server.state.store.attempts_of_contact(contact).await.expect("read").is_empty());

    // Clicking the second number dials it.
    agent.json(Method::POST, "/agent/dial", Some(json!({ "number": 1 }))).await;
    let card = wait_for("connected").await;
    assert_eq!(card["card"]["call_state"], "connected", "{card}");
    let attempts = server.state.store.attempts_of_contact(contact).await.expect("read");
    assert_eq!(attempts[0].number, "+46739998877");

    // The wall shows the agent in the call; a supervisor releases the agent
    // and moves them to the other campaign.
    let wall = supervisor.json(Method::GET, "/wall", None).await;
    let me = wall["snapshot"]["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .find(|a| a["name"] == "agent1")
        .cloned()
        .expect("the agent is on the wall");
    assert_eq!(me["state"], "in_call");
    let id = me["id"].as_u64().expect("agent id");
    supervisor.json(Method::POST, &format!("/wall/agents/{id}/release"), None).await;
    supervisor
        .json(Method::POST, &format!("/wall/agents/{id}/campaigns"), Some(json!([other])))
        .await;
    let wall = supervisor.json(Method::GET, "/wall", None).await;
    let me = wall["snapshot"]["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
        .expect("the agent is on the wall");
    assert_ne!(me["state"], "in_call", "{me}");
    assert_eq!(me["campaigns"], json!([other]));
    let mine = agent.json(Method::GET, "/me", None).await;
    assert_eq!(mine["campaigns"], json!([other]));

    // Metrics for a token with the metrics scope; the OpenAPI document.
    let token = admin
        .json(Method::POST, "/tokens", Some(json!({ "name": "prom", "scopes": ["metrics"] })))
        .await;
    let secret = token["token"].as_str().expect("the secret");
    let res = client()
        .get(format!("{}/metrics", server.base))
        .bearer_auth(secret)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.expect("text");
    assert!(text.contains("ringa_http_requests_total"), "{text}");
    assert!(
        text.contains(&format!("ringa_campaign_attempts{{campaign=\"{preview}\"}} 1")),
        "{text}"
    );
    let doc: Value = client()
        .get(format!("{}/api/v1/openapi.json", server.base))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert!(doc["paths"]["/leads"]["post"].is_object());
}

#[tokio::test]
async fn a_taken_campaign_name_or_login_is_a_conflict_without_sql_text() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let spring = json!({ "name": "Spring" });
    let res = admin.send(Method::POST, "/campaigns", Some(spring.clone())).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = admin.send(Method::POST, "/campaigns", Some(spring)).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["error"], "a campaign named Spring already exists");
    let user = json!({ "login": "anna", "role": "agent", "password": "password-1" });
    let res = admin.send(Method::POST, "/users", Some(user.clone())).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = admin.send(Method::POST, "/users", Some(user)).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let text = res.text().await.expect("body");
    assert!(text.contains("anna already exists"), "{text}");
    assert!(!text.contains("UNIQUE"), "{text}");
}

#[tokio::test]
async fn a_failed_admin_form_shows_its_message_on_the_admin_page() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let post = |path: &str, form: &[(&str, &str)]| {
        let mut form = form.to_vec();
        form.insert(0, ("csrf", admin.csrf.as_str()));
        admin.client.post(format!("{}{path}", server.base)).form(&form).send()
    };
    let user = [("login", "bo"), ("role", "agent"), ("password", "short")];
    let res = post("/admin/users", &user).await.expect("sent");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let text = res.text().await.expect("body");
    assert!(text.contains("id=\"form-error\""), "{text}");
    assert!(text.contains("8 characters or more"), "{text}");
    assert!(text.contains("<h1>Administration</h1>"), "{text}");
    let spring = [("name", "Spring"), ("mode", "predictive"), ("rule_set", "none")];
    let res = post("/admin/campaigns", &spring).await.expect("sent");
    assert!(res.status().is_success(), "{}", res.status());
    let res = post("/admin/campaigns", &spring).await.expect("sent");
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let text = res.text().await.expect("body");
    assert!(text.contains("a campaign named Spring already exists"), "{text}");
    assert!(!text.starts_with('{'), "{text}");
    // Without the CSRF token the form is still refused outright.
    let url = format!("{}/admin/campaigns", server.base);
    let res = admin.client.post(url).form(&spring).send().await.expect("sent");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_campaign_that_cannot_dial_says_why_in_the_api_and_on_its_page() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let body = json!({ "name": "Sthlm", "rule_set": "se" });
    let se = admin.json(Method::POST, "/campaigns", Some(body)).await;
    let se = se["id"].as_u64().expect("an id");
    let free = open_campaign(&admin, "Free", "progressive").await;
    let doc = admin.json(Method::GET, &format!("/campaigns/{se}"), None).await;
    let why: Vec<String> = serde_json::from_value(doc["cannot_dial"].clone()).expect("a list");
    assert_eq!(why.len(), 2, "{why:?}");
    assert!(why[0].contains("NIX") && why[0].contains("ringa dnc load"), "{why:?}");
    assert!(why[1].contains("add at least one caller ID"), "{why:?}");
    let all = admin.json(Method::GET, "/campaigns", None).await;
    let listed = all.as_array().expect("a list");
    let of = |id: u64| listed.iter().find(|c| c["id"] == id).expect("listed").clone();
    assert_eq!(of(se)["cannot_dial"], doc["cannot_dial"]);
    assert_eq!(of(free)["cannot_dial"], json!([]));
    let page = admin.client.get(format!("{}/admin/campaigns/{se}", server.base)).send().await;
    let page = page.expect("sent").text().await.expect("body");
    assert!(page.contains("id=\"cannot-dial\""), "{page}");
    assert!(page.contains("add at least one caller ID"), "{page}");
    let page = admin.client.get(format!("{}/admin/campaigns/{free}", server.base)).send().await;
    let page = page.expect("sent").text().await.expect("body");
    assert!(!page.contains("id=\"cannot-dial\""), "{page}");
}

/// The plain HTML forms carry the CSRF token in a hidden field of the
/// posted body: no page puts it in a URL, and a token in the query string
/// is refused.
#[tokio::test]
async fn the_csrf_token_travels_in_a_hidden_form_field_never_in_a_url() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let campaign = open_campaign(&admin, "Forms", "progressive").await;
    let lists = admin
        .json(Method::POST, &format!("/campaigns/{campaign}/lists"), Some(json!({"name": "L"})))
        .await;
    let list = lists["id"].as_u64().expect("a list id");
    for path in ["/admin".to_string(), format!("/admin/campaigns/{campaign}")] {
        let page = admin.client.get(format!("{}{path}", server.base)).send().await;
        let page = page.expect("sent").text().await.expect("body");
        assert!(!page.contains("csrf="), "{path} puts the token in a URL: {page}");
        let field = format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", admin.csrf);
        // Forms that change state post the token; search forms (GET) carry none.
        let forms = page.matches("method=\"post\"").count();
        assert!(forms >= 3, "{path}: {page}");
        assert_eq!(page.matches(&field).count(), forms, "{path}: a form without the token");
    }

    // The token in the query string no longer counts; in the body it does.
    let form = [("name", "Q"), ("mode", "progressive"), ("rule_set", "none")];
    let url = format!("{}/admin/campaigns?csrf={}", server.base, admin.csrf);
    let res = admin.client.post(url).form(&form).send().await.expect("sent");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let with_field = [
        ("csrf", admin.csrf.as_str()),
        ("name", "B"),
        ("mode", "progressive"),
        ("rule_set", "none"),
    ];
    let url = format!("{}/admin/campaigns", server.base);
    let res = admin.client.post(&url).form(&with_field).send().await.expect("sent");
    assert!(res.status().is_success(), "{}", res.status());
    assert!(!res.url().as_str().contains("csrf"), "{}", res.url());

    // A multipart upload carries it as a field too, and the file still arrives.
    let upload = |token: &str| {
        let b = "----ringa-test";
        let body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"l.csv\"\r\n\
             Content-Type: text/csv\r\n\r\nname,phone\nAnna,070-1112233\n\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"mapping\"\r\n\r\n\r\n--{b}--\r\n"
        );
        admin
            .client
            .post(format!("{}/admin/lists/{list}/import", server.base))
            .header("content-type", format!("multipart/form-data; boundary={b}"))
            .body(body)
            .send()
    };
    let res = upload("wrong").await.expect("sent");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = upload(&admin.csrf).await.expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.expect("body");
    assert!(text.contains("id=\"import-total\">1<"), "{text}");
}

/// The administrator's one-time password of the first start is one-time:
/// until it is replaced every other call is 409 (pages lead to the form),
/// the change needs the current password and a different new one, the
/// session goes on after it, and the one-time password no longer logs in,
/// also after a restart.
#[tokio::test]
async fn the_one_time_admin_password_only_sets_a_new_one_and_then_stops_working() {
    let server = start_untouched(tempfile::tempdir().expect("a folder"), 0).await;
    let once = server.admin_password.clone();
    assert!(!once.is_empty());
    let http = client();
    let login_with = |password: &str| {
        let body = json!({ "login": "admin", "password": password });
        http.post(format!("{}/api/v1/login", server.base)).json(&body).send()
    };
    let res = login_with(&once).await.expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["must_change_password"], true, "{body}");
    let csrf = body["csrf"].as_str().expect("a CSRF token").to_string();
    let user = body["user"].as_u64().expect("the user id");

    // Nothing but the password change is open to this session.
    let res = http.get(format!("{}/api/v1/campaigns", server.base)).send().await.expect("sent");
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let text = res.text().await.expect("body");
    assert!(text.contains("/api/v1/me/password") && text.contains("one-time"), "{text}");
    let res = http
        .post(format!("{}/api/v1/campaigns", server.base))
        .header("x-csrf-token", &csrf)
        .json(&json!({ "name": "Early" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = http.get(format!("{}/admin", server.base)).send().await.expect("sent");
    assert!(res.url().path().ends_with("/password"), "{}", res.url());
    let page = res.text().await.expect("body");
    assert!(page.contains("name=\"old_password\"") && page.contains("id=\"one-time\""), "{page}");
    let me = http.get(format!("{}/api/v1/me", server.base)).send().await.expect("sent");
    let me: Value = me.json().await.expect("JSON");
    assert_eq!(me["must_change_password"], true, "{me}");

    // The change needs the CSRF token, the current password, 8 characters
    // and a password other than the one-time one.
    let set = |old: &str, new: &str, csrf: &str| {
        http.post(format!("{}/api/v1/users/{user}/password", server.base))
            .header("x-csrf-token", csrf)
            .json(&json!({ "password": new, "old_password": old }))
            .send()
    };
    assert_eq!(set(&once, "my-own-password", "wrong").await.expect("sent").status(), 403);
    assert_eq!(set("not-it-at-all", "my-own-password", &csrf).await.expect("sent").status(), 403);
    assert_eq!(set(&once, "short", &csrf).await.expect("sent").status(), 400);
    assert_eq!(set(&once, &once, &csrf).await.expect("sent").status(), 400);
    assert_eq!(set(&once, "my-own-password", &csrf).await.expect("sent").status(), 204);

    // The session goes on, unrestricted; the one-time password is spent.
    let res = http.get(format!("{}/api/v1/campaigns", server.base)).send().await.expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(login_with(&once).await.expect("sent").status(), StatusCode::FORBIDDEN);
    let admin = login(&server, "admin", "my-own-password").await;
    let campaigns = admin.send(Method::GET, "/campaigns", None).await;
    assert_eq!(campaigns.status(), StatusCode::OK);

    let again = start_in(server.stop(), 0).await;
    let admin = login(&again, "admin", "my-own-password").await;
    assert_eq!(admin.send(Method::GET, "/campaigns", None).await.status(), StatusCode::OK);
}

/// The id of the user with `login`, from the admin's user list.
async fn user_id(admin: &Session, login: &str) -> u64 {
    let users = admin.json(Method::GET, "/users", None).await;
    let users = users.as_array().expect("a list").clone();
    let user = users.iter().find(|u| u["login"] == login).expect("the user is listed");
    user["id"].as_u64().expect("an id")
}

/// What `GET path` answers: the status and the path it ended on after
/// redirects.
async fn get_page(who: &Session, path: &str) -> (StatusCode, String) {
    let res = who.client.get(format!("{}{path}", who.base)).send().await.expect("sent");
    (res.status(), res.url().path().to_string())
}

/// Disabling a user ends the user's sessions (API and pages) and tokens
/// at the next request, not at logout or timeout: through the API, and
/// when another process (`ringa user disable`, another node) changes the
/// stored user. Enabling again brings back neither old sessions nor
/// revoked tokens. An administrator cannot disable themselves.
#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_tokens_at_once() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let campaign = open_campaign(&admin, "Floor", "preview").await;
    add_user(&admin, "agent1", "agent", &[campaign]).await;
    add_user(&admin, "boss", "admin", &[]).await;
    let agent = login(&server, "agent1", "password-1").await;
    let desk = login(&server, "agent1", "password-1").await;
    let boss = login(&server, "boss", "password-1").await;
    let token =
        boss.json(Method::POST, "/tokens", Some(json!({ "name": "crm", "scopes": ["read"] })));
    let secret = token.await["token"].as_str().expect("the secret").to_string();
    let with_token =
        || client().get(format!("{}/api/v1/campaigns", server.base)).bearer_auth(&secret).send();
    assert_eq!(with_token().await.expect("sent").status(), StatusCode::OK);
    assert_eq!(agent.send(Method::GET, "/me", None).await.status(), StatusCode::OK);
    assert_eq!(get_page(&desk, "/agent").await, (StatusCode::OK, "/agent".into()));

    // Through the API: the very next request of each session is refused.
    let agent_id = user_id(&admin, "agent1").await;
    let body = json!({ "active": false });
    let changed = admin.json(Method::PATCH, &format!("/users/{agent_id}"), Some(body)).await;
    assert_eq!(changed["active"], false, "{changed}");
    assert_eq!(agent.send(Method::GET, "/me", None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get_page(&desk, "/agent").await, (StatusCode::OK, "/login".into()));
    let res = client()
        .post(format!("{}/api/v1/login", server.base))
        .json(&json!({ "login": "agent1", "password": "password-1" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Enabled again, the old sessions stay ended; a new login works.
    let body = json!({ "active": true });
    admin.json(Method::PATCH, &format!("/users/{agent_id}"), Some(body)).await;
    assert_eq!(agent.send(Method::GET, "/me", None).await.status(), StatusCode::UNAUTHORIZED);
    let agent = login(&server, "agent1", "password-1").await;
    assert_eq!(agent.send(Method::GET, "/me", None).await.status(), StatusCode::OK);

    // Changed in the store by another process: no request of this server
    // closed the sessions, the stored user ends them all the same, and the
    // disabled administrator's token with them.
    let boss_id = ringa_core::AgentId(user_id(&admin, "boss").await);
    server.state.store.set_user_active(boss_id, false).await.expect("stored");
    assert_eq!(boss.send(Method::GET, "/me", None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(with_token().await.expect("sent").status(), StatusCode::UNAUTHORIZED);
    server.state.store.set_user_active(boss_id, true).await.expect("stored");
    assert_eq!(with_token().await.expect("sent").status(), StatusCode::OK, "not revoked");

    // Disabled through the API, the token is revoked for good.
    let body = json!({ "active": false });
    admin.json(Method::PATCH, &format!("/users/{}", boss_id.0), Some(body)).await;
    assert_eq!(with_token().await.expect("sent").status(), StatusCode::UNAUTHORIZED);
    admin
        .json(Method::PATCH, &format!("/users/{}", boss_id.0), Some(json!({"active": true})))
        .await;
    assert_eq!(with_token().await.expect("sent").status(), StatusCode::UNAUTHORIZED);
    let tokens = admin.json(Method::GET, "/tokens", None).await;
    assert_eq!(tokens[0]["revoked"], true, "{tokens}");

    // An administrator may not disable or demote themselves.
    let me = user_id(&admin, "admin").await;
    for body in [json!({ "active": false }), json!({ "role": "agent" })] {
        let res = admin.send(Method::PATCH, &format!("/users/{me}"), Some(body)).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
    }
    assert_eq!(admin.send(Method::GET, "/me", None).await.status(), StatusCode::OK);

    // The admin page disables with a form, and says so.
    let form = [("csrf", admin.csrf.as_str()), ("action", "disable")];
    let url = format!("{}/admin/users/{agent_id}", server.base);
    let res = admin.client.post(&url).form(&form).send().await.expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.expect("body");
    let row = page.split("data-login=\"agent1\"").nth(1).expect("the agent's row");
    assert!(row.split("</tr>").next().is_some_and(|r| r.contains("disabled")), "{row}");
    assert_eq!(agent.send(Method::GET, "/me", None).await.status(), StatusCode::UNAUTHORIZED);
}

/// A role or password change by an administrator ends the user's
/// sessions; a password the administrator sets is one-time only when
/// asked. A user's own change ends the user's other sessions and keeps
/// the one it was made in.
#[tokio::test]
async fn a_role_or_password_change_ends_the_users_other_sessions() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    add_user(&admin, "anna", "agent", &[]).await;
    let anna_id = user_id(&admin, "anna").await;
    let anna = login(&server, "anna", "password-1").await;
    assert_eq!(anna.send(Method::GET, "/wall", None).await.status(), StatusCode::FORBIDDEN);

    let body = json!({ "role": "supervisor" });
    let changed = admin.json(Method::PATCH, &format!("/users/{anna_id}"), Some(body)).await;
    assert_eq!(changed["role"], "supervisor", "{changed}");
    assert_eq!(anna.send(Method::GET, "/me", None).await.status(), StatusCode::UNAUTHORIZED);
    let anna = login(&server, "anna", "password-1").await;
    assert_eq!(anna.send(Method::GET, "/wall", None).await.status(), StatusCode::OK);
    let path = format!("/users/{anna_id}");
    let res = admin.send(Method::PATCH, &path, Some(json!({ "role": "boss" }))).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // An administrator's password for her: her sessions end; not one-time.
    let path = format!("/users/{anna_id}/password");
    admin.json(Method::POST, &path, Some(json!({ "password": "password-2" }))).await;
    assert_eq!(anna.send(Method::GET, "/me", None).await.status(), StatusCode::UNAUTHORIZED);
    let anna = login(&server, "anna", "password-2").await;
    let me = anna.json(Method::GET, "/me", None).await;
    assert_eq!(me["must_change_password"], false, "{me}");

    // One-time when asked: then only the change is open.
    let body = json!({ "password": "password-3", "must_change_password": true });
    admin.json(Method::POST, &path, Some(body)).await;
    let anna = login(&server, "anna", "password-3").await;
    assert_eq!(anna.send(Method::GET, "/wall", None).await.status(), StatusCode::CONFLICT);

    // Her own change, in one of two sessions: the other one ends.
    let other = login(&server, "anna", "password-3").await;
    let own = |old: &str, new: &str| json!({ "old_password": old, "new_password": new });
    let res = anna.send(Method::POST, "/me/password", Some(own("wrong-one", "password-4"))).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = anna.send(Method::POST, "/me/password", Some(own("password-3", "pass"))).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = anna.send(Method::POST, "/me/password", Some(own("password-3", "password-4"))).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(anna.send(Method::GET, "/wall", None).await.status(), StatusCode::OK);
    assert_eq!(other.send(Method::GET, "/me", None).await.status(), StatusCode::UNAUTHORIZED);
    login(&server, "anna", "password-4").await;

    // Wrong current passwords slow down like wrong logins.
    for n in 1..=5 {
        let res = anna.send(Method::POST, "/me/password", Some(own("wrong-one", "password-5")));
        assert_eq!(res.await.status(), StatusCode::FORBIDDEN, "wrong password {n}");
    }
    let res = anna.send(Method::POST, "/me/password", Some(own("password-4", "password-5")));
    assert_eq!(res.await.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// The admin page's user forms: a role change ends the user's sessions;
/// a password set there is one-time when the box is ticked; an
/// administrator's own password is set on the password page only.
#[tokio::test]
async fn the_admin_page_changes_roles_and_sets_one_time_passwords() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    add_user(&admin, "bo", "agent", &[]).await;
    let bo_id = user_id(&admin, "bo").await;
    let bo = login(&server, "bo", "password-1").await;
    let post = |path: String, form: Vec<(&'static str, &'static str)>| {
        let mut form: Vec<(&str, String)> =
            form.into_iter().map(|(k, v)| (k, v.to_string())).collect();
        form.insert(0, ("csrf", admin.csrf.clone()));
        admin.client.post(format!("{}{path}", server.base)).form(&form).send()
    };

    let res =
        post(format!("/admin/users/{bo_id}"), vec![("action", "role"), ("role", "supervisor")]);
    assert_eq!(res.await.expect("sent").url().path(), "/admin");
    assert_eq!(bo.send(Method::GET, "/me", None).await.status(), StatusCode::UNAUTHORIZED);
    let bo = login(&server, "bo", "password-1").await;
    assert_eq!(bo.send(Method::GET, "/wall", None).await.status(), StatusCode::OK);

    let form = vec![("password", "temporary-9"), ("one_time", "on")];
    let res = post(format!("/admin/users/{bo_id}/password"), form).await.expect("sent");
    assert_eq!(res.url().path(), "/admin");
    assert_eq!(bo.send(Method::GET, "/me", None).await.status(), StatusCode::UNAUTHORIZED);
    let bo = login(&server, "bo", "temporary-9").await;
    assert_eq!(bo.send(Method::GET, "/wall", None).await.status(), StatusCode::CONFLICT);

    let me = user_id(&admin, "admin").await;
    let res = post(format!("/admin/users/{me}/password"), vec![("password", "whatever-1")]);
    let res = res.await.expect("sent");
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.expect("body").contains("password page"));
}

/// A user an administrator creates with a one-time password must replace
/// it at the first login (pages lead to the form, the API answers 409);
/// one created without the mark may go anywhere the role allows.
#[tokio::test]
async fn a_one_time_password_chosen_by_an_admin_must_be_changed_first() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let campaign = open_campaign(&admin, "Floor", "preview").await;
    let body = json!({
        "login": "new1", "role": "agent", "password": "temporary-1", "campaigns": [campaign],
        "must_change_password": true,
    });
    admin.json(Method::POST, "/users", Some(body)).await;
    add_user(&admin, "plain", "agent", &[campaign]).await;

    let plain = login(&server, "plain", "password-1").await;
    assert_eq!(plain.send(Method::GET, "/campaigns", None).await.status(), StatusCode::OK);

    let new = login(&server, "new1", "temporary-1").await;
    for path in ["/campaigns", "/agent/state", &format!("/campaigns/{campaign}")] {
        let res = new.send(Method::GET, path, None).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "{path}");
        let body: Value = res.json().await.expect("JSON");
        assert!(body["error"].as_str().unwrap_or("").contains("change your password"), "{body}");
    }
    for page in ["/agent", "/", "/wall"] {
        assert_eq!(get_page(&new, page).await, (StatusCode::OK, "/password".into()), "{page}");
    }

    // The form: the repeat must match; then the session goes on to the desk.
    let url = format!("{}/password", server.base);
    let form = |repeat: &'static str| {
        let csrf = new.csrf.clone();
        vec![
            ("csrf", csrf),
            ("old_password", "temporary-1".to_string()),
            ("password", "chosen-password".to_string()),
            ("repeat", repeat.to_string()),
        ]
    };
    let res = new.client.post(&url).form(&form("typo-password")).send().await.expect("sent");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.expect("body").contains("differ"));
    let res = new.client.post(&url).form(&form("chosen-password")).send().await.expect("sent");
    assert_eq!(res.url().path(), "/agent");
    assert_eq!(new.send(Method::GET, "/campaigns", None).await.status(), StatusCode::OK);
}

/// Pages and the API check the same role sets: for every role, a page
/// and the API call behind it both answer or both refuse.
#[tokio::test]
async fn pages_and_the_api_agree_on_who_may_use_them() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    add_user(&admin, "agent1", "agent", &[]).await;
    add_user(&admin, "super", "supervisor", &[]).await;
    let pairs = [
        ("/agent", "/agent/state"),
        ("/password", "/me"),
        ("/wall", "/wall"),
        ("/admin", "/tokens"),
    ];
    let mut refused = 0;
    for (who, password) in [
        ("admin", server.admin_password.as_str()),
        ("agent1", "password-1"),
        ("super", "password-1"),
    ] {
        let session = login(&server, who, password).await;
        for (page, api) in pairs {
            let (page_status, _) = get_page(&session, page).await;
            let api_status = session.send(Method::GET, api, None).await.status();
            assert_eq!(page_status, api_status, "{who}: {page} and {api}");
            if page_status == StatusCode::FORBIDDEN {
                refused += 1;
            }
        }
    }
    // The agent is refused the wall and the admin page, the supervisor
    // the admin page.
    assert_eq!(refused, 3);
}

/// A lead whose number an open contact of the campaign already has is a
/// duplicate: 200 with that contact, nothing stored, not dialed again,
/// also when the same number arrives twice at once. Another campaign
/// takes the number as a new lead.
#[tokio::test]
async fn a_duplicate_lead_answers_the_open_contact_and_stores_nothing() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let campaign = open_campaign(&admin, "Dupes", "progressive").await;
    let other = open_campaign(&admin, "Others", "progressive").await;
    let token = admin
        .json(Method::POST, "/tokens", Some(json!({ "name": "form", "scopes": ["leads"] })))
        .await;
    let secret = token["token"].as_str().expect("the secret").to_string();
    let http = client();
    let url = format!("{}/api/v1/leads", server.base);
    let send = |campaign: u64, phone: &'static str| {
        let body = json!({ "campaign": campaign, "phone": phone, "name": "Dupe" });
        let req = http.post(&url).bearer_auth(&secret).json(&body);
        async move {
            let res = req.send().await.expect("sent");
            let status = res.status();
            let body: Value = res.json().await.expect("JSON");
            (status, body)
        }
    };

    let (status, first) = send(campaign, "070-7654321").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["duplicate"], false);
    let (status, again) = send(campaign, "+46 70 765 43 21").await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["contact"], first["contact"]);

    // Three at once with a new number: one contact, the others point to it.
    let burst = futures_util::future::join_all((0..3).map(|_| send(campaign, "070-5550001"))).await;
    let ids: std::collections::BTreeSet<u64> =
        burst.iter().map(|(_, b)| b["contact"].as_u64().expect("a contact")).collect();
    assert_eq!(ids.len(), 1, "{burst:?}");
    let created = burst.iter().filter(|(s, _)| *s == StatusCode::ACCEPTED).count();
    assert_eq!(created, 1, "{burst:?}");

    let (status, elsewhere) = send(other, "070-7654321").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{elsewhere}");
    assert_ne!(elsewhere["contact"], first["contact"]);

    let blockers = server
        .state
        .store
        .dial_blockers(ringa_core::CampaignId(campaign), Timestamp::now())
        .await
        .expect("counts");
    let total = blockers.dialable_now + blockers.quarantined + blockers.claimed;
    assert_eq!(total, 2, "two contacts in the campaign: {blockers:?}");
}

/// Campaigns and contacts another process adds to the store (as `ringa
/// import` does while `ringa serve` runs) are dialed within seconds,
/// without a save or a restart.
#[tokio::test]
async fn campaigns_and_contacts_added_by_another_process_are_dialed_within_seconds() {
    let server = start(1).await;
    let store = &server.state.store;
    let now = Timestamp::now();
    let contact = |raw: &str| NewContact {
        numbers: vec![NewNumber {
            number: PhoneNumber::parse(raw, Region::SE).expect("a valid number"),
            label: "main".into(),
            raw: raw.to_string(),
        }],
        ..NewContact::default()
    };
    let dialed_within = |contact: ContactId, limit: Duration| async move {
        let started = Instant::now();
        while started.elapsed() < limit {
            if !store.attempts_of_contact(contact).await.expect("attempts").is_empty() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };

    // A campaign made outside the server, with its configuration and a list.
    let row = store.ensure_campaign("Outside", Region::SE, now).await.expect("a campaign");
    let id = row.id;
    let mut doc = serde_json::to_value(ringa_core::campaign::Campaign::new(
        id,
        "Outside",
        ringa_core::DialMode::Progressive,
        ringa_core::RuleSet::None,
    ))
    .expect("a document");
    doc["rules"]["windows"] =
        json!({ "spans": [{ "days": "all", "start": "00:00:00", "end": "00:00:00" }] });
    store.set_campaign_config(id, &doc).await.expect("configured");
    let list = store.ensure_list(id, "Outside", now).await.expect("a list");
    let first = store.insert_contacts(&list, &[contact("070-3331111")], now).await.expect("in");
    assert!(dialed_within(first[0], Duration::from_secs(6)).await, "the new campaign is dialed");

    // Once its list is spent, more contacts arrive: dialed in seconds too,
    // not after the engine's rest time of a minute.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let more = store.insert_contacts(&list, &[contact("070-3332222")], Timestamp::now()).await;
    let more = more.expect("inserted");
    assert!(dialed_within(more[0], Duration::from_secs(6)).await, "the new contact is dialed");
}

/// The wall's orders per hour count the talk of calls the customer ended
/// (and of calls still connected), and each rule set's drop window is
/// named as the rule set defines it.
#[tokio::test]
async fn the_wall_counts_orders_per_hour_and_names_each_drop_window() {
    let server = start(1).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let id = open_campaign(&admin, "Orders", "progressive").await;
    // Only sales to choose from: every call the simulated agent works is one.
    let mut doc = admin.json(Method::GET, &format!("/campaigns/{id}"), None).await;
    let sales: Vec<Value> = doc["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .filter(|o| o["sale"] == true)
        .cloned()
        .collect();
    assert!(!sales.is_empty(), "{doc}");
    doc["outcomes"] = Value::Array(sales);
    admin.json(Method::PUT, &format!("/campaigns/{id}"), Some(doc)).await;
    for (name, rule_set) in [("Se", "se"), ("Uk", "uk"), ("Us", "us")] {
        let body = json!({ "name": name, "rule_set": rule_set, "mode": "preview" });
        admin.json(Method::POST, "/campaigns", Some(body)).await;
    }
    import(&admin, id, "name,phone\nA,070-1112233\nB,070-1112244\n").await;

    let started = Instant::now();
    let wall = loop {
        let wall = admin.json(Method::GET, "/wall", None).await;
        let sold = wall["snapshot"]["campaigns"]
            .as_array()
            .expect("campaigns")
            .iter()
            .any(|c| c["id"] == id && c["sales"].as_u64().unwrap_or(0) >= 1);
        if sold || started.elapsed() > Duration::from_secs(25) {
            break wall;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let campaigns = wall["snapshot"]["campaigns"].as_array().expect("campaigns").clone();
    let by_name =
        |name: &str| campaigns.iter().find(|c| c["name"] == name).cloned().expect("on the wall");
    let orders = by_name("Orders");
    assert!(orders["sales"].as_u64().unwrap_or(0) >= 1, "{orders}");
    assert!(orders["talk_seconds"].as_f64().unwrap_or(0.0) > 0.0, "{orders}");
    assert!(orders["orders_per_hour"].as_f64().is_some_and(|v| v > 0.0), "{orders}");

    assert_eq!(by_name("Se")["window_label"], "calendar day");
    assert_eq!(by_name("Uk")["window_label"], "last 24 hours");
    assert_eq!(by_name("Us")["window_label"], "last 30 days");
    assert_eq!(orders["window_label"], "calendar day", "rule set none");
}

/// The card's history shows each attempt in the contact's zone (else the
/// campaign's), with the zone's name.
#[tokio::test]
async fn the_contact_history_shows_local_times_with_the_zone() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let store = &server.state.store;
    let now = Timestamp::now();
    let (campaign, list) = campaign_the_floor_leaves_alone(store, "Zones", now).await;
    let contacts: Vec<NewContact> =
        [("070-1112233", Some("America/New_York")), ("070-4445566", None)]
            .into_iter()
            .map(|(raw, zone)| NewContact {
                numbers: vec![NewNumber {
                    number: PhoneNumber::parse(raw, Region::SE).expect("a valid number"),
                    label: "main".into(),
                    raw: raw.to_string(),
                }],
                zone: zone.map(|z| ringa_core::ZoneName::parse(z).expect("a zone")),
                ..NewContact::default()
            })
            .collect();
    let ids = store.insert_contacts(&list, &contacts, now).await.expect("contacts");
    let campaign = campaign.0;
    let mut checked = 0;
    for (&id, zone) in ids.iter().zip(["America/New_York", "Europe/Stockholm"]) {
        close_attempt(store, id, CallResult::Busy, Some(486), None, now).await;

        let path = format!("/campaigns/{campaign}/contacts/{}", id.0);
        let contact = admin.json(Method::GET, &path, None).await;
        assert_eq!(contact["history_zone"], zone, "{contact}");
        let entry = &contact["history"][0];
        let at: Timestamp = entry["started_at"].as_str().expect("a time").parse().expect("time");
        let tz = jiff::tz::db().get(zone).expect("a known zone");
        let local = at.to_zoned_datetime(tz);
        let want = jiff::fmt::strtime::format("%Y-%m-%d %H:%M:%S %Z", &local).expect("formats");
        assert_eq!(entry["started_local"], want.as_str(), "{contact}");
        checked += 1;
    }
    assert_eq!(checked, 2);
}

/// A contact search through the API as `who`: the status and the answer.
async fn search(who: &Session, campaign: u64, q: &str) -> (StatusCode, Value) {
    let url = format!("{}/api/v1/campaigns/{campaign}/contacts", who.base);
    let res = who.client.get(url).query(&[("q", q)]).send().await.expect("sent");
    let status = res.status();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The names of the contacts a search answered.
fn names(found: &Value) -> Vec<&str> {
    let contacts = found["contacts"].as_array().map(Vec::as_slice).unwrap_or_default();
    contacts.iter().filter_map(|c| c["name"].as_str()).collect()
}

#[tokio::test]
async fn contacts_are_found_by_number_or_name_within_the_callers_campaigns() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let mine = open_campaign(&admin, "Search", "preview").await;
    let other = open_campaign(&admin, "Elsewhere", "preview").await;
    let csv = "name,phone\nAnna Berg,+46701234567\nBo 50% Lund,070-7654321\n\
               Bo 500 Lund,070-7654322\nCarl_Ek,070-1112233\nCarlsEk,070-1112244\n\
               Åsa Ärlig,070-9998877\n";
    let report = import(&admin, mine, csv).await;
    let anna = report["report"]["rows"][0]["contact"].as_u64().expect("a contact");
    import(&admin, other, "name,phone\nAnna Annan,070-1234567\n").await;
    add_user(&admin, "agent1", "agent", &[other]).await;
    add_user(&admin, "super", "supervisor", &[]).await;

    // A number written nationally finds the contact stored in E.164, and
    // only in the campaign asked about.
    let (status, found) = search(&admin, mine, "070-123 45 67").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(names(&found), ["Anna Berg"], "{found}");
    let hit = &found["contacts"][0];
    assert_eq!(hit["id"], anna);
    assert_eq!(hit["numbers"], json!(["+46701234567"]));
    assert!(hit["state"].is_string() && hit["attempts"].is_u64(), "{hit}");
    assert!(hit["next_at"].as_str().is_some_and(|t| t.parse::<Timestamp>().is_ok()), "{hit}");
    assert_eq!(found["more"], false);

    // Part of a name, in any case; a supervisor may search too.
    let supervisor = login(&server, "super", "password-1").await;
    let (status, found) = search(&supervisor, mine, "bErG").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(names(&found), ["Anna Berg"]);
    let (_, found) = search(&admin, mine, "lund").await;
    assert_eq!(names(&found), ["Bo 50% Lund", "Bo 500 Lund"]);

    // Any letter in any case, and the last digits of a number.
    let (_, found) = search(&admin, mine, "ÅSA ärLIG").await;
    assert_eq!(names(&found), ["Åsa Ärlig"]);
    let (_, found) = search(&admin, mine, "98 877").await;
    assert_eq!(names(&found), ["Åsa Ärlig"]);
    let (_, found) = search(&admin, mine, "4567").await;
    assert_eq!(names(&found), ["Anna Berg"]);

    // `%` and `_` are literal, not wildcards.
    let (_, found) = search(&admin, mine, "50%").await;
    assert_eq!(names(&found), ["Bo 50% Lund"]);
    let (_, found) = search(&admin, mine, "l_e").await;
    assert_eq!(names(&found), ["Carl_Ek"]);
    let (_, found) = search(&admin, mine, "%").await;
    assert_eq!(names(&found), ["Bo 50% Lund"]);

    // An empty query is refused with a message that says what to give.
    for q in ["", "   "] {
        let (status, found) = search(&admin, mine, q).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{found}");
        let message = found["error"].as_str().unwrap_or_default();
        assert!(message.contains("empty") && message.contains("phone number"), "{found}");
    }

    // An agent of another campaign is refused, as for the contact itself;
    // in the own campaign the agent finds its own contact only.
    let agent = login(&server, "agent1", "password-1").await;
    let (status, _) = search(&agent, mine, "Anna").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let path = format!("/campaigns/{mine}/contacts/{anna}");
    assert_eq!(agent.send(Method::GET, &path, None).await.status(), StatusCode::FORBIDDEN);
    let (status, found) = search(&agent, other, "070-123 45 67").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(names(&found), ["Anna Annan"]);

    // The campaign page searches with a GET form and lists numbers and state.
    let url = format!("{}/admin/campaigns/{mine}", server.base);
    let page = admin.client.get(&url).query(&[("q", "070-123 45 67")]).send().await;
    let page = page.expect("sent").text().await.expect("body");
    assert!(page.contains("id=\"contact-search\""), "{page}");
    assert!(page.contains("<form method=\"get\""), "{page}");
    assert!(page.contains("Anna Berg") && page.contains("+46701234567"), "{page}");
    assert!(!page.contains("Bo 50% Lund"), "{page}");
    let state = hit["state"].as_str().expect("a state");
    assert!(page.contains(&format!("<td>{state}</td>")), "{page}");
}

/// The learned state of every campaign as `GET .../learned-state` shows it.
async fn learned(session: &Session, campaign: u64) -> Value {
    session.json(Method::GET, &format!("/campaigns/{campaign}/learned-state"), None).await
}

/// A campaign's learned state (version 1, no pacer model) in which one number's voicemail
/// picked up twice after 20 s.
fn voicemail_learned() -> Value {
    let pickups = json!({ "pickups_ms": [20000, 20400] });
    json!({
        "version": 1,
        "pacer": null,
        "voicemail": {
            "contacts": [],
            "numbers": [{ "number": "+46701112233", "ring_time": pickups }],
            "voicemail_answers": 2.0,
            "person_answers": 0.0,
        },
    })
}

/// What a campaign learned is restored when the server starts again (here
/// as saved by a previous day), an administrator warm-starts another
/// campaign from it, what the floor holds is saved when it stops, and a
/// saved state that does not fit leaves its campaign cold without stopping
/// the server.
#[tokio::test]
async fn learned_state_is_restored_at_start_and_copied_to_a_new_campaign() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let day1 = open_campaign(&admin, "Day one", "progressive").await;
    let fresh = open_campaign(&admin, "Day two", "progressive").await;
    let broken = open_campaign(&admin, "Broken", "predictive").await;
    add_user(&admin, "super1", "supervisor", &[day1, fresh]).await;
    let store = server.state.store.clone();
    // A previous day: one number's voicemail picked up twice after 20 s.
    let saved = voicemail_learned();
    let yesterday = Timestamp::now() - jiff::SignedDuration::from_hours(14);
    store.save_learned_state(CampaignId(day1), &saved.to_string(), yesterday).await.expect("saved");
    let newer = r#"{"version": 99, "from": "a later ringa"}"#;
    store.save_learned_state(CampaignId(broken), newer, yesterday).await.expect("saved");
    assert_eq!(learned(&admin, day1).await["live"]["numbers"], 0, "not restored while running");

    server.state.floor.shutdown().await;
    let dir = server.stop();
    let server = start_in(dir, 0).await;
    let admin = login(&server, "admin", ADMIN_PASSWORD).await;
    let state = learned(&admin, day1).await;
    assert_eq!(state["live"]["numbers"], 1, "restored at start: {state}");
    assert_eq!(state["live"]["voicemail_answers"], 2.0);
    let at: Timestamp =
        state["saved"]["updated_at"].as_str().expect("saved").parse().expect("time");
    assert_eq!(at.as_millisecond(), yesterday.as_millisecond());
    let state = learned(&admin, broken).await;
    assert_eq!(state["live"]["outcomes_seen"], 0, "a state that does not fit: cold: {state}");
    assert_eq!(state["live"]["pacer"], "predictive");
    let error = state["saved"]["state"]["error"].as_str().expect("the saved state's error");
    assert!(error.contains("version 99"), "{error}");

    // Only an administrator copies.
    let copy = |to: u64, from: u64| format!("/campaigns/{to}/learned-state/copy-from/{from}");
    let supervisor = login(&server, "super1", "password-1").await;
    let res = supervisor.send(Method::POST, &copy(fresh, day1), None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(learned(&supervisor, fresh).await["live"]["numbers"], 0, "nothing copied");
    let res = admin.send(Method::POST, &copy(fresh, fresh), None).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "from itself");
    let res = admin.send(Method::POST, &copy(fresh, 4242), None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "from no campaign");
    let res = admin.send(Method::POST, &copy(fresh, broken), None).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "from a state that does not fit");

    let answer = admin.json(Method::POST, &copy(fresh, day1), None).await;
    assert_eq!(answer["state"]["numbers"], 1, "{answer}");
    let state = learned(&admin, fresh).await;
    assert_eq!(state["live"]["numbers"], 1, "the running campaign took it: {state}");
    assert_eq!(state["saved"]["state"]["numbers"], 1, "and it is saved: {state}");

    // Stopping saves what the floor holds; the next start restores it.
    server.state.floor.shutdown().await;
    let dir = server.stop();
    let server = start_in(dir, 0).await;
    let admin = login(&server, "admin", ADMIN_PASSWORD).await;
    assert_eq!(learned(&admin, fresh).await["live"]["numbers"], 1);
    let state = learned(&admin, broken).await;
    assert!(state["saved"]["state"]["error"].is_string(), "a cold campaign saves nothing: {state}");
}

/// A campaign's page shows what the campaign has learned, and its form
/// warm-starts it from another campaign (a failure shows its message).
#[tokio::test]
async fn the_campaign_page_shows_the_learned_models_and_copies_them_from_another() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let old = open_campaign(&admin, "Old", "progressive").await;
    let new = open_campaign(&admin, "New", "progressive").await;
    let learned_doc = voicemail_learned();
    let state = ringa_engine::LearnedState::from_json(&learned_doc.to_string()).expect("reads");
    server.state.floor.restore_learned_state(CampaignId(old), state).await.expect("fits");

    let page_of = |id: u64| {
        let url = format!("{}/admin/campaigns/{id}", server.base);
        let client = admin.client.clone();
        async move { client.get(url).send().await.expect("sent").text().await.expect("page") }
    };
    let row = "<th>numbers with voicemail ring times</th><td>";
    let page = page_of(new).await;
    assert!(page.contains("Learned models") && page.contains(&format!("{row}0</td>")), "{page}");
    assert!(page.contains(&format!("<option value=\"{old}\">Old</option>")), "{page}");

    let post = |from: u64| {
        let form = [("csrf", admin.csrf.clone()), ("from", from.to_string())];
        let url = format!("{}/admin/campaigns/{new}/learned-state", server.base);
        admin.client.post(url).form(&form).send()
    };
    let res = post(new).await.expect("sent");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let text = res.text().await.expect("body");
    assert!(text.contains("cannot be warmed from itself"), "{text}");
    let res = post(old).await.expect("sent");
    assert!(res.status().is_success(), "{}", res.status());
    let page = res.text().await.expect("the campaign's page again");
    assert!(page.contains(&format!("{row}1</td>")), "{page}");
    assert_eq!(learned(&admin, new).await["saved"]["state"]["numbers"], 1);
}

/// Whether the contact's card says it is active.
async fn card_active(who: &Session, campaign: u64, contact: u64) -> bool {
    let card =
        who.json(Method::GET, &format!("/campaigns/{campaign}/contacts/{contact}"), None).await;
    card["active"].as_bool().expect("the card says whether the contact is active")
}

/// A campaign the floor leaves alone with `n` contacts, each sold on a
/// closed attempt (an order each): the campaign, its list and the contacts.
async fn sold_contacts(
    store: &Store,
    name: &str,
    n: usize,
    now: Timestamp,
) -> (CampaignId, ListRow, Vec<ContactId>) {
    let (campaign, list) = campaign_the_floor_leaves_alone(store, name, now).await;
    let sales = vec![(CallResult::Connected, Some(200), Some("sale")); n];
    let ids = closed_attempts(store, &list, "070199", &sales, now).await;
    (campaign, list, ids)
}

/// One contact in `list` for each of `results` ("Kund 0", ... with the
/// numbers `prefix`0000, `prefix`0001, ...), each with one closed attempt
/// of that result, SIP code and outcome.
async fn closed_attempts(
    store: &Store,
    list: &ListRow,
    prefix: &str,
    results: &[(CallResult, Option<u16>, Option<&str>)],
    now: Timestamp,
) -> Vec<ContactId> {
    let contacts: Vec<NewContact> = (0..results.len())
        .map(|i| {
            let raw = format!("{prefix}00{i:02}");
            NewContact {
                name: Some(format!("Kund {i}")),
                numbers: vec![NewNumber {
                    number: PhoneNumber::parse(&raw, Region::SE).expect("a valid number"),
                    label: "main".into(),
                    raw,
                }],
                ..NewContact::default()
            }
        })
        .collect();
    let ids = store.insert_contacts(list, &contacts, now).await.expect("contacts");
    for (id, &(result, sip, outcome)) in ids.iter().zip(results) {
        close_attempt(store, *id, result, sip, outcome, now).await;
    }
    ids
}

/// One attempt on `contact`, begun and closed at `now` with this result,
/// SIP code and outcome.
async fn close_attempt(
    store: &Store,
    contact: ContactId,
    result: CallResult,
    sip_code: Option<u16>,
    outcome: Option<&str>,
    now: Timestamp,
) {
    let claim = store.claim_contact(contact, "case", now).await.expect("claim").expect("free");
    let start = AttemptStart {
        number: claim.numbers[0].number.clone(),
        caller_id: None,
        agent: None,
        amd: json!({}),
    };
    let attempt = store.begin_attempt(&claim, &start, now).await.expect("begin");
    let end = AttemptEnd {
        result,
        sip_code,
        outcome: outcome.map(str::to_string),
        agent: None,
        answered_at: result.answered().then_some(now),
        next: NextStep::Close,
    };
    store.finish_attempt(attempt, &end, now).await.expect("finish");
}

#[tokio::test]
async fn lists_contacts_and_orders_are_managed_over_the_api() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let store = &server.state.store;
    let now = Timestamp::now();
    let (campaign, list, contacts) = sold_contacts(store, "Ops", 3, now).await;
    let (c, l) = (campaign.0, list.id.0);

    // The list: enabled, its place in the mix, its daily cap; checked whole.
    let changed = admin
        .json(
            Method::PATCH,
            &format!("/lists/{l}"),
            Some(json!({ "enabled": true, "weight": 3, "priority": 2, "new_per_day": 40 })),
        )
        .await;
    assert_eq!(
        (&changed["enabled"], &changed["weight"], &changed["priority"], &changed["new_per_day"]),
        (&json!(true), &json!(3), &json!(2), &json!(40))
    );
    let row = store.list(list.id).await.expect("the list");
    assert_eq!((row.enabled, row.weight, row.priority, row.new_per_day), (true, 3, 2, Some(40)));
    let changed = admin
        .json(Method::PATCH, &format!("/lists/{l}"), Some(json!({ "new_per_day": null })))
        .await;
    assert_eq!((&changed["new_per_day"], &changed["weight"]), (&Value::Null, &json!(3)));
    for bad in [json!({ "weight": 0 }), json!({ "colour": "red" }), json!({ "enabled": "yes" })] {
        let res = admin.send(Method::PATCH, &format!("/lists/{l}"), Some(bad.clone())).await;
        assert!(res.status().is_client_error(), "{bad}: {}", res.status());
    }
    assert_eq!(store.list(list.id).await.expect("the list").weight, 3, "nothing half-written");
    let res = admin.send(Method::PATCH, "/lists/999999", Some(json!({ "enabled": false }))).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    admin.json(Method::PATCH, &format!("/lists/{l}"), Some(json!({ "enabled": false }))).await;

    // A reset names its outcomes; a sale is final in the default outcomes or
    // not, and either way the figures add up to the three closed contacts.
    let res = admin
        .send(Method::POST, &format!("/lists/{l}/reset"), Some(json!({ "outcomes": ["sael"] })))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let text = res.text().await.expect("body");
    assert!(text.contains("sael") && text.contains("sale"), "{text}");
    // Call results are codes too, as on the command line.
    admin
        .json(Method::POST, &format!("/lists/{l}/reset"), Some(json!({ "outcomes": ["busy"] })))
        .await;
    let report = admin
        .json(Method::POST, &format!("/lists/{l}/reset"), Some(json!({ "outcomes": ["sale"] })))
        .await;
    let total: u64 = ["reset", "kept_dnc", "kept_final", "kept_inactive"]
        .iter()
        .map(|k| report[k].as_u64().expect("a count"))
        .sum();
    assert_eq!(total, 3, "{report}");

    // A contact deactivated is never dialed; reactivated, it may be again.
    let first = contacts[0].0;
    let card = admin
        .json(
            Method::PATCH,
            &format!("/campaigns/{c}/contacts/{first}"),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(card["id"], json!(first));
    assert!(!store.contact(contacts[0]).await.expect("contact").active);
    admin
        .json(
            Method::PATCH,
            &format!("/campaigns/{c}/contacts/{first}"),
            Some(json!({ "active": true })),
        )
        .await;
    assert!(store.contact(contacts[0]).await.expect("contact").active);
    let res = admin
        .send(
            Method::PATCH,
            &format!("/campaigns/{}/contacts/{first}", c + 1000),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "a contact is changed in its own campaign");

    // Erasure: the personal data goes, the number stays blocked, the
    // contact is no longer found.
    let second = contacts[1].0;
    let erased =
        admin.json(Method::POST, &format!("/campaigns/{c}/contacts/{second}/erase"), None).await;
    assert_eq!(erased["numbers_hashed"], 1, "{erased}");
    let row = store.contact(contacts[1]).await.expect("the row stays");
    assert!(row.erased && row.name.is_none() && row.numbers.is_empty());
    let number = PhoneNumber::parse("0701990001", Region::SE).expect("valid");
    assert!(store.dnc_check(&number, Some(campaign)).is_some_and(|b| b.erased));
    let (status, found) = search(&admin, c, "Kund").await;
    assert_eq!(status, StatusCode::OK);
    let mut found = names(&found);
    found.sort();
    assert_eq!(found, ["Kund 0", "Kund 2"], "an erased contact is not found");
    let res =
        admin.send(Method::POST, &format!("/campaigns/{c}/contacts/{second}/erase"), None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "erased once");

    // Orders: one by its number, the rest from the client's file.
    let orders: Vec<_> = store
        .orders(
            now - jiff::SignedDuration::from_hours(1),
            Timestamp::now() + jiff::SignedDuration::from_hours(1),
        )
        .await
        .expect("orders")
        .into_iter()
        .filter(|o| o.campaign == campaign)
        .collect();
    assert_eq!(orders.len(), 3);
    let one = orders[0].id;
    let done = admin
        .json(Method::POST, &format!("/orders/{one}/cancel"), Some(json!({ "reason": "regret" })))
        .await;
    assert_eq!(done, json!({ "order": one, "cancelled": true }));
    let again = admin.json(Method::POST, &format!("/orders/{one}/cancel"), None).await;
    assert_eq!(again["cancelled"], false, "cancelled already");
    let res = admin.send(Method::POST, "/orders/999999/cancel", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let file = format!("order\n{one}\n070-199 00 02\nnot a number\n");
    let res = admin
        .client
        .post(format!(
            "{}/api/v1/campaigns/{c}/orders/cancellations?reason=client+file",
            admin.base
        ))
        .header("x-csrf-token", &admin.csrf)
        .header("content-type", "text/csv")
        .body(file)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.expect("report");
    assert_eq!((&report["cancelled"], &report["already_cancelled"]), (&json!(1), &json!(1)));
    assert_eq!(report["not_found"][0]["line"], 4, "{report}");
    let res = admin
        .client
        .post(format!("{}/api/v1/campaigns/{c}/orders/cancellations", admin.base))
        .header("x-csrf-token", &admin.csrf)
        .body(vec![0xffu8, 0xfe, 0x00, 0xd8, 0x41])
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "undecodable bytes are refused");

    assert_eq!(
        store.contact(contacts[0]).await.expect("contact").active,
        card_active(&admin, c, first).await
    );

    // Agents and supervisors may do none of it.
    add_user(&admin, "agent-ops", "agent", &[c]).await;
    let agent = login(&server, "agent-ops", "password-1").await;
    add_user(&admin, "super-ops", "supervisor", &[c]).await;
    let supervisor = login(&server, "super-ops", "password-1").await;
    let third = contacts[2].0;
    let attempts = [
        (Method::PATCH, format!("/lists/{l}"), Some(json!({ "enabled": true }))),
        (Method::POST, format!("/lists/{l}/reset"), None),
        (
            Method::PATCH,
            format!("/campaigns/{c}/contacts/{third}"),
            Some(json!({ "active": false })),
        ),
        (Method::POST, format!("/campaigns/{c}/contacts/{third}/erase"), None),
        (Method::POST, format!("/orders/{}/cancel", orders[2].id), None),
    ];
    for (method, path, body) in attempts {
        for who in [&agent, &supervisor] {
            let res = who.send(method.clone(), &path, body.clone()).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
        }
    }
    assert!(store.contact(contacts[2]).await.expect("contact").active);
}

/// The HTML of a page that must answer 200.
async fn page_html(who: &Session, path: &str) -> String {
    let res = who.client.get(format!("{}{path}", who.base)).send().await.expect("sent");
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.expect("body")
}

#[tokio::test]
async fn the_campaign_page_manages_lists_contacts_and_orders() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let store = &server.state.store;
    let now = Timestamp::now();
    let (campaign, list, contacts) = sold_contacts(store, "Page ops", 2, now).await;
    let (c, l) = (campaign.0, list.id.0);
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let mut form = form;
        form.insert(0, ("csrf", admin.csrf.clone()));
        admin.client.post(format!("{}{path}", server.base)).form(&form).send()
    };

    let page = page_html(&admin, &format!("/admin/campaigns/{c}")).await;
    for form in ["list-mix", "list-reset", "orders/cancellations"] {
        assert!(page.contains(form), "the page has no {form} form: {page}");
    }

    let form = vec![
        ("enabled", "on".to_string()),
        ("weight", "4".to_string()),
        ("priority", "1".to_string()),
        ("new_per_day", "25".to_string()),
    ];
    let res = post(format!("/admin/lists/{l}"), form).await.expect("sent");
    assert_eq!(res.url().path(), format!("/admin/campaigns/{c}"));
    let row = store.list(list.id).await.expect("the list");
    assert_eq!((row.enabled, row.weight, row.priority, row.new_per_day), (true, 4, 1, Some(25)));
    let form = vec![("weight", "2".to_string()), ("priority", "0".to_string())];
    post(format!("/admin/lists/{l}"), form).await.expect("sent");
    let row = store.list(list.id).await.expect("the list");
    assert_eq!((row.enabled, row.weight, row.new_per_day), (false, 2, None), "unticked, no cap");
    let bad = vec![("weight", "0".to_string()), ("priority", "0".to_string())];
    let res = post(format!("/admin/lists/{l}"), bad).await.expect("sent");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.expect("body").contains("at least 1"));

    let res = post(format!("/admin/lists/{l}/reset"), vec![("outcomes", "nope".to_string())]);
    let res = res.await.expect("sent");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let text = res.text().await.expect("body");
    assert!(text.contains("neither an outcome") && text.contains("nope"), "{text}");
    let res = post(format!("/admin/lists/{l}/reset"), vec![("outcomes", String::new())]);
    let text = res.await.expect("sent").text().await.expect("body");
    assert!(text.contains("id=\"reset-report\""), "{text}");

    let first = contacts[0].0;
    let off = vec![("active", "false".to_string())];
    post(format!("/admin/campaigns/{c}/contacts/{first}/active"), off).await.expect("sent");
    assert!(!store.contact(contacts[0]).await.expect("contact").active);
    let page = page_html(&admin, &format!("/admin/campaigns/{c}?q=0701990000")).await;
    assert!(page.contains("(inactive)") && page.contains("Activate"), "{page}");

    let second = contacts[1].0;
    let res = post(format!("/admin/campaigns/{c}/contacts/{second}/erase"), Vec::new());
    let res = res.await.expect("sent");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "an erasure must be confirmed");
    assert!(!store.contact(contacts[1]).await.expect("contact").erased);
    let confirm = vec![("confirm", "on".to_string())];
    post(format!("/admin/campaigns/{c}/contacts/{second}/erase"), confirm).await.expect("sent");
    assert!(store.contact(contacts[1]).await.expect("contact").erased);

    let day = jiff::SignedDuration::from_hours(1);
    let orders = store.orders(now - day, Timestamp::now() + day).await.expect("orders");
    let ours: Vec<i64> = orders.iter().filter(|o| o.campaign == campaign).map(|o| o.id).collect();
    assert_eq!(ours.len(), 2);
    let form = vec![("order", ours[0].to_string()), ("reason", "regret".to_string())];
    post(format!("/admin/campaigns/{c}/orders/cancel"), form).await.expect("sent");
    let orders = store.orders(now - day, Timestamp::now() + day).await.expect("orders");
    let cancelled = |id: i64| orders.iter().any(|o| o.id == id && o.cancelled_at.is_some());
    assert!(cancelled(ours[0]) && !cancelled(ours[1]));
    let missing = vec![("order", "999999".to_string())];
    let res = post(format!("/admin/campaigns/{c}/orders/cancel"), missing).await.expect("sent");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // An order is cancelled from its own campaign's page only.
    let (other, _, _) = sold_contacts(store, "Other page ops", 1, now).await;
    let elsewhere = vec![("order", ours[1].to_string())];
    let path = format!("/admin/campaigns/{}/orders/cancel", other.0);
    let res = post(path, elsewhere).await.expect("sent");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let orders = store.orders(now - day, Timestamp::now() + day).await.expect("orders");
    assert!(orders.iter().any(|o| o.id == ours[1] && o.cancelled_at.is_none()));
}

/// A callback that could not be made within its window waits on the
/// supervisor's wall (page and API), never dropped; a cancelled one shows
/// its reason on the contact's card.
#[tokio::test]
async fn escalated_callbacks_wait_on_the_wall_and_cancelled_ones_say_why() {
    let server = start(0).await;
    let admin = login(&server, "admin", &server.admin_password).await;
    let store = &server.state.store;
    let now = Timestamp::now();
    let (campaign, _list, contacts) = sold_contacts(store, "Callbacks", 2, now).await;
    let zone = ringa_core::ZoneName::parse("Europe/Stockholm").expect("a zone");
    let request = |contact: ContactId, note: &str| ringa_store::CallbackRequest {
        campaign,
        contact,
        owner: None,
        local: jiff::civil::date(2026, 3, 3).at(10, 0, 0, 0),
        zone: zone.clone(),
        window_before: jiff::SignedDuration::ZERO,
        window_after: jiff::SignedDuration::from_mins(15),
        note: Some(note.to_string()),
    };
    let late = store.schedule_callback(&request(contacts[0], "ring after ten"), now).await.unwrap();
    let row = store.callback(late).await.expect("the callback");
    let after = row.due_at + jiff::SignedDuration::from_mins(20);
    let fate = store.callback_try_failed(late, after, jiff::SignedDuration::from_mins(2)).await;
    assert!(matches!(fate, Ok(ringa_store::CallbackFate::Escalated)), "{fate:?}");
    let gone = store.schedule_callback(&request(contacts[1], "maybe"), now).await.unwrap();
    store.cancel_callback(gone, "the customer asked not to be called", now).await.unwrap();

    let wall = admin.json(Method::GET, "/wall", None).await;
    let escalated = wall["escalated_callbacks"].as_array().expect("a list");
    assert_eq!(escalated.len(), 1, "{wall}");
    assert_eq!(escalated[0]["contact"], json!(contacts[0].0));
    assert_eq!(escalated[0]["tries"], 1);
    let page = page_html(&admin, "/wall").await;
    assert!(page.contains("id=\"escalated\"") && page.contains("ring after ten"), "{page}");

    let card = admin
        .json(Method::GET, &format!("/campaigns/{}/contacts/{}", campaign.0, contacts[1].0), None)
        .await;
    let callback = &card["callbacks"][0];
    assert_eq!(callback["state"], "cancelled", "{card}");
    assert_eq!(callback["cancel_reason"], "the customer asked not to be called");
}
