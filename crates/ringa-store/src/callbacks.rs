//! Callbacks: global and personal, due at a wall-clock time in the
//! customer's zone (kept across daylight-saving changes), with a window for
//! retries and escalation to supervisors when the window passes.

use jiff::civil::DateTime;
use jiff::{SignedDuration, Timestamp};
use ringa_core::{AgentId, CallbackId, CampaignId, ContactId, ZoneName};

use crate::db::{RowExt, on_db};
use crate::time::{ms, opt_ts, ts};
use crate::{Store, StoreError};

/// A callback to schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackRequest {
    pub campaign: CampaignId,
    pub contact: ContactId,
    /// A personal callback's agent; `None` for a global callback.
    pub owner: Option<AgentId>,
    /// The wall-clock time agreed with the customer, in `zone`.
    pub local: DateTime,
    pub zone: ZoneName,
    /// How early the dialer may place it ("around 15:00").
    pub window_before: SignedDuration,
    /// How late it may still be retried before a supervisor must act.
    pub window_after: SignedDuration,
    pub note: Option<String>,
}

impl CallbackRequest {
    /// The instant the callback is due.
    pub fn due_at(&self) -> Result<Timestamp, StoreError> {
        self.local
            .to_zoned_datetime(self.zone.tz())
            .map(|z| z.timestamp())
            .map_err(|err| StoreError::Invalid(format!("callback time: {err}")))
    }
}

/// Where a callback stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackState {
    Pending,
    Done,
    Cancelled,
    /// Its window passed without a successful call: a supervisor must act.
    Escalated,
}

impl CallbackState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CallbackState::Pending => "pending",
            CallbackState::Done => "done",
            CallbackState::Cancelled => "cancelled",
            CallbackState::Escalated => "escalated",
        }
    }

    fn parse(text: &str) -> Result<CallbackState, StoreError> {
        Ok(match text {
            "pending" => CallbackState::Pending,
            "done" => CallbackState::Done,
            "cancelled" => CallbackState::Cancelled,
            "escalated" => CallbackState::Escalated,
            other => return Err(StoreError::Corrupt(format!("callback state {other:?}"))),
        })
    }
}

/// A callback as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackRow {
    pub id: CallbackId,
    pub campaign: CampaignId,
    pub contact: ContactId,
    pub owner: Option<AgentId>,
    pub due_at: Timestamp,
    pub zone: ZoneName,
    pub local: DateTime,
    pub window_before: SignedDuration,
    pub window_after: SignedDuration,
    /// When the dialer places it next (the due time, or a retry).
    pub dial_at: Timestamp,
    /// When a personal callback is offered to the campaign's other agents.
    pub offer_all_at: Option<Timestamp>,
    pub state: CallbackState,
    /// Failed tries so far (trunk refusals and the like).
    pub tries: u32,
    pub cancel_reason: Option<String>,
    pub note: Option<String>,
}

/// What happens after a callback's call failed before reaching anyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackFate {
    /// Tried again at this instant, still inside the window.
    Retry { at: Timestamp },
    /// The window is used up: it waits for a supervisor.
    Escalated,
}

pub(crate) const CALLBACK_COLUMNS: &str = "id, campaign_id, contact_id, owner_agent, due_at, zone, \
     local_time, window_before_ms, window_after_ms, dial_at, offer_all_at, state, tries, \
     cancel_reason, note";

