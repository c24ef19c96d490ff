//! The JSON API under `/api/v1`: everything the pages do, for scripts and
//! integrations. Every route checks the caller's role (sessions) or scope
//! (API tokens); agents only reach the data of their own campaigns.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use jiff::civil::DateTime;
use jiff::{SignedDuration, Timestamp};
use ringa_core::campaign::Campaign;
use ringa_core::{
    AgentId, CampaignId, ContactId, DialMode, DncListId, ListId, OutcomeCode, PhoneNumber, Pii,
    RuleSet,
};
use ringa_engine::{CallbackRequest, Input, LearnedState};
use ringa_store::import::{DedupeScope, ImportOptions, import_bytes, parse_mapping};
use ringa_store::{DncKind, NewContact, NewLead, NewNumber, OutcomeRow};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::info;

use crate::AppState;
use crate::auth::{self, ADMIN, ANYONE, Caller, Role, STAFF, Scope};
use crate::error::WebError;
use crate::floor::campaign_of;
use crate::intake::Stored;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/me", get(me))
        .route("/me/password", post(set_own_password))
        .route("/openapi.json", get(crate::openapi::document))
        .route("/campaigns", get(campaigns).post(create_campaign))
        .route("/campaigns/{id}", get(campaign).put(update_campaign))
        .route("/campaigns/{id}/stats", get(stats))
        .route("/campaigns/{id}/diagnostics", get(diagnostics))
        .route("/campaigns/{id}/learned-state", get(learned_state))
        .route("/campaigns/{id}/learned-state/copy-from/{from}", post(copy_learned_state))
        .route("/campaigns/{id}/lists", get(lists).post(create_list))
        .route("/campaigns/{id}/contacts", get(search_contacts))
        .route("/campaigns/{id}/contacts/{contact}", get(contact).patch(update_contact))
        .route("/campaigns/{id}/contacts/{contact}/erase", post(erase_contact))
        .route("/campaigns/{id}/orders/cancellations", post(cancel_orders_from_file))
        .route("/lists/{id}", axum::routing::patch(update_list))
        .route("/lists/{id}/reset", post(reset_list))
        .route("/lists/{id}/import", post(import))
        .route("/orders/{id}/cancel", post(cancel_order))
        .route("/dnc", get(dnc_lists).post(create_dnc_list))
        .route("/dnc/{id}/numbers", post(add_dnc))
        .route("/users", get(users).post(create_user))
        .route("/users/{id}", axum::routing::patch(update_user))
        .route("/users/{id}/password", post(set_password))
        .route("/users/{id}/campaigns", put(assign_campaigns))
        .route("/tokens", get(tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/leads", post(lead))
        .route("/agent/state", get(agent_state))
        .route("/agent/card", get(agent_card))
        .route("/agent/login", post(agent_login))
        .route("/agent/ready", post(agent_ready))
        .route("/agent/pause", post(agent_pause))
        .route("/agent/logout", post(agent_logout))
        .route("/agent/dial", post(agent_dial))
        .route("/agent/skip", post(agent_skip))
        .route("/agent/hangup", post(agent_hangup))
        .route("/agent/outcome", post(agent_outcome))
        .route("/wall", get(wall))
        .route("/wall/agents/{id}/release", post(force_release))
        .route("/wall/agents/{id}/campaigns", post(move_agent))
}

// ----- sessions ---------------------------------------------------------

#[derive(Deserialize)]
pub struct LoginBody {
    pub login: String,
    pub password: String,
}

/// A session [`open_session`] opened.
pub struct Opened {
    pub id: String,
    pub csrf: String,
    pub role: Role,
    pub user: AgentId,
    /// Logged in with a one-time password: the session may only set a new
    /// one.
    pub must_change_password: bool,
}

/// Checks a password with the slow-down after wrong ones and opens a
/// session.
pub async fn open_session(
    state: &AppState,
    body: &LoginBody,
    ip: std::net::IpAddr,
) -> Result<Opened, WebError> {
    if let Some(wait) = state.sessions.wait_before_try(&body.login, ip) {
        return Err(WebError::Throttled(wait));
    }
    let found = state.store.user_for_login(&body.login).await?;
    let ok = match &found {
        Some((user, Some(hash))) if user.active => auth::verify_password(&body.password, hash),
        _ => false,
    };
    let Some((user, _)) = found.filter(|_| ok) else {
        state.sessions.failed(&body.login, ip);
        state.metrics.failed_logins.fetch_add(1, Ordering::Relaxed);
        info!(login = %Pii(&body.login), "wrong password");
        return Err(WebError::Forbidden("wrong login or password".into()));
    };
    state.sessions.succeeded(&body.login, ip);
    let role = Role::parse(&user.role)?;
    let auth = state.store.user_auth(user.id).await?;
    let auth = auth.ok_or_else(|| WebError::NotFound(format!("{}", user.id)))?;
    let must_change_password = auth.must_change_password;
    let id = state.sessions.open(user.id, &user.login, &user.display_name, role, auth.epoch);
    let csrf = state.sessions.get(&id).map(|s| s.csrf).unwrap_or_default();
    info!(user = %user.id, role = role.as_str(), must_change_password, "logged in");
    Ok(Opened { id, csrf, role, user: user.id, must_change_password })
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    Json(body): Json<LoginBody>,
) -> Result<Response, WebError> {
    let opened = open_session(&state, &body, addr.ip()).await?;
    let mut response = Json(json!({
        "csrf": opened.csrf, "role": opened.role, "user": opened.user,
        "must_change_password": opened.must_change_password,
    }))
    .into_response();
    let cookie = HeaderValue::from_str(&auth::session_cookie(&opened.id))
        .map_err(|e| WebError::Internal(e.to_string()))?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    caller.require_session(ANYONE)?;
    if let Some(id) = auth::session_id(&headers) {
        state.sessions.close(&id);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let cookie = HeaderValue::from_str(&auth::clear_cookie())
        .map_err(|e| WebError::Internal(e.to_string()))?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, WebError> {
    caller.require(ANYONE, Scope::Read)?;
    let campaigns = state.accounts.campaigns_of(caller.user).await?;
    Ok(Json(json!({
        "user": caller.user, "name": caller.name, "role": caller.role,
        "csrf": caller.csrf, "campaigns": campaigns,
        "must_change_password": caller.must_change_password,
    })))
}

// ----- campaigns --------------------------------------------------------

/// The campaigns the caller may see.
pub async fn visible_campaigns(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<Campaign>, WebError> {
    let rows = state.store.campaigns().await?;
    let mine = if caller.role == Role::Agent && caller.scopes.is_none() {
        Some(state.accounts.campaigns_of(caller.user).await?)
    } else {
        None
    };
    Ok(rows
        .iter()
        .filter(|r| mine.as_ref().is_none_or(|m| m.contains(&r.id)))
        .map(campaign_of)
        .collect())
}

/// A campaign's document with `cannot_dial`: why its configuration keeps
/// it from dialing at all, each reason saying what to do (empty when it may).
pub fn campaign_json(campaign: &Campaign) -> Result<Value, WebError> {
    let mut doc = serde_json::to_value(campaign).map_err(|e| WebError::Internal(e.to_string()))?;
    if let Some(fields) = doc.as_object_mut() {
        fields.insert("cannot_dial".into(), json!(ringa_engine::cannot_dial(campaign)));
    }
    Ok(doc)
}

async fn campaigns(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Value>>, WebError> {
    caller.require(ANYONE, Scope::Read)?;
    let campaigns = visible_campaigns(&state, &caller).await?;
    Ok(Json(campaigns.iter().map(campaign_json).collect::<Result<_, _>>()?))
}

#[derive(Deserialize)]
pub struct NewCampaign {
    pub name: String,
    #[serde(default)]
    pub mode: Option<DialMode>,
    #[serde(default)]
    pub rule_set: Option<RuleSet>,
}

/// Creates a campaign with the rule set's defaults and starts dialing it.
pub async fn create_campaign_in(
    state: &AppState,
    body: &NewCampaign,
) -> Result<Campaign, WebError> {
    let name = body.name.trim();
    if name.is_empty() {
        return Err(WebError::BadRequest("a campaign needs a name".into()));
    }
    let mode = body.mode.unwrap_or(DialMode::Predictive);
    let rule_set = body.rule_set.unwrap_or(RuleSet::Se);
    let draft = Campaign::new(CampaignId(0), name, mode, rule_set);
    let id = state
        .store
        .create_campaign(name, draft.region, &json!({}), Timestamp::now())
        .await
        .map_err(|err| {
            if err.is_unique_violation() {
                WebError::Conflict(format!("a campaign named {name} already exists"))
            } else {
                WebError::from(err)
            }
        })?;
    let mut campaign = draft;
    campaign.id = id;
    save_campaign(state, &campaign).await?;
    Ok(campaign)
}

/// Stores a campaign's configuration and its outcomes, and reloads it on
/// the floor.
pub async fn save_campaign(state: &AppState, campaign: &Campaign) -> Result<(), WebError> {
    let doc = serde_json::to_value(campaign).map_err(|e| WebError::Internal(e.to_string()))?;
    state.store.set_campaign_config(campaign.id, &doc).await?;
    let outcomes: Vec<OutcomeRow> = campaign.outcomes.iter().map(OutcomeRow::from).collect();
    state.store.set_outcomes(campaign.id, &outcomes).await?;
    state.intake.forget(campaign.id);
    state.floor.reload(campaign.id).await.map_err(WebError::Internal)
}

async fn create_campaign(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewCampaign>,
) -> Result<(StatusCode, Json<Campaign>), WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    Ok((StatusCode::CREATED, Json(create_campaign_in(&state, &body).await?)))
}

async fn campaign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, WebError> {
    caller.require(ANYONE, Scope::Read)?;
    let id = CampaignId(id);
    caller.may_see(&state, id).await?;
    Ok(Json(campaign_json(&campaign_of(&state.store.campaign(id).await?))?))
}

/// Checks a campaign document an administrator sent.
pub fn validate_campaign(campaign: &Campaign) -> Result<(), WebError> {
    if !(0.0..=1.0).contains(&campaign.drop_target) {
        return Err(WebError::BadRequest("the drop target is a share between 0 and 1".into()));
    }
    if campaign.rules.max_attempts == 0 || campaign.rules.max_attempts > 12 {
        return Err(WebError::BadRequest("attempts per contact must be 1 to 12".into()));
    }
    if campaign.max_lines_per_agent.is_some_and(|l| !(1.0..=10.0).contains(&l)) {
        return Err(WebError::BadRequest("lines per agent must be 1 to 10".into()));
    }
    if campaign.outcomes.is_empty() {
        return Err(WebError::BadRequest("a campaign needs at least one outcome".into()));
    }
    Ok(())
}

async fn update_campaign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Json(mut body): Json<Campaign>,
) -> Result<Json<Campaign>, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let row = state.store.campaign(CampaignId(id)).await?;
    body.id = row.id;
    body.name = row.name;
    validate_campaign(&body)?;
    save_campaign(&state, &body).await?;
    Ok(Json(body))
}

/// The figures of a learned state: what the pacer and the voicemail
/// models have seen.
fn learned_summary(state: &LearnedState) -> Value {
    let pacer = state.pacer.as_ref();
    json!({
        "version": state.version,
        "pacer": pacer.map(|p| p.name.clone()),
        "outcomes_seen": pacer.map_or(0, |p| p.state.answer.seen()),
        "answer_rate": pacer.map(|p| p.state.answer.campaign_mean()),
        "contacts": state.voicemail.contacts.len(),
        "numbers": state.voicemail.numbers.len(),
        "voicemail_answers": state.voicemail.voicemail_answers,
        "person_answers": state.voicemail.person_answers,
    })
}

/// What a campaign has learned: as the running engine holds it (`live`)
/// and as last saved (`saved`, with `error` when it cannot be read).
async fn learned_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, WebError> {
    caller.require(STAFF, Scope::Read)?;
    Ok(Json(learned_state_of(&state, CampaignId(id)).await?))
}

/// The figures of `GET /campaigns/{id}/learned-state`, also shown on the
/// campaign's page.
pub async fn learned_state_of(state: &AppState, id: CampaignId) -> Result<Value, WebError> {
    state.store.campaign(id).await?;
    let live = state.floor.learned_state(id).await.map_err(WebError::Internal)?;
    let saved = state.store.learned_state(id).await?.map(|row| {
        let figures = match LearnedState::from_json(&row.document) {
            Ok(learned) => learned_summary(&learned),
            Err(err) => json!({ "error": err.to_string() }),
        };
        json!({ "updated_at": row.updated_at, "state": figures })
    });
    Ok(json!({
        "campaign": id,
        "live": live.as_ref().map(learned_summary),
        "saved": saved,
    }))
}

/// Warm-starts campaign `id` from what campaign `from` has learned (its
/// running state, else its saved one): the running campaign takes it at
/// once and it is saved as `id`'s. Refused, changing nothing, when it does
/// not fit `id`'s pacer.
async fn copy_learned_state(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, from)): Path<(u64, u64)>,
) -> Result<Json<Value>, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    Ok(Json(copy_learned_state_in(&state, CampaignId(id), CampaignId(from)).await?))
}

