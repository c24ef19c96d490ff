//! The server-rendered pages: login, the agent desktop (`/agent`), the
//! supervisor wall (`/wall`) and administration (`/admin`). Pages are
//! rendered with maud; the desktop and the wall are brought to life by one
//! small vanilla script (`/static/app.js`) over the JSON API and SSE.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, Multipart, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::SignedDuration;
use maud::{DOCTYPE, Markup, html};
use ringa_core::campaign::{CallerId, CallerIdPool, Campaign};
use ringa_core::outcome::{OutcomeDef, Requires};
use ringa_core::{
    CallingWindows, CampaignId, ContactId, DialMode, ListId, OutcomeCode, PhoneNumber, RuleSet,
};
use serde::Deserialize;

use crate::AppState;
use crate::api::{self, ImportParams, LoginBody, NewCampaign, NewUser};
use crate::auth::{self, ADMIN, ANYONE, Caller, Role, STAFF, Scope};
use crate::error::WebError;
use crate::floor::campaign_of;

/// The definitions shown next to the wall's figures.
pub const DEFINITIONS: &[(&str, &str)] = &[
    ("attempts", "calls placed since the floor started"),
    ("live answers", "calls a person answered = pickups + drops"),
    ("pickups", "live answers connected to an agent"),
    ("drop rate", "drops / live answers, in the rule set's window (target shown beside it)"),
    ("conversations", "outcomes that count as a conversation"),
    ("sales", "outcomes that count as a sale"),
    ("hit rate", "sales / conversations"),
    ("orders per hour", "sales / talk hours on connected calls"),
    ("mean wait", "mean seconds from ready to connected"),
    ("contacts left", "contacts not finished: due, in quarantine, held or waiting for a callback"),
];

const CSS: &str = include_str!("../static/app.css");
const JS: &str = include_str!("../static/app.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_form))
        .route("/logout", post(logout))
        .route("/password", get(password_page).post(password_set))
        .route("/static/app.css", get(|| async { ([(header::CONTENT_TYPE, "text/css")], CSS) }))
        .route(
            "/static/app.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], JS) }),
        )
        .route("/agent", get(agent_page))
        .route("/wall", get(wall_page))
        .route("/admin", get(admin_page))
        .route("/admin/campaigns", post(admin_create_campaign))
        .route("/admin/campaigns/{id}", get(admin_campaign).post(admin_save_campaign))
        .route("/admin/campaigns/{id}/lists", post(admin_create_list))
        .route("/admin/campaigns/{id}/learned-state", post(admin_copy_learned_state))
        .route("/admin/lists/{id}/import", post(admin_import))
        .route("/admin/lists/{id}", post(admin_change_list))
        .route("/admin/lists/{id}/reset", post(admin_reset_list))
        .route("/admin/campaigns/{id}/contacts/{contact}/active", post(admin_contact_active))
        .route("/admin/campaigns/{id}/contacts/{contact}/erase", post(admin_erase_contact))
        .route("/admin/campaigns/{id}/orders/cancel", post(admin_cancel_order))
        .route("/admin/campaigns/{id}/orders/cancellations", post(admin_cancel_orders))
        .route("/admin/users", post(admin_create_user))
        .route("/admin/users/{id}", post(admin_change_user))
        .route("/admin/users/{id}/password", post(admin_reset_password))
        .route("/admin/tokens", post(admin_create_token))
        .route("/admin/tokens/{id}/revoke", post(admin_revoke_token))
        .route("/admin/dnc", post(admin_create_dnc))
        .route("/admin/dnc/{id}", post(admin_add_dnc))
        .route_layer(axum::middleware::from_fn(crate::auth::form_csrf))
}

fn layout(title: &str, caller: Option<&Caller>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · ringa" }
                link rel="stylesheet" href="/static/app.css";
                @if let Some(c) = caller {
                    meta name="csrf" content=(c.csrf.clone().unwrap_or_default());
                }
            }
            body {
                header.top {
                    strong { "ringa" }
                    @if let Some(c) = caller {
                        nav {
                            a href="/agent" { "Desktop" }
                            @if STAFF.contains(&c.role) { a href="/wall" { "Wall" } }
                            @if ADMIN.contains(&c.role) { a href="/admin" { "Admin" } }
                        }
                        span.who { (c.name) " (" (c.role.as_str()) ")" }
                        form method="post" action="/logout" {
                            (csrf_field(c))
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
                script src="/static/app.js" {}
            }
        }
    }
}

fn page(title: &str, caller: Option<&Caller>, body: Markup) -> Response {
    axum::response::Html(layout(title, caller, body).into_string()).into_response()
}

async fn home(caller: Caller) -> Redirect {
    match caller.role {
        Role::Agent => Redirect::to("/agent"),
        Role::Supervisor => Redirect::to("/wall"),
        Role::Admin => Redirect::to("/admin"),
    }
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    error: Option<String>,
}

async fn login_page(Query(q): Query<LoginQuery>) -> Response {
    page(
        "Log in",
        None,
        html! {
            section.login {
                h1 { "Log in" }
                @if let Some(err) = q.error { p.error role="alert" { (err) } }
                form method="post" action="/login" {
                    label { "Login" input name="login" autocomplete="username" autofocus required; }
                    label { "Password" input name="password" type="password"
                        autocomplete="current-password" required; }
                    button type="submit" { "Log in" }
                }
            }
        },
    )
}

async fn login_form(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    Form(body): Form<LoginBody>,
) -> Response {
    match api::open_session(&state, &body, addr.ip()).await {
        Ok(opened) => {
            let target = match opened.role {
                _ if opened.must_change_password => "/password",
                Role::Agent => "/agent",
                Role::Supervisor => "/wall",
                Role::Admin => "/admin",
            };
            let mut response = Redirect::to(target).into_response();
            if let Ok(cookie) = HeaderValue::from_str(&auth::session_cookie(&opened.id)) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(err) => Redirect::to(&login_url_with(&err.to_string())).into_response(),
    }
}

/// The login page with a message above the form.
fn login_url_with(text: &str) -> String {
    let mut url = String::from("/login?error=");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() {
            url.push(b as char);
        } else {
            let _ = write!(url, "%{b:02X}");
        }
    }
    url
}

/// The form that sets a new password: required while the password is
/// one-time, open to every logged-in user.
async fn password_page(caller: Caller) -> Result<Response, WebError> {
    caller.require_session(ANYONE)?;
    Ok(password_form(&caller, None))
}

