//! Accounts and security: roles (and the role sets pages and API both
//! check), argon2 password hashes, session cookies with their CSRF tokens,
//! scoped API tokens, the slow-down after wrong passwords, and the
//! extractor every handler uses to learn who calls. Every request checks
//! the user's row in the store, so a disable, a role change or a password
//! change ends the user's sessions and tokens at once, whichever process
//! made it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use ringa_core::{AgentId, CampaignId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::WebError;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "ringa_session";
/// The header that carries the CSRF token of a session.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lives without use.
const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// Wrong passwords in a row before logins slow down.
const FREE_FAILURES: u32 = 4;

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Supervisor,
    Agent,
}

impl Role {
    pub fn parse(text: &str) -> Result<Role, WebError> {
        match text {
            "admin" => Ok(Role::Admin),
            "supervisor" => Ok(Role::Supervisor),
            "agent" => Ok(Role::Agent),
            other => Err(WebError::BadRequest(format!(
                "unknown role {other:?} (admin, supervisor or agent)"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
        }
    }
}

/// Every role: the agent desktop, the password form, `/api/v1/me`.
pub const ANYONE: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent];
/// Administrators and supervisors: the wall and the figures.
pub const STAFF: &[Role] = &[Role::Admin, Role::Supervisor];
/// Administrators only.
pub const ADMIN: &[Role] = &[Role::Admin];

/// What an API token may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// `POST /api/v1/leads`.
    Leads,
    /// Reading campaigns, statistics and the live floor.
    Read,
    /// Everything an administrator can do.
    Admin,
    /// `GET /metrics`.
    Metrics,
}

impl Scope {
    pub fn parse(text: &str) -> Result<Scope, WebError> {
        match text.trim() {
            "leads" => Ok(Scope::Leads),
            "read" => Ok(Scope::Read),
            "admin" => Ok(Scope::Admin),
            "metrics" => Ok(Scope::Metrics),
            other => Err(WebError::BadRequest(format!(
                "unknown scope {other:?} (leads, read, admin, metrics)"
            ))),
        }
    }
}

/// A logged-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: AgentId,
    pub login: String,
    pub name: String,
    pub role: Role,
    pub csrf: String,
    /// The user's epoch when the session was opened (or its user set a new
    /// password in it): a later epoch in the store ends the session.
    pub epoch: i64,
    last_used: Instant,
}

/// An API token as stored (only the hash of its secret is kept).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: u64,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// SHA-256 of the whole token, hex.
    pub hash: String,
    pub created_by: AgentId,
    pub created_at: jiff::Timestamp,
    pub revoked: bool,
}

/// Who made a request and how.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: AgentId,
    pub role: Role,
    pub name: String,
    /// The session's CSRF token (pages embed it), `None` for API tokens.
    pub csrf: Option<String>,
    /// The token's scopes, `None` for sessions.
    pub scopes: Option<Vec<Scope>>,
    /// The user's password is one-time (the caller may only replace it).
    pub must_change_password: bool,
}

impl Caller {
    /// Refuses unless the caller has one of `roles` (sessions) or the
    /// `Admin` scope, or `scope` (tokens).
    pub fn require(&self, roles: &[Role], scope: Scope) -> Result<(), WebError> {
        match &self.scopes {
            None if roles.contains(&self.role) => Ok(()),
            None => {
                Err(WebError::Forbidden(format!("role {} may not do this", self.role.as_str())))
            }
            Some(scopes) if scopes.contains(&scope) || scopes.contains(&Scope::Admin) => Ok(()),
            Some(_) => Err(WebError::Forbidden("the token lacks the scope for this".into())),
        }
    }

    /// Refuses unless the caller is a person logged in with a session.
    pub fn require_session(&self, roles: &[Role]) -> Result<(), WebError> {
        if self.scopes.is_some() {
            return Err(WebError::Forbidden("this needs a logged-in user".into()));
        }
        self.require(roles, Scope::Admin)
    }

    /// Whether the caller may see the data of `campaign`: agents only see
    /// the campaigns they are assigned to.
    pub async fn may_see(&self, state: &AppState, campaign: CampaignId) -> Result<(), WebError> {
        if self.role != Role::Agent || self.scopes.is_some() {
            return Ok(());
        }
        if state.accounts.campaigns_of(self.user).await?.contains(&campaign) {
            Ok(())
        } else {
            Err(WebError::Forbidden(format!("{campaign} is not one of your campaigns")))
        }
    }
}