/// Warm-starts campaign `id` from campaign `from` (see
/// `POST /campaigns/{id}/learned-state/copy-from/{from}`); the caller has
/// checked the role.
pub async fn copy_learned_state_in(
    state: &AppState,
    id: CampaignId,
    from: CampaignId,
) -> Result<Value, WebError> {
    if id == from {
        return Err(WebError::BadRequest("a campaign cannot be warmed from itself".into()));
    }
    state.store.campaign(id).await?;
    state.store.campaign(from).await?;
    let live = state.floor.learned_state(from).await.map_err(WebError::Internal)?;
    let learned = match live.filter(|l| !l.is_empty()) {
        Some(learned) => learned,
        None => {
            let row = state.store.learned_state(from).await?.ok_or_else(|| {
                WebError::NotFound(format!("campaign {from} has learned nothing yet"))
            })?;
            LearnedState::from_json(&row.document).map_err(|err| {
                WebError::Conflict(format!("campaign {from}'s saved learned state: {err}"))
            })?
        }
    };
    let document = learned.to_json().map_err(|err| WebError::Internal(err.to_string()))?;
    let summary = learned_summary(&learned);
    state.floor.restore_learned_state(id, learned).await.map_err(WebError::Conflict)?;
    state.store.save_learned_state(id, &document, Timestamp::now()).await?;
    info!(campaign = %id, from = %from, "learned state copied");
    Ok(json!({ "campaign": id, "from": from, "state": summary }))
}