fn password_form(caller: &Caller, error: Option<&str>) -> Response {
    page(
        "New password",
        Some(caller),
        html! {
            section.login {
                (error_banner(error))
                h1 { "Set a new password" }
                @if caller.must_change_password {
                    p #one-time { "Your password is a one-time password: choose your own "
                        "before you go on." }
                }
                p { "Give your current password and a new one of " (api::MIN_PASSWORD)
                    " characters or more. Your other sessions end." }
                form method="post" action="/password" {
                    (csrf_field(caller))
                    label { "Current password" input name="old_password" type="password"
                        autocomplete="current-password" required autofocus; }
                    label { "New password" input name="password" type="password"
                        autocomplete="new-password" minlength=(api::MIN_PASSWORD) required; }
                    label { "Repeat it" input name="repeat" type="password"
                        autocomplete="new-password" minlength=(api::MIN_PASSWORD) required; }
                    button type="submit" { "Set password" }
                }
            }
        },
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    old_password: String,
    password: String,
    repeat: String,
}

async fn password_set(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Result<Response, WebError> {
    caller.require_session(ANYONE)?;
    let done = if f.password == f.repeat {
        let body = api::OwnPassword { old_password: f.old_password, new_password: f.password };
        let session = auth::session_id(&headers);
        api::change_own_password(&state, &caller, session.as_deref(), &body, addr.ip()).await
    } else {
        Err(WebError::BadRequest("the two new passwords differ".into()))
    };
    match done {
        // The session goes on: home leads to the caller's own page.
        Ok(()) => Ok(Redirect::to("/").into_response()),
        Err(
            err @ (WebError::BadRequest(_)
            | WebError::Conflict(_)
            | WebError::Forbidden(_)
            | WebError::Throttled(_)),
        ) => {
            let mut response = password_form(&caller, Some(&err.public().1));
            *response.status_mut() = err.public().0;
            Ok(response)
        }
        Err(err) => Err(err),
    }
}

async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(id) = auth::session_id(&headers) {
        state.sessions.close(&id);
    }
    let _ = state.floor.act(ringa_engine::Input::AgentLogout { agent: caller.user }, None).await;
    let mut response = Redirect::to("/login").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&auth::clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

// ----- the agent desktop ------------------------------------------------

async fn agent_page(State(state): State<AppState>, caller: Caller) -> Result<Response, WebError> {
    caller.require_session(ANYONE)?;
    let campaigns = api::visible_campaigns(&state, &caller).await?;
    Ok(page(
        "Desktop",
        Some(&caller),
        html! {
            section #desktop data-page="agent" {
                div.bar {
                    label { "Campaign "
                        select #campaign {
                            @for c in &campaigns { option value=(c.id.0) { (c.name) " ("
                                (c.mode.as_str()) ")" } }
                        }
                    }
                    button #join type="button" { "Log in to campaign" }
                    button #ready type="button" title="F2" { "Ready (F2)" }
                    input #pause-reason placeholder="pause reason" value="break";
                    button #pause type="button" title="F3" { "Pause (F3)" }
                    button #leave type="button" { "Leave floor" }
                    span #state.state { "logged out" }
                    span #timer.timer {}
                }
                p #message.error role="alert" {}
                div #card.card hidden {
                    div.cols {
                        div {
                            h2 #contact-name {}
                            p { "Call: " strong #call-state { "-" } " " span #call-timer {} }
                            div #numbers {}
                            dl #fields {}
                            button #hangup type="button" title="F4" { "Hang up (F4)" }
                            button #skip type="button" { "Next card" }
                        }
                        div {
                            h3 { "Script" }
                            pre #script {}
                            h3 { "History" }
                            table #history { thead { tr { th { "#" }
                                th { "when " span #history-zone {} } th { "result" }
                                th { "outcome" } } } tbody {} }
                            h3 { "Callbacks" }
                            ul #card-callbacks {}
                        }
                    }
                    h3 { "Outcome" }
                    div #outcomes {}
                    div.callback {
                        label { "Callback at " input #cb-at type="datetime-local"; }
                        label { "around ± " input #cb-around type="number" min="0" value="0"
                            style="width:4em"; " min" }
                        label { input #cb-personal type="checkbox"; " personal" }
                    }
                    label { "Note " textarea #note rows="2" {} }
                }
                p.hint {
                    "Keys: F2 ready, F3 pause, F4 hang up, the outcome's letter (with Alt) sets it."
                    }
            }
        },
    ))
}

// ----- the supervisor wall ----------------------------------------------

async fn wall_page(State(state): State<AppState>, caller: Caller) -> Result<Response, WebError> {
    caller.require_session(STAFF)?;
    let campaigns: Vec<(u64, String)> =
        state.store.campaigns().await?.iter().map(|c| (c.id.0, c.name.clone())).collect();
    let options = serde_json::to_string(&campaigns).unwrap_or_default();
    let escalated = api::escalated_callbacks(&state).await?;
    Ok(page(
        "Wall",
        Some(&caller),
        html! {
            section #wall data-page="wall" data-campaigns=(options) {
                h1 { "Floor" }
                div #campaigns {}
                h2 { "Agents" }
                table #agents {
                    thead { tr { th { "agent" } th { "state" } th { "time in state" } th {
                        "campaigns" } th { "call" } th { "talk / ready / paused" } th { "" } } }
                    tbody {}
                }
                h2 { "Callbacks for a supervisor" }
                p { "Callbacks that could not be made within their window (the trunk refused "
                    "them, or nobody answered their tries) wait here instead of being dropped. "
                    "Shown as the page was loaded." }
                @if escalated.is_empty() { p #escalated-none { "None." } } @else {
                    table #escalated { thead { tr { th { "campaign" } th { "contact" }
                        th { "due (contact's time)" } th { "tries" } th { "note" } } }
                        tbody { @for (name, cb) in &escalated { tr {
                            td { (name) } td { (cb.contact.0) }
                            td { (cb.local.to_string()) " " (cb.zone.to_string()) }
                            td { (cb.tries) } td { (cb.note.as_deref().unwrap_or("")) }
                        } } } }
                }
                h2 { "Definitions" }
                dl.defs { @for (term, def) in DEFINITIONS { dt { (term) } dd { (def) } } }
            }
        },
    ))
}

// ----- administration ---------------------------------------------------

/// Where a failed admin form sends its message: the page it was posted from.
enum Back {
    Admin,
    Campaign(u64),
    /// The campaign page of this list's campaign.
    List(u64),
}