/// Sessions in memory and the failed-login ledger.
#[derive(Default)]
pub struct SessionTable {
    /// Session id → session. A plain mutex: every use is a short lookup.
    sessions: Mutex<HashMap<String, Session>>,
    /// (login, address) → (failures in a row, earliest next try).
    failures: Mutex<HashMap<(String, IpAddr), (u32, Instant)>>,
}

impl SessionTable {
    /// Opens a session under the user's current `epoch`; returns its id.
    pub fn open(&self, user: AgentId, login: &str, name: &str, role: Role, epoch: i64) -> String {
        let id = random_token(32);
        let session = Session {
            user,
            login: login.to_string(),
            name: name.to_string(),
            role,
            csrf: random_token(24),
            epoch,
            last_used: Instant::now(),
        };
        let mut map = self.sessions.lock().expect("no session-table user panics while holding it");
        map.retain(|_, s| s.last_used.elapsed() < SESSION_IDLE);
        map.insert(id.clone(), session);
        id
    }

    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.sessions.lock().expect("no session-table user panics while holding it");
        let session = map.get_mut(id)?;
        if session.last_used.elapsed() >= SESSION_IDLE {
            map.remove(id);
            return None;
        }
        session.last_used = Instant::now();
        Some(session.clone())
    }

    pub fn close(&self, id: &str) {
        self.sessions.lock().expect("no session-table user panics while holding it").remove(id);
    }

    /// Ends every session of a user (password change, deactivation). The
    /// store's epoch ends them on every node; this frees the memory now.
    pub fn close_user(&self, user: AgentId) {
        self.close_user_except(user, None);
    }

    /// Ends every session of a user but `keep`, which goes on under
    /// `epoch` (the user set a new password in it).
    pub fn close_user_except(&self, user: AgentId, keep: Option<(&str, i64)>) {
        let mut map = self.sessions.lock().expect("no session-table user panics while holding it");
        map.retain(|id, s| s.user != user || keep.is_some_and(|(k, _)| k == id));
        if let Some((id, epoch)) = keep
            && let Some(session) = map.get_mut(id)
        {
            session.epoch = epoch;
        }
    }

    /// Seconds the caller must still wait before trying this login again.
    pub fn wait_before_try(&self, login: &str, ip: IpAddr) -> Option<u64> {
        let map = self.failures.lock().expect("no failure-ledger user panics while holding it");
        let (_, next) = map.get(&(login.to_string(), ip))?;
        let now = Instant::now();
        (*next > now).then(|| (*next - now).as_secs().max(1))
    }

    /// Counts a wrong password; from the fifth in a row on, the next try
    /// is delayed 1, 2, 4, ... seconds (at most 15 minutes).
    pub fn failed(&self, login: &str, ip: IpAddr) {
        let mut map = self.failures.lock().expect("no failure-ledger user panics while holding it");
        let entry = map.entry((login.to_string(), ip)).or_insert((0, Instant::now()));
        entry.0 += 1;
        if entry.0 > FREE_FAILURES {
            let exp = (entry.0 - FREE_FAILURES - 1).min(10);
            let delay = Duration::from_secs(1u64 << exp).min(Duration::from_secs(900));
            entry.1 = Instant::now() + delay;
        }
    }

    pub fn succeeded(&self, login: &str, ip: IpAddr) {
        self.failures
            .lock()
            .expect("no failure-ledger user panics while holding it")
            .remove(&(login.to_string(), ip));
    }
}

/// A random URL-safe token of `bytes` random bytes, hex encoded.
pub fn random_token(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

/// The argon2 hash of a password, in PHC string form.
pub fn hash_password(password: &str) -> Result<String, WebError> {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| WebError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| WebError::Internal(format!("password hash: {e}")))
}

/// Whether `password` matches the stored PHC `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// The hex SHA-256 of an API token.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session id in the request's cookies.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|cookies| {
        cookies.split(';').find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then(|| value.to_string())
        })
    })
}