#[derive(Deserialize)]
struct Period {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
}

async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Query(period): Query<Period>,
) -> Result<Json<Value>, WebError> {
    caller.require(STAFF, Scope::Read)?;
    let now = Timestamp::now();
    let from = period.from.unwrap_or(now - SignedDuration::from_hours(24));
    let to = period.to.unwrap_or(now + SignedDuration::from_secs(1));
    let figures = state.store.stats(from, to, Some(CampaignId(id))).await?;
    let formulas: BTreeMap<&str, &str> = ringa_store::export::FORMULAS.into_iter().collect();
    Ok(Json(json!({ "from": from, "to": to, "campaigns": figures, "formulas": formulas })))
}

async fn diagnostics(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, WebError> {
    caller.require(STAFF, Scope::Read)?;
    Ok(Json(diagnostics_of(&state, CampaignId(id)).await?))
}

/// Contacts counted by what keeps them from being dialed now, with the
/// engine's refusals since the floor started.
pub async fn diagnostics_of(state: &AppState, id: CampaignId) -> Result<Value, WebError> {
    state.store.campaign(id).await?;
    let b = state.store.dial_blockers(id, Timestamp::now()).await?;
    let snap = state.floor.snapshot();
    let refused = snap.campaigns.iter().find(|v| v.id == id).map(|v| v.refused.clone());
    Ok(json!({
        "refused_since_start": refused.unwrap_or_default(),
        "campaign": id,
        "dialable_now": b.dialable_now,
        "quarantined": b.quarantined,
        "list_disabled": b.list_disabled,
        "claimed": b.claimed,
        "waiting_callback": b.waiting_callback,
        "done": b.done,
        "blocked": b.blocked,
    }))
}

async fn lists(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, WebError> {
    caller.require(STAFF, Scope::Read)?;
    let lists = state.store.lists(CampaignId(id)).await?;
    Ok(Json(Value::Array(lists.iter().map(list_json).collect())))
}

fn list_json(l: &ringa_store::ListRow) -> Value {
    json!({ "id": l.id, "campaign": l.campaign, "name": l.name, "enabled": l.enabled,
        "weight": l.weight, "priority": l.priority, "new_per_day": l.new_per_day })
}

/// A change to a list; fields left out stay as they are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListChange {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub weight: Option<u32>,
    #[serde(default)]
    pub priority: Option<i32>,
    /// Never-dialed contacts started a day; `null` removes the cap.
    #[serde(default, deserialize_with = "present")]
    pub new_per_day: Option<Option<u32>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// Applies a [`ListChange`]: enabled, weight and priority in the mix, the
/// daily cap of new contacts. Checked whole before anything is written.
pub async fn change_list(
    state: &AppState,
    list: ListId,
    change: &ListChange,
) -> Result<ringa_store::ListRow, WebError> {
    let row = state.store.list(list).await?;
    if change.weight == Some(0) {
        return Err(WebError::BadRequest("a list weight must be at least 1".into()));
    }
    if let Some(enabled) = change.enabled {
        state.store.set_list_enabled(list, enabled).await?;
    }
    if change.weight.is_some() || change.priority.is_some() {
        let weight = change.weight.unwrap_or(row.weight);
        let priority = change.priority.unwrap_or(row.priority);
        state.store.set_list_mix(list, weight, priority).await?;
    }
    if let Some(cap) = change.new_per_day {
        state.store.set_list_cap(list, cap).await?;
    }
    info!(%list, "list changed");
    Ok(state.store.list(list).await?)
}

async fn update_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Json(body): Json<ListChange>,
) -> Result<Json<Value>, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let row = change_list(&state, ListId(id), &body).await?;
    Ok(Json(list_json(&row)))
}

/// The outcomes a list reset reopens (every outcome when empty).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    #[serde(default)]
    pub outcomes: Vec<String>,
}

/// Resets ("zeroes") a list: its finished contacts whose last outcome or
/// call result is one of `outcomes` become dialable again within the
/// campaign's rules; an unknown code is refused (400) by the store.
pub async fn reset_list_now(
    state: &AppState,
    list: ListId,
    outcomes: &[String],
) -> Result<ringa_store::ResetReport, WebError> {
    let report = state.store.reset_list(list, outcomes, Timestamp::now()).await?;
    info!(%list, reset = report.reset, "list reset");
    Ok(report)
}

fn reset_json(r: &ringa_store::ResetReport) -> Value {
    json!({ "reset": r.reset, "kept_dnc": r.kept_dnc, "kept_final": r.kept_final,
        "kept_inactive": r.kept_inactive })
}

async fn reset_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    body: Option<Json<ResetBody>>,
) -> Result<Json<Value>, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let report = reset_list_now(&state, ListId(id), &body.outcomes).await?;
    Ok(Json(reset_json(&report)))
}

#[derive(Deserialize)]
struct NewList {
    name: String,
}

async fn create_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Json(body): Json<NewList>,
) -> Result<(StatusCode, Json<Value>), WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let list = state.store.create_list(CampaignId(id), body.name.trim(), Timestamp::now()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": list }))))
}