fn error_banner(error: Option<&str>) -> Markup {
    html! { @if let Some(e) = error { p.error #form-error role="alert" { (e) } } }
}

/// A form's answer: its own on success; on failure the page the form was
/// posted from, with the error's message above it and the error's status.
/// Failures that are not the form's fault (no session, no CSRF token) keep
/// their usual answer.
async fn form_result<T: IntoResponse>(
    state: &AppState,
    caller: &Caller,
    back: Back,
    done: Result<T, WebError>,
) -> Result<Response, WebError> {
    let err = match done {
        Ok(answer) => return Ok(answer.into_response()),
        Err(err) => err,
    };
    if matches!(
        err,
        WebError::Unauthorized
            | WebError::LoginRequired
            | WebError::Forbidden(_)
            | WebError::Csrf
            | WebError::PasswordChange { .. }
            | WebError::Throttled(_)
    ) {
        return Err(err);
    }
    let (status, message) = err.public();
    let campaign = match back {
        Back::Admin => None,
        Back::Campaign(id) => Some(id),
        Back::List(id) => state.store.list(ListId(id)).await.ok().map(|l| l.campaign.0),
    };
    let mut page = match campaign {
        Some(id) => admin_campaign_with(state, caller, id, Some(&message), None).await?,
        None => admin_page_with(state, caller, Some(&message)).await?,
    };
    *page.status_mut() = status;
    Ok(page)
}

/// The session's CSRF token as a hidden field: the first field of every
/// form, so that it travels in the posted body and never in a URL.
fn csrf_field(caller: &Caller) -> Markup {
    html! { input type="hidden" name="csrf" value=(caller.csrf.clone().unwrap_or_default()); }
}

async fn admin_page(State(state): State<AppState>, caller: Caller) -> Result<Response, WebError> {
    admin_page_with(&state, &caller, None).await
}

/// The administration page, with a failed form's message above it.
async fn admin_page_with(
    state: &AppState,
    caller: &Caller,
    error: Option<&str>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let campaigns: Vec<Campaign> = state.store.campaigns().await?.iter().map(campaign_of).collect();
    let users = state.store.users().await?;
    let tokens = state.accounts.tokens().await?;
    let dnc = state.store.dnc_lists();
    let mut assigned = BTreeMap::new();
    for u in &users {
        assigned.insert(u.id, state.accounts.campaigns_of(u.id).await?);
    }
    Ok(page(
        "Admin",
        Some(caller),
        html! {
            (error_banner(error))
            h1 { "Administration" }
            section {
                h2 { "Campaigns" }
                table { thead { tr { th { "id" } th { "name" } th { "mode" } th { "rule set" } th {
                    "drop target" } } }
                    tbody { @for c in &campaigns { tr {
                        td { (c.id.0) } td { a href=(format!("/admin/campaigns/{}", c.id.0)) {
                            (c.name) } }
                        td { (c.mode.as_str()) } td { (c.rules.rule_set.as_str()) } td {
                            (format!("{:.1}%", c.drop_target * 100.0)) }
                    } } } }
                form method="post" action="/admin/campaigns" {
                    (csrf_field(caller))
                    input name="name" placeholder="new campaign name" required;
                    select name="mode" { @for m in MODES { option value=(m.as_str()) { (m.as_str())
                        } } }
                    select name="rule_set" { @for r in RULE_SETS { option value=(rule_set_name(r)) {
                        (rule_set_name(r)) } } }
                    button type="submit" { "Create campaign" }
                }
            }
            section {
                h2 { "Users" }
                table #users { thead { tr { th { "id" } th { "login" } th { "name" } th { "role" }
                    th { "campaigns" } th { "status" } th { "change" } th { "set password" } } }
                    tbody { @for u in &users { tr data-login=(u.login) {
                        td { (u.id.0) } td { (u.login) } td { (u.display_name) } td { (u.role) }
                        td { (assigned.get(&u.id).map(|c| c.iter().map(|c|
                            c.0.to_string()).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                        td.status { @if u.active { "enabled" } @else { "disabled" } }
                        td { form.change-user method="post"
                            action=(format!("/admin/users/{}", u.id.0)) {
                            (csrf_field(caller))
                            select name="role" { @for r in ANYONE { option value=(r.as_str())
                                selected[r.as_str() == u.role] { (r.as_str()) } } }
                            button name="action" value="role" { "Change role" }
                            @if u.active {
                                button name="action" value="disable" { "Disable" }
                            } @else {
                                button name="action" value="enable" { "Enable" }
                            }
                        } }
                        td { form.reset-password method="post"
                            action=(format!("/admin/users/{}/password", u.id.0)) {
                            (csrf_field(caller))
                            input name="password" type="password" placeholder="new password"
                                minlength=(api::MIN_PASSWORD) required;
                            label { input type="checkbox" name="one_time" value="on" checked;
                                " one-time" }
                            button { "Set" }
                        } }
                    } } } }
                form method="post" action="/admin/users" {
                    (csrf_field(caller))
                    input name="login" placeholder="login" required;
                    input name="name" placeholder="display name";
                    select name="role" { option value="agent" { "agent" } option value="supervisor"
                        { "supervisor" } option value="admin" { "admin" } }
                    input name="password" type="password" placeholder="password (8+)" required;
                    input name="campaigns" placeholder="campaign ids, e.g. 1,2";
                    label { input type="checkbox" name="one_time" value="on";
                        " one-time password (changed at the first login)" }
                    button type="submit" { "Add user" }
                }
            }
            section {
                h2 { "API tokens" }
                table { thead { tr { th { "id" } th { "name" } th { "scopes" } th { "state" } th {}
                    } }
                    tbody { @for t in &tokens { tr {
                        td { (t.id) } td { (t.name) }
                        td { (t.scopes.iter().map(|s|
                            format!("{s:?}").to_lowercase()).collect::<Vec<_>>().join(", ")) }
                        td { @if t.revoked { "revoked" } @else { "active" } }
                        td { @if !t.revoked { form method="post"
                            action=(format!("/admin/tokens/{}/revoke", t.id)) {
                            (csrf_field(caller)) button { "Revoke" } } } }
                    } } } }
                form method="post" action="/admin/tokens" {
                    (csrf_field(caller))
                    input name="name" placeholder="token name" required;
                    input name="scopes" placeholder="scopes: leads, read, metrics, admin"
                        value="leads";
                    button type="submit" { "Create token" }
                }
            }
            section {
                h2 { "Do-not-call lists" }
                table { thead { tr { th { "id" } th { "name" } th { "kind" } th { "add numbers" } }
                    }
                    tbody { @for l in &dnc { tr {
                        td { (l.id.0) } td { (l.name) } td { (l.kind.as_str()) }
                        td { form method="post" action=(format!("/admin/dnc/{}", l.id.0)) {
                            (csrf_field(caller))
                            input name="numbers" placeholder="numbers, comma separated";
                            button { "Add" }
                        } }
                    } } } }
                form method="post" action="/admin/dnc" {
                    (csrf_field(caller))
                    input name="name" placeholder="list name" required;
                    input name="campaign" placeholder="campaign id (empty: internal)";
                    button type="submit" { "Create list" }
                }
            }
        },
    ))
}

const MODES: [DialMode; 4] =
    [DialMode::Preview, DialMode::Progressive, DialMode::Power, DialMode::Predictive];
const RULE_SETS: [RuleSet; 4] = [RuleSet::Se, RuleSet::Us, RuleSet::Uk, RuleSet::None];

fn rule_set_name(r: RuleSet) -> &'static str {
    match r {
        RuleSet::Se => "se",
        RuleSet::Us => "us",
        RuleSet::Uk => "uk",
        RuleSet::None => "none",
    }
}

#[derive(Deserialize)]
struct CreateCampaignForm {
    name: String,
    mode: DialMode,
    rule_set: RuleSet,
}

async fn admin_create_campaign(
    State(state): State<AppState>,
    caller: Caller,
    Form(form): Form<CreateCampaignForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        let body =
            NewCampaign { name: form.name, mode: Some(form.mode), rule_set: Some(form.rule_set) };
        let campaign = api::create_campaign_in(&state, &body).await?;
        Ok::<_, WebError>(Redirect::to(&format!("/admin/campaigns/{}", campaign.id.0)))
    }
    .await;
    form_result(&state, &caller, Back::Admin, done).await
}

