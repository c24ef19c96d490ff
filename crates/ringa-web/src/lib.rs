//! The web product of ringa: the HTTP API under `/api/v1`, accounts and
//! security, live events over server-sent events, the agent desktop
//! (`/agent`), the supervisor wall (`/wall`) and administration (`/admin`).
//!
//! [`run`] serves on a listener the caller bound, until `shutdown`
//! completes. [`AppState::open`] opens the store and starts the floor
//! runtime: the task that owns the engine on the wall clock (see
//! [`floor`]). Nothing below this crate knows HTTP.

pub mod api;
pub mod auth;
pub mod error;
pub mod events;
pub mod floor;
pub mod intake;
pub mod journal;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod world;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use ringa_store::Store;
use tower_http::trace::TraceLayer;
use tracing::info;

use crate::auth::{Accounts, SessionTable};
use crate::floor::{Floor, FloorConfig, LiveConfig};
use crate::intake::Intake;
use crate::metrics::Metrics;

pub use crate::error::WebError;
pub use crate::world::WorldProfile;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub floor: Floor,
    pub sessions: Arc<SessionTable>,
    pub accounts: Arc<Accounts>,
    pub metrics: Arc<Metrics>,
    /// Lead intake: stores leads in groups and hands them to the floor.
    pub intake: Arc<Intake>,
}

/// What [`AppState::open`] reports for the first start.
#[derive(Clone, Debug)]
pub struct FirstStart {
    /// The administrator created on an empty database and its one-time
    /// password, when the database had no users. The first login with it
    /// may only set a new password; then it stops working.
    pub admin: Option<(String, String)>,
}

impl AppState {
    /// Opens the store, creates the first administrator on an empty
    /// database and starts the floor.
    pub async fn open(
        store: Store,
        config: FloorConfig,
    ) -> Result<(AppState, FirstStart), WebError> {
        AppState::open_live(store, config, None).await
    }

    /// As [`AppState::open`], with the floor's calls placed through a SIP
    /// trunk when `live` is given.
    pub async fn open_live(
        store: Store,
        config: FloorConfig,
        live: Option<LiveConfig>,
    ) -> Result<(AppState, FirstStart), WebError> {
        let mut first = FirstStart { admin: None };
        let accounts = Arc::new(Accounts::new(store.clone()));
        if store.users().await?.is_empty() {
            let password = auth::random_token(9);
            let hash = auth::hash_password(&password)?;
            let now = jiff::Timestamp::now();
            let admin =
                store.create_user("admin", "Administrator", "admin", Some(&hash), now).await?;
            // One-time: the first login may only set a new password.
            store.set_must_change_password(admin, true).await?;
            first.admin = Some(("admin".to_string(), password));
        }
        let worker = config.worker.clone();
        let floor = Floor::start(store.clone(), config, live).await?;
        let intake = Arc::new(Intake::start(store.clone(), floor.clone(), worker));
        let state = AppState {
            accounts,
            store,
            floor,
            sessions: Arc::new(SessionTable::default()),
            metrics: Arc::new(Metrics::default()),
            intake,
        };
        Ok((state, first))
    }
}

/// The whole application's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(pages::routes())
        .nest("/api/v1", api::routes())
        .merge(events::routes())
        .merge(metrics::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::count))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}

/// Serves the application on `listener` until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    info!(%addr, "serving");
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    info!("stopped serving");
    Ok(())
}

/// Completes when the process is asked to stop (Ctrl-C / SIGINT).
pub async fn interrupted() {
    if let Err(err) = tokio::signal::ctrl_c().await {
        tracing::warn!(error = %err, "cannot listen for Ctrl-C; serving until killed");
        std::future::pending::<()>().await;
    }
}