/// A contact with its attempts and callbacks, for the card.
pub async fn contact_json(state: &AppState, contact: ContactId) -> Result<Value, WebError> {
    let row = state.store.contact(contact).await?;
    let attempts = state.store.attempts_of_contact(contact).await?;
    let callbacks = state.store.callbacks_of_contact(contact).await?;
    let calls_back = state.store.inbound_of_contact(contact).await?;
    let numbers: Vec<Value> = row
        .numbers
        .iter()
        .map(|n| json!({ "number": n.number.as_str(), "label": n.label, "display": n.raw }))
        .collect();
    // Times are shown in the contact's zone, else the campaign's.
    let zone = match row.zone.as_deref().and_then(|z| ringa_core::ZoneName::parse(z).ok()) {
        Some(zone) => zone,
        None => {
            let campaign = campaign_of(&state.store.campaign(row.campaign).await?);
            ringa_core::ZoneName::parse(&campaign_zone(&campaign))
                .map_err(|e| WebError::Internal(format!("the campaign's zone: {e}")))?
        }
    };
    let tz = zone.tz();
    let mut history: Vec<Value> = attempts
        .iter()
        .map(|a| {
            json!({
                "attempt_no": a.attempt_no, "started_at": a.started_at,
                "started_local": local_time(a.started_at, &tz),
                "result": a.result, "outcome": a.outcome, "sip_code": a.sip_code,
                "agent": a.agent,
            })
        })
        .collect();
    // Calls back are not attempts: listed after them, marked as such.
    history.extend(calls_back.iter().map(|c| {
        json!({
            "attempt_no": "call back", "started_at": c.started_at,
            "started_local": local_time(c.started_at, &tz),
            "result": "inbound", "outcome": c.outcome, "sip_code": null, "agent": c.agent,
        })
    }));
    let callbacks: Vec<Value> = callbacks
        .iter()
        .map(|c| json!({
            "id": c.id, "due_at": c.due_at, "local": c.local.to_string(), "zone":
                c.zone.to_string(),
            "personal": c.owner.is_some(), "state": format!("{:?}", c.state).to_lowercase(), "note":
                c.note, "tries": c.tries, "cancel_reason": c.cancel_reason,
        }))
        .collect();
    Ok(json!({
        "id": row.id, "campaign": row.campaign, "list": row.list, "name": row.name,
        "address": row.address, "postal_code": row.postal_code, "zone": row.zone,
        "fields": row.fields, "numbers": numbers, "state": row.state, "attempts": row.attempts,
        "last_outcome": row.last_outcome, "active": row.active, "erased": row.erased,
        "history": history, "callbacks": callbacks,
        "history_zone": zone.to_string(),
    }))
}

/// The card of a caller whose number matches no contact of the campaign: the number (when
/// the network gave it) and nothing else, in the shape of [`contact_json`].
fn caller_json(caller: Option<&str>) -> Value {
    let numbers: Vec<Value> = caller
        .map(|n| json!({ "number": n, "label": "caller", "display": n }))
        .into_iter()
        .collect();
    json!({
        "id": null, "name": null, "fields": {}, "numbers": numbers, "history": [],
        "callbacks": [], "history_zone": null,
    })
}

/// A moment as the wall clock of `tz` shows it, with the zone's
/// abbreviation: `2026-12-04 16:03:12 CET`.
pub fn local_time(at: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    let local = at.to_zoned_datetime(tz.clone());
    jiff::fmt::strtime::format("%Y-%m-%d %H:%M:%S %Z", &local).unwrap_or_else(|_| local.to_string())
}

async fn contact(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, contact)): Path<(u64, u64)>,
) -> Result<Json<Value>, WebError> {
    caller.require(ANYONE, Scope::Read)?;
    let campaign = CampaignId(id);
    caller.may_see(&state, campaign).await?;
    let value = contact_json(&state, ContactId(contact)).await?;
    if value["campaign"] != json!(campaign) {
        return Err(WebError::NotFound(format!("contact {contact} in {campaign}")));
    }
    Ok(Json(value))
}

/// A change to a contact.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactChange {
    pub active: bool,
}

/// The contact `contact` of `campaign`, or not found.
async fn contact_in(
    state: &AppState,
    campaign: CampaignId,
    contact: ContactId,
) -> Result<ringa_store::ContactRow, WebError> {
    let row = state.store.contact(contact).await?;
    if row.campaign != campaign || row.erased {
        return Err(WebError::NotFound(format!("contact {contact} in {campaign}")));
    }
    Ok(row)
}

/// Deactivates or reactivates a contact. A deactivated contact is never
/// dialed by any campaign, its pending callbacks are cancelled, and the
/// running floor drops it from its working set at once.
pub async fn set_contact_active(
    state: &AppState,
    campaign: CampaignId,
    contact: ContactId,
    active: bool,
) -> Result<(), WebError> {
    contact_in(state, campaign, contact).await?;
    state.store.set_contact_active(contact, active, Timestamp::now()).await?;
    if !active {
        let _ = state.floor.act(Input::ContactInactive { contact }, None).await;
    }
    info!(%campaign, %contact, active, "contact activity changed");
    Ok(())
}

async fn update_contact(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, contact)): Path<(u64, u64)>,
    Json(body): Json<ContactChange>,
) -> Result<Json<Value>, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let campaign = CampaignId(id);
    set_contact_active(&state, campaign, ContactId(contact), body.active).await?;
    Ok(Json(contact_json(&state, ContactId(contact)).await?))
}

/// Erases a contact on request: its personal data and recordings go, a
/// one-way hash of each number stays so that it stays blocked.
pub async fn erase(
    state: &AppState,
    campaign: CampaignId,
    contact: ContactId,
) -> Result<ringa_store::ErasureReport, WebError> {
    contact_in(state, campaign, contact).await?;
    let _ = state.floor.act(Input::ContactInactive { contact }, None).await;
    let report = state.store.erase_contact(contact, Timestamp::now()).await?;
    info!(%campaign, %contact, recordings = report.recordings_removed.len(), "contact erased");
    for (path, why) in &report.recordings_left {
        tracing::warn!(%contact, path, why, "an erased contact's recording could not be removed");
    }
    Ok(report)
}

async fn erase_contact(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, contact)): Path<(u64, u64)>,
) -> Result<Json<Value>, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let report = erase(&state, CampaignId(id), ContactId(contact)).await?;
    Ok(Json(json!({
        "numbers_hashed": report.numbers_hashed,
        "callbacks_cancelled": report.callbacks_cancelled,
        "recordings_removed": report.recordings_removed.len(),
        "recordings_missing": report.recordings_missing.len(),
        "recordings_left": report.recordings_left.iter()
            .map(|(path, why)| json!({ "path": path, "why": why }))
            .collect::<Vec<_>>(),
    })))
}

/// Why an order is cancelled.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    #[serde(default)]
    pub reason: Option<String>,
}

async fn cancel_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Option<Json<CancelBody>>,
) -> Result<Json<Value>, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let reason = body.and_then(|Json(b)| b.reason).unwrap_or_else(|| "cancelled".into());
    let cancelled = state.store.cancel_order(id, reason.trim(), Timestamp::now()).await?;
    Ok(Json(json!({ "order": id, "cancelled": cancelled })))
}