fn windows_text(w: &CallingWindows) -> String {
    w.spans
        .iter()
        .map(|s| format!("{:?} {}-{}", s.days, s.start.strftime("%H:%M"), s.end.strftime("%H:%M")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn outcome_line(o: &OutcomeDef) -> String {
    let mut flags = vec![
        match o.requires {
            Requires::Person => "person",
            Requires::Answer => "answer",
            Requires::NoPerson => "no_person",
        }
        .to_string(),
    ];
    for (on, name) in [
        (o.conversation, "conversation"),
        (o.sale, "sale"),
        (o.callback, "callback"),
        (o.is_final, "final"),
        (o.dnc, "dnc"),
    ] {
        if on {
            flags.push(name.to_string());
        }
    }
    if let Some(r) = o.retry_after {
        flags.push(format!("retry={}m", r.as_mins()));
    }
    format!(
        "{}; {}; {}; {}",
        o.code,
        o.label,
        o.key.map(String::from).unwrap_or_default(),
        flags.join(" ")
    )
}

/// Reads one outcome line: `code; label; key; flags` where flags are
/// person|answer|no_person, conversation, sale, callback, final, dnc and
/// retry=MINUTESm.
fn parse_outcome(line: &str) -> Result<OutcomeDef, WebError> {
    let parts: Vec<&str> = line.split(';').map(str::trim).collect();
    let bad =
        || WebError::BadRequest(format!("outcome line {line:?} is not `code; label; key; flags`"));
    let code = parts.first().filter(|c| !c.is_empty()).ok_or_else(bad)?;
    let label = parts.get(1).copied().unwrap_or(code);
    let key = parts.get(2).and_then(|k| k.chars().next());
    let mut def = OutcomeDef {
        code: OutcomeCode::new(code),
        label: label.to_string(),
        requires: Requires::Person,
        conversation: false,
        sale: false,
        callback: false,
        is_final: false,
        retry_after: None,
        dnc: false,
        key,
    };
    for flag in parts.get(3).copied().unwrap_or("").split_whitespace() {
        match flag {
            "person" => def.requires = Requires::Person,
            "answer" => def.requires = Requires::Answer,
            "no_person" => def.requires = Requires::NoPerson,
            "conversation" => def.conversation = true,
            "sale" => def.sale = true,
            "callback" => def.callback = true,
            "final" => def.is_final = true,
            "dnc" => def.dnc = true,
            other => {
                let mins = other
                    .strip_prefix("retry=")
                    .and_then(|m| m.trim_end_matches('m').parse::<i64>().ok())
                    .ok_or_else(|| {
                        WebError::BadRequest(format!("unknown outcome flag {other:?}"))
                    })?;
                def.retry_after = Some(SignedDuration::from_mins(mins));
            }
        }
    }
    Ok(def)
}

async fn admin_campaign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Query(search): Query<api::SearchParams>,
) -> Result<Response, WebError> {
    admin_campaign_with(&state, &caller, id, None, search.q.as_deref()).await
}

/// A campaign's administration page, with a failed form's message above it
/// and the contacts a search for `query` found.
async fn admin_campaign_with(
    state: &AppState,
    caller: &Caller,
    id: u64,
    error: Option<&str>,
    query: Option<&str>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let c = campaign_of(&state.store.campaign(CampaignId(id)).await?);
    let lists = state.store.lists(c.id).await?;
    let diag = api::diagnostics_of(state, c.id).await?;
    let snap = state.floor.snapshot();
    let refused: BTreeMap<String, u64> =
        snap.campaigns.iter().find(|v| v.id == c.id).map(|v| v.refused.clone()).unwrap_or_default();
    let caller_ids: Vec<String> =
        c.caller_ids.numbers.iter().map(|n| n.number.as_str().to_string()).collect();
    let outcomes: Vec<String> = c.outcomes.iter().map(outcome_line).collect();
    let search = contact_search(state, caller, &c, query).await?;
    let learned = learned_section(state, caller, &c).await?;
    Ok(page(
        &c.name,
        Some(caller),
        html! {
            (error_banner(error))
            h1 { "Campaign " (c.name) }
            @let blockers = ringa_engine::cannot_dial(&c);
            @if !blockers.is_empty() {
                section #cannot-dial { h2 { "This campaign cannot dial" }
                    ul { @for why in &blockers { li { (why) } } } }
            }
            form.grid method="post" action=(format!("/admin/campaigns/{id}")) {
                (csrf_field(caller))
                label { "Dial mode" select name="mode" { @for m in MODES { option value=(m.as_str())
                    selected[m == c.mode] { (m.as_str()) } } } }
                label { "Rule set" select name="rule_set" { @for r in RULE_SETS { option
                    value=(rule_set_name(r)) selected[r == c.rules.rule_set] { (rule_set_name(r)) }
                    } } }
                label { "Drop target (%)" input name="drop_target" type="number" step="0.1" min="0"
                    max="100" value=(format!("{:.1}", c.drop_target * 100.0)); }
                label { "Lines per agent (cap, empty: none)" input name="lines_per_agent"
                    value=(c.max_lines_per_agent.map(|l| l.to_string()).unwrap_or_default()); }
                label { "Ring time (s)" input name="ring_secs" type="number" min="5"
                    value=(c.ring_timeout.as_secs()); }
                label { "Attempts per contact" input name="max_attempts" type="number" min="1"
                    max="12" value=(c.rules.max_attempts); }
                label { "Quarantine (hours)" input name="quarantine_hours" type="number" min="0"
                    value=(c.rules.retry.default.as_hours()); }
                label { "Calling windows" input name="windows"
                    value=(windows_text(&c.rules.windows)); }
                label { "Caller IDs (one per line, E.164)" textarea name="caller_ids" rows="3" {
                    (caller_ids.join("\n")) } }
                label { "Card fields (comma separated)" input name="card_fields"
                    value=(c.card_fields.join(", ")); }
                label { "Outcomes (code; label; key; flags)" textarea name="outcomes" rows="8" {
                    (outcomes.join("\n")) } }
                label { "Script" textarea name="script" rows="5" { (c.script) } }
                label { input type="checkbox" name="personal_callbacks" value="on"
                    checked[c.callbacks.personal_enabled]; " Personal callbacks" }
                label { input type="checkbox" name="amd" value="on" checked[c.amd];
                    " Answering-machine detection" }
                button type="submit" { "Save campaign" }
            }
            (search)
            section #orders {
                h2 { "Cancel orders" }
                form method="post" action=(format!("/admin/campaigns/{id}/orders/cancel")) {
                    (csrf_field(caller))
                    input name="order" type="number" min="1" placeholder="order number" required;
                    input name="reason" placeholder="reason";
                    button type="submit" { "Cancel order" }
                }
                form.cancel-file method="post" enctype="multipart/form-data"
                    action=(format!("/admin/campaigns/{id}/orders/cancellations")) {
                    (csrf_field(caller))
                    "The client's file of cancellations (an order number or the customer's phone "
                    "number on each line): "
                    input type="file" name="file" accept=".csv,.txt,text/csv" required;
                    input name="reason" placeholder="reason";
                    button type="submit" { "Cancel from file" }
                }
            }
            (learned)
            section {
                h2 { "Lists" }
                p { "A disabled list gives no new contacts to the campaign. Lists of a higher "
                    "priority are dialed first; among lists of one priority each gets a share of "
                    "the dials by its weight. The daily cap limits the never-dialed contacts a "
                    "list starts a day (empty: no cap)." }
                table #lists { thead { tr { th { "id" } th { "name" } th { "mix" } th { "reset" }
                    th { "upload CSV" } } }
                    tbody { @for l in &lists { tr {
                        td { (l.id.0) } td { (l.name) }
                        td { form.list-mix method="post"
                            action=(format!("/admin/lists/{}", l.id.0)) {
                            (csrf_field(caller))
                            label { input type="checkbox" name="enabled" value="on"
                                checked[l.enabled]; " enabled" }
                            label { "weight " input name="weight" type="number" min="1"
                                value=(l.weight); }
                            label { "priority " input name="priority" type="number"
                                value=(l.priority); }
                            label { "new per day " input name="new_per_day" type="number" min="0"
                                value=(l.new_per_day.map(|n| n.to_string()).unwrap_or_default()); }
                            button type="submit" { "Save list" }
                        } }
                        td { form.list-reset method="post"
                            action=(format!("/admin/lists/{}/reset", l.id.0)) {
                            (csrf_field(caller))
                            input name="outcomes"
                                placeholder="outcome codes, comma separated (empty: all)";
                            button type="submit" { "Reset list" }
                        } }
                        td { form.upload method="post" enctype="multipart/form-data"
                            action=(format!("/admin/lists/{}/import", l.id.0)) {
                            (csrf_field(caller))
                            input type="file" name="file" accept=".csv,.txt,text/csv" required;
                            input name="mapping"
                                placeholder="Header=target, ... (phone, mobile, name, field:X)";
                            select name="encoding" { option value="" { "detect encoding" } option
                                value="utf-8" { "UTF-8" } option value="windows-1252" {
                                "Windows-1252" } }
                            button type="submit" { "Import" }
                        } }
                    } } } }
                form method="post" action=(format!("/admin/campaigns/{id}/lists")) {
                    (csrf_field(caller))
                    input name="name" placeholder="new list name" required;
                    button type="submit" { "Create list" }
                }
            }
            section {
                h2 { "Diagnostics: why contacts are not dialed now" }
                table.diag { tbody {
                    @for (k, label) in [("dialable_now", "dialable now"), ("quarantined",
                        "in quarantine or waiting for a retry time"), ("list_disabled",
                        "list disabled"), ("claimed", "held by a dialer now"), ("waiting_callback",
                        "waiting for a callback time"), ("done",
                        "finished (final outcome or attempts spent)"), ("blocked",
                        "blocked (do-not-call, inactive)")] {
                        tr { th { (label) } td { (diag[k].as_u64().unwrap_or(0)) } }
                    }
                    @for (k, v) in &refused { tr { th { "refused: " (k) } td { (v) } } }
                } }
            }
        },
    ))
}