pub(crate) fn callback_from(r: &impl RowExt) -> Result<CallbackRow, StoreError> {
    let zone = r.text("zone")?;
    let local = r.text("local_time")?;
    Ok(CallbackRow {
        id: CallbackId(r.int("id")? as u64),
        campaign: CampaignId(r.int("campaign_id")? as u64),
        contact: ContactId(r.int("contact_id")? as u64),
        owner: r.opt_int("owner_agent")?.map(|a| AgentId(a as u64)),
        due_at: ts(r.int("due_at")?)?,
        zone: ZoneName::parse(&zone).map_err(|err| StoreError::Corrupt(err.to_string()))?,
        local: local
            .parse()
            .map_err(|err| StoreError::Corrupt(format!("callback local time {local:?}: {err}")))?,
        window_before: SignedDuration::from_millis(r.int("window_before_ms")?),
        window_after: SignedDuration::from_millis(r.int("window_after_ms")?),
        dial_at: ts(r.int("dial_at")?)?,
        offer_all_at: opt_ts(r.opt_int("offer_all_at")?)?,
        state: CallbackState::parse(&r.text("state")?)?,
        tries: r.int("tries")?.max(0) as u32,
        cancel_reason: r.opt_text("cancel_reason")?,
        note: r.opt_text("note")?,
    })
}

/// The fate of a failed callback try at `now`, retrying after `retry_in`.
pub(crate) fn fate_after_failure(
    row: &CallbackRow,
    now: Timestamp,
    retry_in: SignedDuration,
) -> CallbackFate {
    let deadline = row.due_at + row.window_after;
    let at = now + retry_in;
    if at <= deadline { CallbackFate::Retry { at } } else { CallbackFate::Escalated }
}