/// The query string of a file of cancellations.
#[derive(Default, Deserialize)]
pub struct CancelFileParams {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Cancels the orders a client's file of cancellations names (its text in
/// the body, one order a line as `docs/storage.md` describes).
pub async fn cancel_from_file(
    state: &AppState,
    campaign: CampaignId,
    bytes: &[u8],
    reason: Option<&str>,
) -> Result<ringa_store::CancelReport, WebError> {
    let text = ringa_store::import::decode(bytes, None)
        .map_err(|e| WebError::BadRequest(format!("the file of cancellations: {e}")))?
        .text;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty()).unwrap_or("client cancellation");
    Ok(state.store.cancel_orders_from_text(campaign, &text, reason, Timestamp::now()).await?)
}

async fn cancel_orders_from_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Query(params): Query<CancelFileParams>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let campaign = CampaignId(id);
    let report = cancel_from_file(&state, campaign, &body, params.reason.as_deref()).await?;
    let not_found: Vec<Value> = report
        .not_found
        .iter()
        .map(|(line, text, why)| json!({ "line": line, "text": text, "why": why }))
        .collect();
    Ok(Json(json!({
        "cancelled": report.cancelled,
        "already_cancelled": report.already_cancelled,
        "not_found": not_found,
    })))
}

/// The most contacts one search answers.
pub const SEARCH_LIMIT: u32 = 50;

/// The query string of a contact search.
#[derive(Default, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub q: Option<String>,
}

/// The contacts of `campaign` a search for `query` finds (a whole phone
/// number or part of a name), at most [`SEARCH_LIMIT`], and whether there
/// were more. The query is personal data: it is never logged.
pub async fn find_contacts(
    state: &AppState,
    campaign: CampaignId,
    query: &str,
) -> Result<(Vec<ringa_store::ContactRow>, bool), WebError> {
    if query.trim().is_empty() {
        return Err(WebError::BadRequest(
            "the search query q is empty: give a phone number or part of a name".into(),
        ));
    }
    state.store.campaign(campaign).await?;
    let mut rows = state.store.search_contacts(campaign, query, SEARCH_LIMIT + 1).await?;
    let more = rows.len() > SEARCH_LIMIT as usize;
    rows.truncate(SEARCH_LIMIT as usize);
    Ok((rows, more))
}

async fn search_contacts(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Query(params): Query<SearchParams>,
) -> Result<Json<Value>, WebError> {
    caller.require(ANYONE, Scope::Read)?;
    let campaign = CampaignId(id);
    caller.may_see(&state, campaign).await?;
    let (rows, more) = find_contacts(&state, campaign, params.q.as_deref().unwrap_or("")).await?;
    let contacts: Vec<Value> = rows
        .iter()
        .map(|row| {
            let numbers: Vec<&str> = row.numbers.iter().map(|n| n.number.as_str()).collect();
            json!({
                "id": row.id, "name": row.name, "numbers": numbers, "state": row.state,
                "attempts": row.attempts, "next_at": row.next_at,
            })
        })
        .collect();
    Ok(Json(json!({ "contacts": contacts, "limit": SEARCH_LIMIT, "more": more })))
}

// ----- import -----------------------------------------------------------

/// How to import a file (query string or form fields).
#[derive(Default, Deserialize)]
pub struct ImportParams {
    /// `Header=target` pairs separated by commas; other columns are
    /// recognised by their header.
    #[serde(default)]
    pub mapping: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub dedupe: Option<String>,
}

/// Imports a file into a list and returns the report as JSON.
pub async fn import_into(
    state: &AppState,
    list: ListId,
    bytes: &[u8],
    params: &ImportParams,
) -> Result<Value, WebError> {
    let row = state.store.list(list).await?;
    let campaign = state.store.campaign(row.campaign).await?;
    let mapping = match params.mapping.as_deref().filter(|m| !m.trim().is_empty()) {
        Some(spec) => parse_mapping(spec)?,
        None => Vec::new(),
    };
    let dedupe = match params.dedupe.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => DedupeScope::parse(d)?,
        None => DedupeScope::Campaign,
    };
    let options = ImportOptions {
        campaign: row.campaign,
        list,
        region: campaign.region,
        mapping,
        delimiter: None,
        encoding: params.encoding.clone().filter(|e| !e.is_empty()),
        dedupe,
    };
    let report = import_bytes(&state.store, bytes, &options, &|_, _| {}, Timestamp::now()).await?;
    let mut counts = BTreeMap::new();
    for bucket in ringa_store::import::Bucket::ALL {
        counts.insert(bucket.as_str(), report.count(bucket));
    }
    let _ = state.floor.reload(row.campaign).await;
    Ok(json!({ "total": report.total(), "counts": counts, "report": report }))
}

async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Query(params): Query<ImportParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let is_multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    if is_multipart {
        return Err(WebError::BadRequest("send the file as the request body (text/csv)".into()));
    }
    Ok(Json(import_into(&state, ListId(id), &body, &params).await?))
}

/// Reads a multipart upload: the file's bytes and the other fields.
pub async fn read_upload(
    mut multipart: Multipart,
) -> Result<(Vec<u8>, BTreeMap<String, String>), WebError> {
    let mut file = Vec::new();
    let mut fields = BTreeMap::new();
    while let Some(field) =
        multipart.next_field().await.map_err(|e| WebError::BadRequest(e.to_string()))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            file = field.bytes().await.map_err(|e| WebError::BadRequest(e.to_string()))?.to_vec();
        } else {
            let text = field.text().await.map_err(|e| WebError::BadRequest(e.to_string()))?;
            fields.insert(name, text);
        }
    }
    Ok((file, fields))
}

// ----- do-not-call ------------------------------------------------------