/// What the campaign has learned (pacer and voicemail models, running and
/// as saved), and a form that warm-starts it from another campaign.
async fn learned_section(
    state: &AppState,
    caller: &Caller,
    c: &Campaign,
) -> Result<Markup, WebError> {
    let figures = api::learned_state_of(state, c.id).await?;
    let others: Vec<(u64, String)> = state
        .store
        .campaigns()
        .await?
        .into_iter()
        .filter(|o| o.id != c.id)
        .map(|o| (o.id.0, o.name))
        .collect();
    let live = &figures["live"];
    let saved = &figures["saved"];
    let number = |v: &serde_json::Value| match (v.as_u64(), v.as_f64()) {
        (Some(n), _) => n.to_string(),
        (None, Some(x)) => format!("{x:.3}"),
        (None, None) => "-".to_string(),
    };
    Ok(html! {
        section #learned-state {
            h2 { "Learned models" }
            table.diag { tbody {
                tr { th { "pacer" } td { (live["pacer"].as_str().unwrap_or("learns nothing")) } }
                tr { th { "outcomes seen" } td { (number(&live["outcomes_seen"])) } }
                tr { th { "learned answer rate" } td { (number(&live["answer_rate"])) } }
                tr { th { "contacts with voicemail history" } td { (number(&live["contacts"])) } }
                tr { th { "numbers with voicemail ring times" } td { (number(&live["numbers"])) } }
                tr { th { "last saved" } td {
                    @match saved["updated_at"].as_str() {
                        Some(at) => { (at) } None => { "never" } }
                    @if let Some(error) = saved["state"]["error"].as_str() {
                        " (cannot be used: " (error) ")" }
                } }
            } }
            @if !others.is_empty() {
                form method="post" action=(format!("/admin/campaigns/{}/learned-state", c.id.0)) {
                    (csrf_field(caller))
                    label { "Warm-start from campaign " select name="from" {
                        @for (id, name) in &others { option value=(id) { (name) } } } }
                    button type="submit" { "Copy learned models" }
                }
            }
        }
    })
}