/// The `Set-Cookie` value of a session.
pub fn session_cookie(id: &str) -> String {
    format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        // Nested routers see a shortened path; the original one tells API
        // calls (answered 401) from pages (sent to the login form).
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.path().to_string(), |u| u.path().to_string());
        let is_api = path.starts_with("/api/") || path == "/metrics";
        let missing = if is_api { WebError::Unauthorized } else { WebError::LoginRequired };

        // An API token in the Authorization header.
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let text = auth.to_str().map_err(|_| WebError::Unauthorized)?;
            let token = text.strip_prefix("Bearer ").ok_or(WebError::Unauthorized)?;
            let record = state.accounts.token(token.trim()).await?.ok_or(WebError::Unauthorized)?;
            // A token acts for the administrator who made it: it ends when
            // that user is disabled or is no longer an administrator.
            let maker = state.store.user_auth(record.created_by).await?;
            if !maker.is_some_and(|m| m.active && m.role == Role::Admin.as_str()) {
                return Err(WebError::Unauthorized);
            }
            return Ok(Caller {
                user: record.created_by,
                role: Role::Admin,
                name: format!("token {}", record.name),
                csrf: None,
                scopes: Some(record.scopes),
                must_change_password: false,
            });
        }

        // A session cookie, with its CSRF token on every state change.
        let id = session_id(&parts.headers).ok_or(missing)?;
        let session = state.sessions.get(&id).ok_or(if is_api {
            WebError::Unauthorized
        } else {
            WebError::LoginRequired
        })?;

        // The user as stored now: a session opened before the user was
        // disabled, changed role or had the password changed has ended.
        let user = state.store.user_auth(session.user).await?;
        let Some(user) = user.filter(|u| u.active && u.epoch == session.epoch) else {
            state.sessions.close(&id);
            return Err(if is_api { WebError::Unauthorized } else { WebError::LoginRequired });
        };
        let role = Role::parse(&user.role)?;

        if is_state_changing(&parts.method) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| parts.extensions.get::<FormCsrf>().map(|f| f.0.clone()));
            if sent.as_deref() != Some(session.csrf.as_str()) {
                return Err(WebError::Csrf);
            }
        }
        if user.must_change_password && !allowed_before_password_change(&path, session.user) {
            return Err(WebError::PasswordChange { page: !is_api });
        }
        Ok(Caller {
            user: session.user,
            role,
            name: session.name.clone(),
            csrf: Some(session.csrf.clone()),
            scopes: None,
            must_change_password: user.must_change_password,
        })
    }
}

/// What a user whose password is one-time may reach: the password change
/// (page and API), logging out and `GET /api/v1/me`.
fn allowed_before_password_change(path: &str, user: AgentId) -> bool {
    let own = format!("/api/v1/users/{}/password", user.0);
    matches!(
        path,
        "/password" | "/logout" | "/api/v1/logout" | "/api/v1/me" | "/api/v1/me/password"
    ) || path == own
}

/// The CSRF token a plain HTML form sent in its hidden `csrf` field, put
/// in the request's extensions by [`form_csrf`].
#[derive(Clone, Debug)]
pub struct FormCsrf(pub String);

/// The largest form body [`form_csrf`] reads to find the token.
const FORM_LIMIT: usize = 64 * 1024 * 1024;

/// Middleware of the pages' routes: finds the `csrf` field of a posted
/// HTML form (URL-encoded or multipart) and hands it to the [`Caller`]
/// extractor as [`FormCsrf`], so that the token travels in the form's
/// body, never in its URL (where it would land in the address bar, the
/// history and logs). The body is read once and given back to the handler
/// unchanged.
pub async fn form_csrf(request: Request, next: Next) -> Response {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let multipart = content_type.starts_with("multipart/form-data");
    let urlencoded = content_type.starts_with("application/x-www-form-urlencoded");
    if !is_state_changing(request.method())
        || request.headers().contains_key(CSRF_HEADER)
        || !(multipart || urlencoded)
    {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, FORM_LIMIT).await else {
        let why = "the form is too large or was cut off".to_string();
        return WebError::BadRequest(why).into_response();
    };
    let token = form_field(&content_type, bytes.clone(), multipart, "csrf").await;
    let mut request = Request::from_parts(parts, Body::from(bytes));
    if let Some(token) = token {
        request.extensions_mut().insert(FormCsrf(token));
    }
    next.run(request).await
}

/// The first text field `name` of a URL-encoded or multipart form held
/// in `bytes`.
async fn form_field(
    content_type: &str,
    bytes: Bytes,
    multipart: bool,
    name: &str,
) -> Option<String> {
    let request = Request::builder()
        .method(Method::POST)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(bytes))
        .ok()?;
    if !multipart {
        let axum::Form(pairs) =
            axum::Form::<Vec<(String, String)>>::from_request(request, &()).await.ok()?;
        return pairs.into_iter().find_map(|(k, v)| (k == name).then_some(v));
    }
    let mut form = Multipart::from_request(request, &()).await.ok()?;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

/// Accounts data kept in the store's configuration table: API tokens and
/// the campaigns each user is assigned to.
pub struct Accounts {
    store: ringa_store::Store,
    /// Serialises read-modify-write of the two configuration documents.
    write: tokio::sync::Mutex<()>,
    /// The tokens as last read, and when: every API call checks a token,
    /// so they are read from the store at most every few seconds (a token
    /// revoked on another node stops working within that time). A plain
    /// mutex: it is held only to clone or replace the list.
    token_cache: Mutex<Option<(Instant, Vec<TokenRecord>)>>,
}