impl Store {
    /// Schedules a callback. A contact has at most one pending callback: an
    /// existing one is moved to the new time (and owner) and keeps its id.
    pub async fn schedule_callback(
        &self,
        req: &CallbackRequest,
        now: Timestamp,
    ) -> Result<CallbackId, StoreError> {
        let campaign = self.campaign(req.campaign).await?;
        if req.owner.is_some() && !campaign.personal_callbacks {
            return Err(StoreError::Invalid(format!(
                "personal callbacks are disabled in campaign {}",
                campaign.name
            )));
        }
        let due = req.due_at()?;
        let dial_at = due - req.window_before.abs();
        let offer_all_at = req.owner.map(|_| ms(due + campaign.callback_offer_delay));
        let local = req.local.to_string();
        let id: i64 = on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let moved: Option<i64> = sqlx::query_scalar(
                "UPDATE callbacks SET owner_agent = $1, due_at = $2, zone = $3, local_time = $4, \
                 window_before_ms = $5, window_after_ms = $6, dial_at = $7, offer_all_at = $8, \
                 note = $9, tries = 0, updated_at = $10 \
                 WHERE contact_id = $11 AND state = 'pending' RETURNING id",
            )
            .bind(req.owner.map(|a| a.0 as i64))
            .bind(ms(due))
            .bind(req.zone.as_str())
            .bind(&local)
            .bind(req.window_before.as_millis() as i64)
            .bind(req.window_after.as_millis() as i64)
            .bind(ms(dial_at))
            .bind(offer_all_at)
            .bind(req.note.as_deref())
            .bind(ms(now))
            .bind(req.contact.0 as i64)
            .fetch_optional(&mut *tx)
            .await?;
            let id = match moved {
                Some(id) => id,
                None => {
                    sqlx::query_scalar(
                        "INSERT INTO callbacks (campaign_id, contact_id, owner_agent, due_at, \
                         zone, local_time, window_before_ms, window_after_ms, dial_at, \
                         offer_all_at, state, note, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $12, \
                         $12) RETURNING id",
                    )
                    .bind(req.campaign.0 as i64)
                    .bind(req.contact.0 as i64)
                    .bind(req.owner.map(|a| a.0 as i64))
                    .bind(ms(due))
                    .bind(req.zone.as_str())
                    .bind(&local)
                    .bind(req.window_before.as_millis() as i64)
                    .bind(req.window_after.as_millis() as i64)
                    .bind(ms(dial_at))
                    .bind(offer_all_at)
                    .bind(req.note.as_deref())
                    .bind(ms(now))
                    .fetch_one(&mut *tx)
                    .await?
                }
            };
            // A contact waiting for its callback is not dialed from its list.
            sqlx::query(
                "UPDATE contacts SET state = 4, version = version + 1 \
                 WHERE id = $1 AND state IN (0, 2)",
            )
            .bind(req.contact.0 as i64)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            id
        });
        Ok(CallbackId(id as u64))
    }

    /// Cancels a pending callback with a reason shown to users.
    pub async fn cancel_callback(
        &self,
        id: CallbackId,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let contact: Option<i64> = sqlx::query_scalar(
                "UPDATE callbacks SET state = 'cancelled', cancel_reason = $1, updated_at = $2 \
                 WHERE id = $3 AND state IN ('pending', 'escalated') RETURNING contact_id",
            )
            .bind(reason)
            .bind(ms(now))
            .bind(id.0 as i64)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(contact) = contact {
                sqlx::query(
                    "UPDATE contacts SET state = 0, next_at = $1, version = version + 1 \
                     WHERE id = $2 AND state = 4",
                )
                .bind(ms(now))
                .bind(contact)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            contact.is_some()
        });
        Ok(done)
    }

    /// One callback.
    pub async fn callback(&self, id: CallbackId) -> Result<CallbackRow, StoreError> {
        let sql = format!("SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE id = $1");
        let row = on_db!(self, pool => {
            let row = sqlx::query(&sql).bind(id.0 as i64).fetch_optional(pool).await?;
            row.map(|r| callback_from(&r)).transpose()?
        });
        row.ok_or_else(|| StoreError::NotFound(format!("{id}")))
    }

    /// Every callback of a contact, oldest first.
    pub async fn callbacks_of_contact(
        &self,
        contact: ContactId,
    ) -> Result<Vec<CallbackRow>, StoreError> {
        let sql =
            format!("SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE contact_id = $1 ORDER BY id");
        on_db!(self, pool => {
            let rows = sqlx::query(&sql).bind(contact.0 as i64).fetch_all(pool).await?;
            rows.iter().map(callback_from).collect()
        })
    }

    /// A campaign's callbacks in one state, by due time.
    pub async fn callbacks_in_state(
        &self,
        campaign: CampaignId,
        state: CallbackState,
    ) -> Result<Vec<CallbackRow>, StoreError> {
        let sql = format!(
            "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE campaign_id = $1 AND state = $2 \
             ORDER BY due_at, id"
        );
        on_db!(self, pool => {
            let rows = sqlx::query(&sql)
                .bind(campaign.0 as i64)
                .bind(state.as_str())
                .fetch_all(pool)
                .await?;
            rows.iter().map(callback_from).collect()
        })
    }

    /// An agent's pending personal callbacks, by due time.
    pub async fn personal_callbacks(&self, agent: AgentId) -> Result<Vec<CallbackRow>, StoreError> {
        let sql = format!(
            "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE owner_agent = $1 \
             AND state = 'pending' ORDER BY due_at, id"
        );
        on_db!(self, pool => {
            let rows = sqlx::query(&sql).bind(agent.0 as i64).fetch_all(pool).await?;
            rows.iter().map(callback_from).collect()
        })
    }

    /// Records that a callback's call failed before reaching anyone (a
    /// trunk refusal, congestion): it is retried after `retry_in` while its
    /// window lasts, then escalated. Never dropped.
    pub async fn callback_try_failed(
        &self,
        id: CallbackId,
        now: Timestamp,
        retry_in: SignedDuration,
    ) -> Result<CallbackFate, StoreError> {
        let row = self.callback(id).await?;
        if row.state != CallbackState::Pending {
            return Err(StoreError::Conflict(format!("{id} is not pending")));
        }
        let fate = fate_after_failure(&row, now, retry_in);
        let (state, dial_at) = match fate {
            CallbackFate::Retry { at } => ("pending", ms(at)),
            CallbackFate::Escalated => ("escalated", ms(row.dial_at)),
        };
        on_db!(self, pool => {
            sqlx::query(
                "UPDATE callbacks SET state = $1, dial_at = $2, tries = tries + 1, \
                 updated_at = $3 WHERE id = $4 AND state = 'pending'",
            )
            .bind(state)
            .bind(dial_at)
            .bind(ms(now))
            .bind(id.0 as i64)
            .execute(pool)
            .await?;
        });
        Ok(fate)
    }
}