/// The contact search of a campaign's page: a GET form and, when `query`
/// was given, the contacts it found with their numbers and state.
async fn contact_search(
    state: &AppState,
    caller: &Caller,
    c: &Campaign,
    query: Option<&str>,
) -> Result<Markup, WebError> {
    let found = match query {
        Some(q) => match api::find_contacts(state, c.id, q).await {
            Ok(found) => Some(Ok(found)),
            Err(WebError::BadRequest(why)) => Some(Err(why)),
            Err(other) => return Err(other),
        },
        None => None,
    };
    let tz = ringa_core::ZoneName::parse(&api::campaign_zone(c)).map(|z| z.tz()).ok();
    let due = |at: jiff::Timestamp| match &tz {
        Some(tz) => api::local_time(at, tz),
        None => at.to_string(),
    };
    Ok(html! {
        section #contact-search {
            h2 { "Find a contact" }
            form method="get" action=(format!("/admin/campaigns/{}", c.id.0)) {
                input type="search" name="q" value=(query.unwrap_or(""))
                    placeholder="phone number or part of a name" required;
                button type="submit" { "Search" }
            }
            @match &found {
                Some(Err(why)) => p.error role="alert" { (why) },
                Some(Ok((rows, more))) => {
                    @if rows.is_empty() { p { "No contact found." } } @else {
                        table { thead { tr { th { "id" } th { "name" } th { "numbers" }
                            th { "state" } th { "attempts" } th { "next due" } th { "" } } }
                            tbody { @for r in rows { tr {
                                td { (r.id.0) } td { (r.name.as_deref().unwrap_or("")) }
                                td { @for n in &r.numbers { (n.number.as_str()) " " } }
                                td { (r.state) @if !r.active { " (inactive)" } }
                                td { (r.attempts) } td { (due(r.next_at)) }
                                td {
                                    form.contact-active method="post" action=(format!(
                                        "/admin/campaigns/{}/contacts/{}/active", c.id.0, r.id.0)) {
                                        (csrf_field(caller))
                                        input type="hidden" name="active"
                                            value=(if r.active { "false" } else { "true" });
                                        button type="submit" {
                                            (if r.active { "Deactivate" } else { "Activate" }) }
                                    }
                                    form.contact-erase method="post" action=(format!(
                                        "/admin/campaigns/{}/contacts/{}/erase", c.id.0, r.id.0)) {
                                        (csrf_field(caller))
                                        label { input type="checkbox" name="confirm" value="on"
                                            required; " erase personal data and recordings" }
                                        button type="submit" { "Erase" }
                                    }
                                }
                            } } } }
                        @if *more {
                            p { "Only the first " (api::SEARCH_LIMIT)
                                " matches are shown: narrow the search." }
                        }
                    }
                }
                None => {}
            }
        }
    })
}

#[derive(Deserialize)]
struct CampaignForm {
    mode: DialMode,
    rule_set: RuleSet,
    drop_target: f64,
    #[serde(default)]
    lines_per_agent: String,
    ring_secs: i64,
    max_attempts: u32,
    quarantine_hours: i64,
    windows: String,
    #[serde(default)]
    caller_ids: String,
    #[serde(default)]
    card_fields: String,
    #[serde(default)]
    outcomes: String,
    #[serde(default)]
    script: String,
    #[serde(default)]
    personal_callbacks: Option<String>,
    #[serde(default)]
    amd: Option<String>,
}

async fn admin_save_campaign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Form(f): Form<CampaignForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        let mut c = campaign_of(&state.store.campaign(CampaignId(id)).await?);
        c.mode = f.mode;
        c.rules.rule_set = f.rule_set;
        c.drop_target = f.drop_target / 100.0;
        c.max_lines_per_agent = match f.lines_per_agent.trim() {
            "" => None,
            t => Some(
                t.parse()
                    .map_err(|_| WebError::BadRequest("lines per agent is a number".into()))?,
            ),
        };
        c.ring_timeout = SignedDuration::from_secs(f.ring_secs);
        c.rules.max_attempts = f.max_attempts;
        c.rules.retry.default = SignedDuration::from_hours(f.quarantine_hours);
        c.rules.windows =
            CallingWindows::parse(&f.windows).map_err(|e| WebError::BadRequest(e.to_string()))?;
        let mut numbers = Vec::new();
        for line in f.caller_ids.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let number = PhoneNumber::parse(line, c.region)
                .map_err(|e| WebError::BadRequest(format!("caller ID {line}: {e}")))?;
            numbers.push(CallerId { number, daily_cap: None });
        }
        c.caller_ids = CallerIdPool { numbers, rotation: c.caller_ids.rotation };
        c.card_fields = f
            .card_fields
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let outcomes = f
            .outcomes
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(parse_outcome)
            .collect::<Result<Vec<_>, _>>()?;
        c.outcomes = outcomes;
        c.script = f.script;
        c.callbacks.personal_enabled = f.personal_callbacks.is_some();
        c.amd = f.amd.is_some();
        api::validate_campaign(&c)?;
        api::save_campaign(&state, &c).await?;
        Ok::<_, WebError>(Redirect::to(&format!("/admin/campaigns/{id}")))
    }
    .await;
    form_result(&state, &caller, Back::Campaign(id), done).await
}

#[derive(Deserialize)]
struct NameForm {
    name: String,
}