/// How long the token list is trusted before it is read again.
const TOKEN_CACHE: Duration = Duration::from_secs(5);

const TOKENS_KEY: &str = "web.api_tokens";
const ASSIGN_KEY: &str = "web.user_campaigns";

impl Accounts {
    pub fn new(store: ringa_store::Store) -> Accounts {
        Accounts { store, write: tokio::sync::Mutex::new(()), token_cache: Mutex::new(None) }
    }

    async fn load<T: serde::de::DeserializeOwned + Default>(
        &self,
        key: &str,
    ) -> Result<T, WebError> {
        match self.store.config_get(key).await? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| WebError::Internal(format!("stored {key}: {e}"))),
            None => Ok(T::default()),
        }
    }

    async fn save<T: Serialize>(&self, key: &str, value: &T) -> Result<(), WebError> {
        let text = serde_json::to_string(value).map_err(|e| WebError::Internal(e.to_string()))?;
        self.store.config_set(key, &text).await?;
        Ok(())
    }

    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, WebError> {
        {
            let cache = self.token_cache.lock().expect("no token-cache user panics holding it");
            if let Some((at, tokens)) = cache.as_ref()
                && at.elapsed() < TOKEN_CACHE
            {
                return Ok(tokens.clone());
            }
        }
        let tokens: Vec<TokenRecord> = self.load(TOKENS_KEY).await?;
        self.remember(&tokens);
        Ok(tokens)
    }

    fn remember(&self, tokens: &[TokenRecord]) {
        *self.token_cache.lock().expect("no token-cache user panics holding it") =
            Some((Instant::now(), tokens.to_vec()));
    }

    /// Creates a token; returns its record and the secret shown once.
    pub async fn create_token(
        &self,
        name: &str,
        scopes: Vec<Scope>,
        by: AgentId,
    ) -> Result<(TokenRecord, String), WebError> {
        let _guard = self.write.lock().await;
        let mut tokens: Vec<TokenRecord> = self.load(TOKENS_KEY).await?;
        let id = tokens.iter().map(|t| t.id).max().unwrap_or(0) + 1;
        let secret = format!("rga_{id}_{}", random_token(24));
        let record = TokenRecord {
            id,
            name: name.to_string(),
            scopes,
            hash: token_hash(&secret),
            created_by: by,
            created_at: jiff::Timestamp::now(),
            revoked: false,
        };
        tokens.push(record.clone());
        self.save(TOKENS_KEY, &tokens).await?;
        self.remember(&tokens);
        Ok((record, secret))
    }

    pub async fn revoke_token(&self, id: u64) -> Result<(), WebError> {
        let _guard = self.write.lock().await;
        let mut tokens: Vec<TokenRecord> = self.load(TOKENS_KEY).await?;
        let token = tokens
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| WebError::NotFound(format!("token {id}")))?;
        token.revoked = true;
        self.save(TOKENS_KEY, &tokens).await?;
        self.remember(&tokens);
        Ok(())
    }

    /// The live token matching `secret`.
    pub async fn token(&self, secret: &str) -> Result<Option<TokenRecord>, WebError> {
        let hash = token_hash(secret);
        Ok(self.tokens().await?.into_iter().find(|t| !t.revoked && t.hash == hash))
    }

    /// Revokes every live token made by `user` (the user was disabled);
    /// returns how many.
    pub async fn revoke_tokens_of(&self, user: AgentId) -> Result<usize, WebError> {
        let _guard = self.write.lock().await;
        let mut tokens: Vec<TokenRecord> = self.load(TOKENS_KEY).await?;
        let mut revoked = 0;
        for token in tokens.iter_mut().filter(|t| t.created_by == user && !t.revoked) {
            token.revoked = true;
            revoked += 1;
        }
        if revoked > 0 {
            self.save(TOKENS_KEY, &tokens).await?;
        }
        self.remember(&tokens);
        Ok(revoked)
    }

    pub async fn campaigns_of(&self, user: AgentId) -> Result<Vec<CampaignId>, WebError> {
        let map: HashMap<u64, Vec<CampaignId>> = self.load(ASSIGN_KEY).await?;
        Ok(map.get(&user.0).cloned().unwrap_or_default())
    }

    pub async fn assign(&self, user: AgentId, campaigns: Vec<CampaignId>) -> Result<(), WebError> {
        let _guard = self.write.lock().await;
        let mut map: HashMap<u64, Vec<CampaignId>> = self.load(ASSIGN_KEY).await?;
        map.insert(user.0, campaigns);
        self.save(ASSIGN_KEY, &map).await
    }
}