async fn dnc_lists(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, WebError> {
    caller.require(STAFF, Scope::Read)?;
    let out: Vec<Value> = state
        .store
        .dnc_lists()
        .iter()
        .map(|l| {
            json!({ "id": l.id, "name": l.name, "kind": l.kind.as_str(), "campaign": l.campaign
            })
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

#[derive(Deserialize)]
struct NewDncList {
    name: String,
    #[serde(default)]
    campaign: Option<CampaignId>,
}

async fn create_dnc_list(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewDncList>,
) -> Result<(StatusCode, Json<Value>), WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let kind = DncKind::Campaign;
    let id = state
        .store
        .create_dnc_list(body.name.trim(), kind, body.campaign, Timestamp::now())
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
struct DncNumbers {
    numbers: Vec<String>,
    #[serde(default)]
    region: Option<String>,
}

async fn add_dnc(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Json(body): Json<DncNumbers>,
) -> Result<Json<Value>, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let region = ringa_core::Region::parse(body.region.as_deref().unwrap_or("SE"))
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let mut added = 0;
    let mut invalid = Vec::new();
    for text in &body.numbers {
        match PhoneNumber::parse(text, region) {
            Ok(number) => {
                if state.store.add_dnc(DncListId(id), &number, "web", Timestamp::now()).await? {
                    added += 1;
                }
                let _ = state.floor.act(Input::Dnc { number, list: DncListId(id) }, None).await;
            }
            Err(err) => invalid.push(json!({ "number": text, "error": err.to_string() })),
        }
    }
    Ok(Json(json!({ "added": added, "invalid": invalid })))
}

// ----- users and tokens -------------------------------------------------

async fn users(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, WebError> {
    caller.require(STAFF, Scope::Admin)?;
    let mut out = Vec::new();
    for u in state.store.users().await? {
        let campaigns = state.accounts.campaigns_of(u.id).await?;
        out.push(json!({
            "id": u.id, "login": u.login, "name": u.display_name, "role": u.role,
            "active": u.active, "campaigns": campaigns,
        }));
    }
    Ok(Json(Value::Array(out)))
}

#[derive(Deserialize)]
pub struct NewUser {
    pub login: String,
    #[serde(default)]
    pub name: Option<String>,
    pub role: String,
    pub password: String,
    #[serde(default)]
    pub campaigns: Vec<CampaignId>,
    /// The password is one-time: the user must replace it at the first
    /// login (as for a generated password).
    #[serde(default)]
    pub must_change_password: bool,
}

/// Creates a user with a hashed password and its campaigns.
pub async fn create_user_in(state: &AppState, body: &NewUser) -> Result<AgentId, WebError> {
    create_user_with(&state.store, &state.accounts, body).await
}

/// [`create_user_in`] without a running server (the `ringa user` command).
pub async fn create_user_with(
    store: &ringa_store::Store,
    accounts: &crate::auth::Accounts,
    body: &NewUser,
) -> Result<AgentId, WebError> {
    let role = Role::parse(&body.role)?;
    let login = body.login.trim();
    if login.is_empty() {
        return Err(WebError::BadRequest("a user needs a login".into()));
    }
    check_length(&body.password)?;
    let hash = auth::hash_password(&body.password)?;
    let name = body.name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or(login);
    let id = store
        .create_user(login, name, role.as_str(), Some(&hash), Timestamp::now())
        .await
        .map_err(|err| {
            if err.is_unique_violation() {
                WebError::Conflict(format!("a user with the login {login} already exists"))
            } else {
                WebError::from(err)
            }
        })?;
    if body.must_change_password {
        store.set_must_change_password(id, true).await?;
    }
    accounts.assign(id, body.campaigns.clone()).await?;
    Ok(id)
}

async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<Value>), WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let id = create_user_in(&state, &body).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// A password change: a user's own (the current password required) or
/// an administrator's for another user.
#[derive(Deserialize)]
struct NewPassword {
    password: String,
    /// The current password (a user changing their own).
    #[serde(default)]
    old_password: Option<String>,
    /// The new password is one-time (an administrator setting another
    /// user's).
    #[serde(default)]
    must_change_password: bool,
}

/// A user's own password change.
#[derive(Deserialize)]
pub struct OwnPassword {
    pub old_password: String,
    pub new_password: String,
}

async fn set_own_password(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<OwnPassword>,
) -> Result<StatusCode, WebError> {
    caller.require_session(ANYONE)?;
    let session = auth::session_id(&headers);
    change_own_password(&state, &caller, session.as_deref(), &body, addr.ip()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_password(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(body): Json<NewPassword>,
) -> Result<StatusCode, WebError> {
    let user = AgentId(id);
    if caller.user == user && caller.scopes.is_none() {
        let own = OwnPassword {
            old_password: body.old_password.unwrap_or_default(),
            new_password: body.password,
        };
        let session = auth::session_id(&headers);
        change_own_password(&state, &caller, session.as_deref(), &own, addr.ip()).await?;
    } else {
        caller.require(ADMIN, Scope::Admin)?;
        reset_password(&state, user, &body.password, body.must_change_password).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The shortest password taken.
pub const MIN_PASSWORD: usize = 8;

fn check_length(password: &str) -> Result<(), WebError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(WebError::BadRequest(format!(
            "a password has {MIN_PASSWORD} characters or more"
        )));
    }
    Ok(())
}

/// The caller sets their own password: the current one must be given and
/// the new one must differ. A wrong current password counts as a wrong
/// login of the user from `ip` (the same slow-down). The caller's other
/// sessions end; `session` (the one the change came from) goes on, no
/// longer restricted when the old password was one-time.
pub async fn change_own_password(
    state: &AppState,
    caller: &Caller,
    session: Option<&str>,
    body: &OwnPassword,
    ip: std::net::IpAddr,
) -> Result<(), WebError> {
    check_length(&body.new_password)?;
    let user = caller.user;
    let row = state.store.users().await?.into_iter().find(|u| u.id == user);
    let row = row.ok_or_else(|| WebError::NotFound(format!("{user}")))?;
    if let Some(wait) = state.sessions.wait_before_try(&row.login, ip) {
        return Err(WebError::Throttled(wait));
    }
    let current = state.store.user_for_login(&row.login).await?.and_then(|(_, h)| h);
    if !current.is_some_and(|hash| auth::verify_password(&body.old_password, &hash)) {
        state.sessions.failed(&row.login, ip);
        state.metrics.failed_logins.fetch_add(1, Ordering::Relaxed);
        return Err(WebError::Forbidden("the current password is wrong".into()));
    }
    state.sessions.succeeded(&row.login, ip);
    if body.new_password == body.old_password {
        return Err(WebError::BadRequest(
            "choose a new password: it must differ from the current one".into(),
        ));
    }
    let hash = auth::hash_password(&body.new_password)?;
    let epoch = state.store.set_password_hash(user, &hash, false).await?;
    state.sessions.close_user_except(user, session.map(|id| (id, epoch)));
    info!(%user, "password changed by its user");
    Ok(())
}

/// An administrator sets another user's password, one-time when
/// `one_time`; the user's sessions end.
pub async fn reset_password(
    state: &AppState,
    user: AgentId,
    password: &str,
    one_time: bool,
) -> Result<(), WebError> {
    check_length(password)?;
    let hash = auth::hash_password(password)?;
    state.store.set_password_hash(user, &hash, one_time).await?;
    state.sessions.close_user(user);
    info!(%user, one_time, "password set by an administrator");
    Ok(())
}

/// What an administrator changes of a user.
#[derive(Default, Deserialize)]
pub struct UserChange {
    /// Enables (`true`) or disables the login. Disabling ends the user's
    /// sessions and revokes the API tokens the user made.
    #[serde(default)]
    pub active: Option<bool>,
    /// A new role; the user's sessions end.
    #[serde(default)]
    pub role: Option<String>,
}

async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Json(body): Json<UserChange>,
) -> Result<Json<Value>, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let user = AgentId(id);
    change_user(&state, &caller, user, &body).await?;
    let row = state.store.users().await?.into_iter().find(|u| u.id == user);
    let row = row.ok_or_else(|| WebError::NotFound(format!("{user}")))?;
    Ok(Json(json!({ "id": row.id, "login": row.login, "role": row.role, "active": row.active })))
}

/// Disables, enables or changes the role of `user`. Administrators may
/// not do either to themselves (the last one would lock everyone out).
pub async fn change_user(
    state: &AppState,
    caller: &Caller,
    user: AgentId,
    change: &UserChange,
) -> Result<(), WebError> {
    let role = change.role.as_deref().map(Role::parse).transpose()?;
    if state.store.user_auth(user).await?.is_none() {
        return Err(WebError::NotFound(format!("{user}")));
    }
    if user == caller.user && (change.active == Some(false) || role.is_some()) {
        return Err(WebError::Conflict(
            "you cannot disable yourself or change your own role; ask another administrator".into(),
        ));
    }
    if let Some(role) = role {
        state.store.set_user_role(user, role.as_str()).await?;
        state.sessions.close_user(user);
        info!(%user, role = role.as_str(), "role changed");
    }
    match change.active {
        Some(false) => {
            disable_user(&state.store, &state.accounts, user).await?;
            state.sessions.close_user(user);
            let _ = state.floor.act(Input::AgentLogout { agent: user }, None).await;
        }
        Some(true) => state.store.set_user_active(user, true).await?,
        None => {}
    }
    Ok(())
}

/// Disables a user's login: every session the user has ends (on any node,
/// at its next request) and the API tokens the user made are revoked.
/// Also what `ringa user disable` does.
pub async fn disable_user(
    store: &ringa_store::Store,
    accounts: &crate::auth::Accounts,
    user: AgentId,
) -> Result<usize, WebError> {
    store.set_user_active(user, false).await?;
    let revoked = accounts.revoke_tokens_of(user).await?;
    info!(%user, revoked, "user disabled");
    Ok(revoked)
}

async fn assign_campaigns(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Json(body): Json<Vec<CampaignId>>,
) -> Result<StatusCode, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    state.accounts.assign(AgentId(id), body).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tokens(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    let out: Vec<Value> = state
        .accounts
        .tokens()
        .await?
        .iter()
        .map(|t| {
            json!({ "id": t.id, "name": t.name, "scopes": t.scopes, "created_at": t.created_at,
            "revoked": t.revoked })
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

#[derive(Deserialize)]
struct NewToken {
    name: String,
    scopes: Vec<Scope>,
}

async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewToken>,
) -> Result<(StatusCode, Json<Value>), WebError> {
    caller.require_session(ADMIN)?;
    let (record, secret) =
        state.accounts.create_token(body.name.trim(), body.scopes, caller.user).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": record.id, "token": secret, "scopes": record.scopes })),
    ))
}

async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<StatusCode, WebError> {
    caller.require(ADMIN, Scope::Admin)?;
    state.accounts.revoke_token(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- lead intake ------------------------------------------------------

/// A contact arriving through intake.
#[derive(Deserialize)]
pub struct LeadBody {
    pub campaign: CampaignId,
    pub phone: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

async fn lead(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<LeadBody>,
) -> Result<(StatusCode, Json<Value>), WebError> {
    caller.require(ADMIN, Scope::Leads)?;
    let target = state.intake.target(&state.store, body.campaign).await?;
    let number = PhoneNumber::parse(&body.phone, target.region)
        .map_err(|e| WebError::BadRequest(format!("phone: {e}")))?;
    if let Some(block) = state.store.dnc_check(&number, Some(target.campaign)) {
        return Err(WebError::Rejected(format!(
            "the number is on the do-not-call list {}",
            block.list_name
        )));
    }
    let contact = NewContact {
        name: body.name,
        fields: body.fields,
        numbers: vec![NewNumber { number, label: "main".into(), raw: body.phone }],
        lead: true,
        priority: 100,
        ..NewContact::default()
    };
    let lead = NewLead { campaign: target.campaign, list: target.list, contact };
    // Answered once the group of leads holding this one is committed; a
    // number an open contact of the campaign has already is a duplicate,
    // answered 200 with that contact and neither stored nor dialed again.
    let (status, id, duplicate) = match state.intake.submit(lead).await? {
        Stored::New(id) => (StatusCode::ACCEPTED, id, false),
        Stored::Duplicate(id) => (StatusCode::OK, id, true),
    };
    if !duplicate {
        state.metrics.leads.fetch_add(1, Ordering::Relaxed);
    }
    let answer = json!({ "contact": id, "campaign": target.campaign, "duplicate": duplicate });
    Ok((status, Json(answer)))
}

// ----- the agent desktop ------------------------------------------------

async fn agent_state(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, WebError> {
    caller.require_session(ANYONE)?;
    let snap = state.floor.snapshot();
    Ok(Json(json!({ "agent": snap.agent(caller.user), "at": snap.at })))
}

/// The caller's card: the contact, its history, the campaign's card
/// fields, script and the outcomes that fit the call.
pub async fn card_json(state: &AppState, caller: &Caller) -> Result<Value, WebError> {
    let snap = state.floor.snapshot();
    let Some(card) = snap.agent(caller.user).and_then(|a| a.card.clone()) else {
        return Ok(Value::Null);
    };
    caller.may_see(state, card.campaign).await?;
    let campaign = campaign_of(&state.store.campaign(card.campaign).await?);
    let contact = match card.contact {
        Some(contact) => contact_json(state, contact).await?,
        // A caller whose number matches no contact: a card with the number alone.
        None => caller_json(card.caller.as_deref()),
    };
    let outcomes: Vec<Value> = campaign
        .outcomes
        .iter()
        .map(|o| {
            json!({
                "code": o.code, "label": o.label, "key": o.key, "callback": o.callback,
                "allowed": card.allowed_outcomes.iter().any(|a| a == o.code.as_str()),
            })
        })
        .collect();
    Ok(json!({
        "card": card, "contact": contact, "card_fields": campaign.card_fields,
        "script": campaign.script, "outcomes": outcomes, "campaign_name": campaign.name,
        "personal_callbacks": campaign.callbacks.personal_enabled,
        "zone": campaign_zone(&campaign),
    }))
}

async fn agent_card(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, WebError> {
    caller.require_session(ANYONE)?;
    Ok(Json(card_json(&state, &caller).await?))
}

async fn act(state: &AppState, caller: &Caller, input: Input) -> Result<StatusCode, WebError> {
    state.floor.act(input, Some(caller.name.clone())).await.map_err(WebError::Rejected)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct AgentLogin {
    pub campaign: CampaignId,
}

async fn agent_login(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<AgentLogin>,
) -> Result<StatusCode, WebError> {
    caller.require_session(ANYONE)?;
    caller.may_see(&state, body.campaign).await?;
    state.store.campaign(body.campaign).await?;
    act(&state, &caller, Input::AgentLogin { agent: caller.user, campaigns: vec![body.campaign] })
        .await
}

async fn agent_ready(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, WebError> {
    caller.require_session(ANYONE)?;
    act(&state, &caller, Input::AgentReady { agent: caller.user }).await
}

#[derive(Deserialize)]
struct Pause {
    reason: String,
}

async fn agent_pause(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Pause>,
) -> Result<StatusCode, WebError> {
    caller.require_session(ANYONE)?;
    let reason = body.reason.trim();
    let reason = if reason.is_empty() { "pause" } else { reason };
    act(&state, &caller, Input::AgentPause { agent: caller.user, reason: reason.to_string() }).await
}

async fn agent_logout(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, WebError> {
    caller.require_session(ANYONE)?;
    act(&state, &caller, Input::AgentLogout { agent: caller.user }).await
}

#[derive(Deserialize)]
struct Dial {
    #[serde(default)]
    number: usize,
}

async fn agent_dial(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Dial>,
) -> Result<StatusCode, WebError> {
    caller.require_session(ANYONE)?;
    act(&state, &caller, Input::AgentDial { agent: caller.user, number: body.number }).await
}

async fn agent_skip(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, WebError> {
    caller.require_session(ANYONE)?;
    act(&state, &caller, Input::AgentSkip { agent: caller.user }).await
}

async fn agent_hangup(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, WebError> {
    caller.require_session(ANYONE)?;
    act(&state, &caller, Input::AgentHangup { agent: caller.user }).await
}

/// A callback as the desktop sends it.
#[derive(Deserialize)]
pub struct CallbackBody {
    /// Local wall-clock time, `2026-12-04T15:00`.
    pub at: String,
    /// "Around": the dialer may pick a moment within ± this many minutes.
    #[serde(default)]
    pub around_minutes: Option<i64>,
    #[serde(default)]
    pub personal: bool,
    /// The IANA zone; the contact's or the campaign's when missing.
    #[serde(default)]
    pub zone: Option<String>,
}

#[derive(Deserialize)]
pub struct OutcomeBody {
    pub outcome: String,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub callback: Option<CallbackBody>,
}

async fn agent_outcome(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<OutcomeBody>,
) -> Result<StatusCode, WebError> {
    caller.require_session(ANYONE)?;
    let callback = match &body.callback {
        Some(cb) => Some(callback_request(&state, &caller, cb).await?),
        None => None,
    };
    let note = body.note.clone().filter(|n| !n.trim().is_empty());
    let input = Input::AgentOutcome {
        agent: caller.user,
        outcome: OutcomeCode::new(&body.outcome),
        callback,
        note,
    };
    act(&state, &caller, input).await
}

async fn callback_request(
    state: &AppState,
    caller: &Caller,
    cb: &CallbackBody,
) -> Result<CallbackRequest, WebError> {
    let local: DateTime = cb
        .at
        .parse()
        .map_err(|e| WebError::BadRequest(format!("callback time {:?}: {e}", cb.at)))?;
    let zone_text = match &cb.zone {
        Some(z) if !z.is_empty() => z.clone(),
        _ => {
            let snap = state.floor.snapshot();
            let card = snap.agent(caller.user).and_then(|a| a.card.clone());
            let mut zone = None;
            if let Some(card) = card {
                if let Some(contact) = card.contact {
                    zone = state.store.contact(contact).await?.zone;
                }
                if zone.is_none() {
                    let campaign = campaign_of(&state.store.campaign(card.campaign).await?);
                    zone = Some(campaign_zone(&campaign));
                }
            }
            zone.unwrap_or_else(|| "Europe/Stockholm".to_string())
        }
    };
    let zone =
        ringa_core::ZoneName::parse(&zone_text).map_err(|e| WebError::BadRequest(e.to_string()))?;
    Ok(CallbackRequest {
        local,
        zone,
        around: cb.around_minutes.filter(|m| *m > 0).map(SignedDuration::from_mins),
        personal: cb.personal,
    })
}

// ----- the supervisor wall ----------------------------------------------

async fn wall(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, WebError> {
    caller.require(STAFF, Scope::Read)?;
    let snap = state.floor.snapshot();
    let escalated: Vec<Value> = escalated_callbacks(&state)
        .await?
        .iter()
        .map(|(_, cb)| {
            json!({
                "id": cb.id, "campaign": cb.campaign, "contact": cb.contact,
                "due_at": cb.due_at, "local": cb.local.to_string(), "zone": cb.zone.to_string(),
                "tries": cb.tries, "note": cb.note,
            })
        })
        .collect();
    Ok(Json(json!({
        "snapshot": *snap,
        "escalated_callbacks": escalated,
        "definitions": crate::pages::DEFINITIONS,
    })))
}

/// The callbacks that could not be made within their window and wait for
/// a supervisor, with their campaign's name, campaign by campaign.
pub async fn escalated_callbacks(
    state: &AppState,
) -> Result<Vec<(String, ringa_store::CallbackRow)>, WebError> {
    let mut out = Vec::new();
    for campaign in state.store.campaigns().await? {
        let escalated = ringa_store::CallbackState::Escalated;
        for cb in state.store.callbacks_in_state(campaign.id, escalated).await? {
            out.push((campaign.name.clone(), cb));
        }
    }
    Ok(out)
}

async fn force_release(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
) -> Result<StatusCode, WebError> {
    caller.require(STAFF, Scope::Admin)?;
    state
        .floor
        .act(Input::ForceRelease { agent: AgentId(id) }, None)
        .await
        .map_err(WebError::Rejected)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn move_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u64>,
    Json(body): Json<Vec<CampaignId>>,
) -> Result<StatusCode, WebError> {
    caller.require(STAFF, Scope::Admin)?;
    let agent = AgentId(id);
    if agent.0 < 1_000_000 {
        state.accounts.assign(agent, body.clone()).await?;
    }
    state
        .floor
        .act(Input::AgentCampaigns { agent, campaigns: body }, None)
        .await
        .map_err(WebError::Rejected)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The zone a campaign falls back to for contacts of unknown zone.
pub fn campaign_zone(campaign: &Campaign) -> String {
    match &campaign.rules.unknown_zone {
        ringa_core::zone::UnknownZone::Default(zone) => zone.to_string(),
        ringa_core::zone::UnknownZone::AllOf(zones) => {
            zones.first().map_or_else(|| "UTC".to_string(), ToString::to_string)
        }
    }
}