async fn admin_create_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Form(f): Form<NameForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        state.store.create_list(CampaignId(id), f.name.trim(), jiff::Timestamp::now()).await?;
        Ok::<_, WebError>(Redirect::to(&format!("/admin/campaigns/{id}")))
    }
    .await;
    form_result(&state, &caller, Back::Campaign(id), done).await
}

#[derive(Deserialize)]
struct ListForm {
    #[serde(default)]
    enabled: Option<String>,
    weight: u32,
    priority: i32,
    #[serde(default)]
    new_per_day: String,
}

async fn admin_change_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Form(f): Form<ListForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        let cap = match f.new_per_day.trim() {
            "" => None,
            t => Some(t.parse::<u32>().map_err(|_| {
                WebError::BadRequest("new per day is a whole number, or empty for no cap".into())
            })?),
        };
        let change = api::ListChange {
            enabled: Some(f.enabled.is_some()),
            weight: Some(f.weight),
            priority: Some(f.priority),
            new_per_day: Some(cap),
        };
        let row = api::change_list(&state, ListId(id), &change).await?;
        Ok::<_, WebError>(Redirect::to(&format!("/admin/campaigns/{}", row.campaign.0)))
    }
    .await;
    form_result(&state, &caller, Back::List(id), done).await
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    outcomes: String,
}

async fn admin_reset_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Form(f): Form<ResetForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        let outcomes: Vec<String> = f
            .outcomes
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect();
        let list = state.store.list(ListId(id)).await?;
        let r = api::reset_list_now(&state, ListId(id), &outcomes).await?;
        let which =
            if outcomes.is_empty() { "every outcome".to_string() } else { outcomes.join(", ") };
        Ok::<_, WebError>(page(
            "List reset",
            Some(&caller),
            html! {
                h1 { "List " (list.name) " reset" }
                p { "Outcomes reset: " (which) "." }
                table #reset-report { tbody {
                    tr { th { "dialable again" } td data-count="reset" { (r.reset) } }
                    tr { th { "kept closed: a number is on a do-not-call list" }
                        td data-count="kept_dnc" { (r.kept_dnc) } }
                    tr { th { "kept closed: do-not-call or final-by-rule outcome" }
                        td data-count="kept_final" { (r.kept_final) } }
                    tr { th { "kept closed: inactive or erased" }
                        td data-count="kept_inactive" { (r.kept_inactive) } }
                } }
                p { "The running campaign takes the reopened contacts with its next fetch, \
                     within a minute." }
                p { a href=(format!("/admin/campaigns/{}", list.campaign.0)) {
                    "Back to the campaign" } }
            },
        ))
    }
    .await;
    form_result(&state, &caller, Back::List(id), done).await
}

#[derive(Deserialize)]
struct ActiveForm {
    active: bool,
}

async fn admin_contact_active(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, contact)): Path<(u64, u64)>,
    Form(f): Form<ActiveForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        api::set_contact_active(&state, CampaignId(id), ContactId(contact), f.active).await?;
        Ok::<_, WebError>(Redirect::to(&format!("/admin/campaigns/{id}")))
    }
    .await;
    form_result(&state, &caller, Back::Campaign(id), done).await
}

#[derive(Deserialize)]
struct EraseForm {
    #[serde(default)]
    confirm: Option<String>,
}

async fn admin_erase_contact(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, contact)): Path<(u64, u64)>,
    Form(f): Form<EraseForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        if f.confirm.is_none() {
            return Err(WebError::BadRequest(
                "tick the box to confirm the erasure: it cannot be undone".into(),
            ));
        }
        api::erase(&state, CampaignId(id), ContactId(contact)).await?;
        Ok::<_, WebError>(Redirect::to(&format!("/admin/campaigns/{id}")))
    }
    .await;
    form_result(&state, &caller, Back::Campaign(id), done).await
}

#[derive(Deserialize)]
struct CancelForm {
    order: i64,
    #[serde(default)]
    reason: String,
}

async fn admin_cancel_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Form(f): Form<CancelForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        let reason = match f.reason.trim() {
            "" => "cancelled",
            r => r,
        };
        if state.store.order(f.order).await?.campaign != CampaignId(id) {
            return Err(WebError::NotFound(format!("order {} in this campaign", f.order)));
        }
        state.store.cancel_order(f.order, reason, jiff::Timestamp::now()).await?;
        Ok::<_, WebError>(Redirect::to(&format!("/admin/campaigns/{id}")))
    }
    .await;
    form_result(&state, &caller, Back::Campaign(id), done).await
}

async fn admin_cancel_orders(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    multipart: Multipart,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        let (file, fields) = api::read_upload(multipart).await?;
        let reason = fields.get("reason").map(String::as_str);
        let r = api::cancel_from_file(&state, CampaignId(id), &file, reason).await?;
        Ok::<_, WebError>(page(
            "Cancellations",
            Some(&caller),
            html! {
                h1 { "Cancellations" }
                table #cancel-report { tbody {
                    tr { th { "cancelled" } td data-count="cancelled" { (r.cancelled) } }
                    tr { th { "cancelled already" }
                        td data-count="already_cancelled" { (r.already_cancelled) } }
                } }
                @if !r.not_found.is_empty() {
                    h2 { "Lines that named no order" }
                    table { thead { tr { th { "line" } th { "text" } th { "why" } } }
                        tbody { @for (line, text, why) in &r.not_found {
                            tr { td { (line) } td { (text) } td { (why) } } } } }
                }
                p { a href=(format!("/admin/campaigns/{id}")) { "Back to the campaign" } }
            },
        ))
    }
    .await;
    form_result(&state, &caller, Back::Campaign(id), done).await
}

#[derive(Deserialize)]
struct WarmForm {
    from: u64,
}

async fn admin_copy_learned_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Form(f): Form<WarmForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        api::copy_learned_state_in(&state, CampaignId(id), CampaignId(f.from)).await?;
        Ok::<_, WebError>(Redirect::to(&format!("/admin/campaigns/{id}")))
    }
    .await;
    form_result(&state, &caller, Back::Campaign(id), done).await
}

