//! Live updates over server-sent events: the wall's stream carries the
//! whole floor snapshot, an agent's stream carries only that agent's view.
//! Both push within a fraction of a second of a change (at most four
//! messages a second).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use futures_util::stream;
use serde_json::json;
use tokio::sync::watch;

use crate::AppState;
use crate::auth::{Caller, Scope};
use crate::error::WebError;
use crate::floor::Snapshot;

const MIN_GAP: Duration = Duration::from_millis(250);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events/wall", get(wall_events))
        .route("/api/v1/events/agent", get(agent_events))
}

/// A stream of `render(snapshot)` on every change that changes the text.
fn changes(
    rx: watch::Receiver<Arc<Snapshot>>,
    render: impl Fn(&Snapshot) -> String + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((rx, render, None::<String>, true), |(mut rx, render, last, first)| async move {
        loop {
            if !first {
                tokio::time::sleep(MIN_GAP).await;
                if rx.changed().await.is_err() {
                    return None;
                }
            }
            let text = render(&rx.borrow_and_update());
            if last.as_deref() != Some(text.as_str()) {
                let event = Event::default().event("snapshot").data(text.clone());
                return Some((Ok(event), (rx, render, Some(text), false)));
            }
            if first {
                // Nothing sent yet and nothing new: wait for a change.
                return Some((Ok(Event::default().comment("start")), (rx, render, last, false)));
            }
        }
    })
}

async fn wall_events(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    caller.require(crate::auth::STAFF, Scope::Read)?;
    let render = |snap: &Snapshot| {
        let mut value = serde_json::to_value(snap).unwrap_or_default();
        if let Some(obj) = value.as_object_mut() {
            // The version changes on every loop; leave it out so that an
            // unchanged floor sends nothing.
            obj.remove("version");
            obj.remove("at");
        }
        value.to_string()
    };
    Ok(Sse::new(changes(state.floor.watch(), render)).keep_alive(KeepAlive::default()))
}

async fn agent_events(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    caller.require_session(crate::auth::ANYONE)?;
    let me = caller.user;
    let render = move |snap: &Snapshot| json!({ "agent": snap.agent(me) }).to_string();
    Ok(Sse::new(changes(state.floor.watch(), render)).keep_alive(KeepAlive::default()))
}