async fn admin_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    multipart: Multipart,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        let (file, fields) = api::read_upload(multipart).await?;
        let params = ImportParams {
            mapping: fields.get("mapping").cloned(),
            encoding: fields.get("encoding").cloned(),
            dedupe: fields.get("dedupe").cloned(),
        };
        let list = state.store.list(ListId(id)).await?;
        let result = api::import_into(&state, ListId(id), &file, &params).await?;
        let rows = result["report"]["rows"].as_array().cloned().unwrap_or_default();
        let columns = result["report"]["columns"].as_array().cloned().unwrap_or_default();
        Ok::<_, WebError>(page(
            "Import report",
            Some(&caller),
            html! {
                h1 { "Import report" }
                p { a href=(format!("/admin/campaigns/{}", list.campaign.0)) {
                    "Back to the campaign" } }
                p #import-summary { "Rows read: " strong #import-total { (result["total"]) }
                    ", encoding " (result["report"]["encoding"].as_str().unwrap_or(""))
                    ", delimiter "
                    code { (result["report"]["delimiter"].as_str().unwrap_or("")) } }
                table #import-counts { tbody {
                    @if let Some(counts) = result["counts"].as_object() { @for (k, v) in counts {
                        tr { th { (k) } td data-bucket=(k) { (v) } } } } } }
                h2 { "Columns" }
                table { tbody { @for c in &columns { tr {
                    td { (c[0].as_str().unwrap_or("")) } td { "-> "
                    (c[1].as_str().unwrap_or("")) } } } } }
                h2 { "Rows not imported" }
                table #import-rows { thead { tr { th { "row" } th { "line" } th { "bucket" }
                    th { "why" } } }
                    tbody { @for r in rows.iter().filter(|r| r["bucket"] != "created") { tr {
                        td { (r["row"]) } td { (r["line"]) }
                        td { (r["bucket"].as_str().unwrap_or("")) }
                            td { (r["detail"].as_str().unwrap_or("")) }
                    } } } }
            },
        ))
    }
    .await;
    form_result(&state, &caller, Back::List(id), done).await
}

#[derive(Deserialize)]
struct UserForm {
    login: String,
    #[serde(default)]
    name: String,
    role: String,
    password: String,
    #[serde(default)]
    campaigns: String,
    #[serde(default)]
    one_time: Option<String>,
}

async fn admin_create_user(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<UserForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        let campaigns = f
            .campaigns
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<u64>()
                    .map(CampaignId)
                    .map_err(|_| WebError::BadRequest(format!("campaign id {s:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let body = NewUser {
            login: f.login,
            name: Some(f.name),
            role: f.role,
            password: f.password,
            campaigns,
            must_change_password: f.one_time.is_some(),
        };
        api::create_user_in(&state, &body).await?;
        Ok::<_, WebError>(Redirect::to("/admin"))
    }
    .await;
    form_result(&state, &caller, Back::Admin, done).await
}

#[derive(Deserialize)]
struct ChangeUserForm {
    action: String,
    #[serde(default)]
    role: Option<String>,
}

async fn admin_change_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Form(f): Form<ChangeUserForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        let change = match f.action.as_str() {
            "disable" => api::UserChange { active: Some(false), role: None },
            "enable" => api::UserChange { active: Some(true), role: None },
            "role" => api::UserChange { active: None, role: f.role.clone() },
            other => return Err(WebError::BadRequest(format!("unknown user change {other:?}"))),
        };
        api::change_user(&state, &caller, ringa_core::AgentId(id), &change).await?;
        Ok::<_, WebError>(Redirect::to("/admin"))
    }
    .await;
    form_result(&state, &caller, Back::Admin, done).await
}

#[derive(Deserialize)]
struct ResetPasswordForm {
    password: String,
    #[serde(default)]
    one_time: Option<String>,
}

async fn admin_reset_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Form(f): Form<ResetPasswordForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        let user = ringa_core::AgentId(id);
        if user == caller.user {
            return Err(WebError::Conflict("set your own password on the password page".into()));
        }
        if state.store.user_auth(user).await?.is_none() {
            return Err(WebError::NotFound(format!("{user}")));
        }
        api::reset_password(&state, user, &f.password, f.one_time.is_some()).await?;
        Ok::<_, WebError>(Redirect::to("/admin"))
    }
    .await;
    form_result(&state, &caller, Back::Admin, done).await
}

#[derive(Deserialize)]
struct TokenForm {
    name: String,
    scopes: String,
}

async fn admin_create_token(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<TokenForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        let scopes = f
            .scopes
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Scope::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let (record, secret) =
            state.accounts.create_token(f.name.trim(), scopes, caller.user).await?;
        Ok::<_, WebError>(page(
            "Token",
            Some(&caller),
            html! {
                h1 { "Token " (record.name) }
                p { "Copy it now; it is not shown again:" }
                pre #token { (secret) }
                p { a href="/admin" { "Back" } }
            },
        ))
    }
    .await;
    form_result(&state, &caller, Back::Admin, done).await
}

async fn admin_revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        state.accounts.revoke_token(id).await?;
        Ok::<_, WebError>(Redirect::to("/admin"))
    }
    .await;
    form_result(&state, &caller, Back::Admin, done).await
}

#[derive(Deserialize)]
struct DncForm {
    name: String,
    #[serde(default)]
    campaign: String,
}

async fn admin_create_dnc(
    State(state): State<AppState>,
    caller: Caller,
    Form(f): Form<DncForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        let campaign = match f.campaign.trim() {
            "" => None,
            t => {
                Some(CampaignId(t.parse().map_err(|_| WebError::BadRequest("campaign id".into()))?))
            }
        };
        let kind = ringa_store::DncKind::Campaign;
        state.store.create_dnc_list(f.name.trim(), kind, campaign, jiff::Timestamp::now()).await?;
        Ok::<_, WebError>(Redirect::to("/admin"))
    }
    .await;
    form_result(&state, &caller, Back::Admin, done).await
}

#[derive(Deserialize)]
struct DncNumbersForm {
    numbers: String,
}

async fn admin_add_dnc(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Form(f): Form<DncNumbersForm>,
) -> Result<Response, WebError> {
    caller.require_session(ADMIN)?;
    let done = async {
        let list = ringa_core::DncListId(id);
        for text in f.numbers.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()) {
            let number = PhoneNumber::parse(text, ringa_core::Region::SE)
                .map_err(|e| WebError::BadRequest(format!("{text}: {e}")))?;
            state.store.add_dnc(list, &number, "web", jiff::Timestamp::now()).await?;
            let _ = state.floor.act(ringa_engine::Input::Dnc { number, list }, None).await;
        }
        Ok::<_, WebError>(Redirect::to("/admin"))
    }
    .await;
    form_result(&state, &caller, Back::Admin, done).await
}
