//! Dialing state: choosing and claiming the next contact, journaling each
//! attempt when it starts and when it ends, and recovering after a crash.
//!
//! A claim is one compare-and-set on the contact's state and version (with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL), so two workers never hold the same
//! contact; a partial unique index allows one open attempt per contact and a
//! unique (contact, claim version) pair one attempt per claim.

use std::collections::HashMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use ringa_core::zone::single_zone_of;
use ringa_core::{
    AgentId, AttemptId, CallResult, CallbackId, CampaignId, ContactId, ListId, PhoneNumber, Pii,
};

use crate::callbacks::{
    CALLBACK_COLUMNS, CallbackFate, CallbackRequest, callback_from, fate_after_failure,
};
use crate::campaigns::{NewOrder, insert_order};
use crate::db::{Db, RowExt, is_retryable, on_db};
use crate::dnc::DNC_CANCEL_REASON;
use crate::time::{ms, opt_ts, ts};
use crate::{Store, StoreError};

pub(crate) const READY: i64 = 0;
pub(crate) const CLAIMED: i64 = 1;
pub(crate) const DONE: i64 = 2;
pub(crate) const BLOCKED: i64 = 3;
pub(crate) const WAITING_CALLBACK: i64 = 4;

/// The last outcome kept on a contact whose dial a do-not-call entry stopped.
pub(crate) const SUPPRESSED_DNC: &str = "suppressed: do-not-call";

/// One number of a stored contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredNumber {
    pub number: PhoneNumber,
    pub label: String,
    pub raw: String,
}

/// Why a contact was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimSource {
    /// A callback came due.
    Callback(CallbackId),
    /// A lead from intake.
    Lead,
    /// The list mix.
    List(ListId),
    /// Asked for by id (preview, a personal callback the agent opened).
    Direct,
}

/// A contact held by one worker for dialing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub contact: ContactId,
    pub campaign: CampaignId,
    pub list: ListId,
    /// The contact's version after the claim; attempts are bound to it.
    pub version: i64,
    pub worker: String,
    pub source: ClaimSource,
    pub numbers: Vec<StoredNumber>,
    /// Attempts made before this claim.
    pub attempts: u32,
    /// Never dialed before.
    pub fresh: bool,
}

/// The start of an attempt, journaled before the call is placed.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptStart {
    pub number: PhoneNumber,
    pub caller_id: Option<String>,
    pub agent: Option<AgentId>,
    /// The answering-machine detection settings in force.
    pub amd: serde_json::Value,
}

/// What happens to the contact after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Dialable again from this instant.
    Retry { at: Timestamp },
    /// Finished: not dialed again (until a list reset).
    Close,
    /// A callback at an agreed time.
    Callback(CallbackRequest),
    /// Never dialed again (inactive, do-not-call).
    Block,
}

/// The end of an attempt, journaled when the call is over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptEnd {
    pub result: CallResult,
    pub sip_code: Option<u16>,
    /// The outcome code set by the agent or the dialer.
    pub outcome: Option<String>,
    pub agent: Option<AgentId>,
    pub answered_at: Option<Timestamp>,
    pub next: NextStep,
}

/// An attempt as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptRow {
    pub id: AttemptId,
    pub contact: ContactId,
    pub campaign: CampaignId,
    pub list: ListId,
    pub attempt_no: u32,
    pub claim_version: i64,
    pub callback: Option<CallbackId>,
    pub number: String,
    pub caller_id: Option<String>,
    pub agent: Option<AgentId>,
    pub worker: String,
    pub amd: serde_json::Value,
    pub open: bool,
    pub started_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub sip_code: Option<u16>,
    pub result: Option<String>,
    pub outcome: Option<String>,
}

/// What [`Store::recover`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Attempts that were in flight, now closed as interrupted.
    pub interrupted: Vec<AttemptId>,
    /// Claims released.
    pub released: u64,
}

/// What closing an attempt did besides closing it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinishReport {
    /// The order made by a sale outcome.
    pub order: Option<i64>,
    /// The do-not-call list the number was written to.
    pub dnc_list: Option<ringa_core::DncListId>,
    pub callbacks_cancelled: u64,
    pub callback: Option<CallbackId>,
    /// What happened to the callback this attempt was made for.
    pub callback_fate: Option<CallbackFate>,
}

const ATTEMPT_COLUMNS: &str = "id, contact_id, campaign_id, list_id, attempt_no, claim_version, \
     callback_id, number, caller_id, agent_id, worker, amd, state, started_at, answered_at, \
     ended_at, sip_code, result, outcome";

fn attempt_from(r: &impl RowExt) -> Result<AttemptRow, StoreError> {
    let amd = r.text("amd")?;
    Ok(AttemptRow {
        id: AttemptId(r.int("id")? as u64),
        contact: ContactId(r.int("contact_id")? as u64),
        campaign: CampaignId(r.int("campaign_id")? as u64),
        list: ListId(r.int("list_id")? as u64),
        attempt_no: r.int("attempt_no")? as u32,
        claim_version: r.int("claim_version")?,
        callback: r.opt_int("callback_id")?.map(|c| CallbackId(c as u64)),
        number: r.text("number")?,
        caller_id: r.opt_text("caller_id")?,
        agent: r.opt_int("agent_id")?.map(|a| AgentId(a as u64)),
        worker: r.text("worker")?,
        amd: serde_json::from_str(&amd).map_err(|err| StoreError::Corrupt(err.to_string()))?,
        open: r.text("state")? == "open",
        started_at: ts(r.int("started_at")?)?,
        answered_at: opt_ts(r.opt_int("answered_at")?)?,
        ended_at: opt_ts(r.opt_int("ended_at")?)?,
        sip_code: r.opt_int("sip_code")?.map(|c| c as u16),
        result: r.opt_text("result")?,
        outcome: r.opt_text("outcome")?,
    })
}

/// A candidate row found by a selection query.
struct Candidate {
    contact: i64,
    version: i64,
    state: i64,
    list: i64,
    fresh: bool,
    attempts: i64,
    source: ClaimSource,
}

/// An enabled list with today's usage, for the mix.
struct MixEntry {
    id: i64,
    weight: i64,
    priority: i64,
    cap: Option<i64>,
    new_today: i64,
    dialed_today: i64,
}

impl Store {
    /// The next contact of `campaign` for `worker`, claimed: a due callback
    /// first, then intake leads, then the lists by priority and weight within
    /// each list's cap of new contacts a day. `None` when nothing is due.
    pub async fn next_contact(
        &self,
        campaign: CampaignId,
        worker: &str,
        now: Timestamp,
    ) -> Result<Option<Claim>, StoreError> {
        let day = self.campaign_day(campaign, now).await?;
        for _ in 0..20 {
            match self.try_next_contact(campaign, worker, &day, now).await {
                Ok(claim) => return Ok(claim),
                Err(StoreError::Database(err)) if is_retryable(&err) => {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
                Err(err) => return Err(err),
            }
        }
        Err(StoreError::Conflict("could not claim a contact: the database stayed busy".into()))
    }

    /// The contact [`Store::next_contact`] would claim now, without claiming
    /// it: the selection alone (for diagnostics and the benchmark).
    pub async fn peek_next_contact(
        &self,
        campaign: CampaignId,
        now: Timestamp,
    ) -> Result<Option<(ContactId, ClaimSource)>, StoreError> {
        let day = self.campaign_day(campaign, now).await?;
        let claim = self.select_contact(campaign, None, &day, now).await?;
        Ok(claim.map(|c| (c.contact, c.source)))
    }

    async fn try_next_contact(
        &self,
        campaign: CampaignId,
        worker: &str,
        day: &str,
        now: Timestamp,
    ) -> Result<Option<Claim>, StoreError> {
        self.select_contact(campaign, Some(worker), day, now).await
    }

    /// Selects the next contact and, with a worker, claims it.
    async fn select_contact(
        &self,
        campaign: CampaignId,
        worker: Option<&str>,
        day: &str,
        now: Timestamp,
    ) -> Result<Option<Claim>, StoreError> {
        let pg = matches!(self.db, Db::Postgres(_));
        let claiming = worker.is_some();
        let lock = if pg && claiming { " FOR UPDATE SKIP LOCKED" } else { "" };
        let lock_c = if pg && claiming { " FOR UPDATE OF c SKIP LOCKED" } else { "" };
        let c = campaign.0 as i64;
        let now_ms = ms(now);
        on_db!(self, pool => {
            // SQLite: take the write lock at the start so the reads below stay valid.
            let mut tx = if !pg && claiming {
                pool.begin_with("BEGIN IMMEDIATE").await?
            } else {
                pool.begin().await?
            };
            let mut candidates: Vec<Candidate> = Vec::new();
            let sql = format!(
                "SELECT cb.id AS cb_id, c.id, c.version, c.state, c.list_id, c.fresh, c.attempts \
                 FROM callbacks cb JOIN contacts c ON c.id = cb.contact_id \
                 WHERE cb.campaign_id = $1 AND cb.state = 'pending' AND cb.dial_at <= $2 \
                 AND c.state = 4 AND (cb.owner_agent IS NULL OR cb.offer_all_at <= $2) \
                 ORDER BY cb.dial_at LIMIT 4{lock_c}"
            );
            for r in sqlx::query(&sql).bind(c).bind(now_ms).fetch_all(&mut *tx).await? {
                candidates.push(Candidate {
                    contact: r.int("id")?,
                    version: r.int("version")?,
                    state: r.int("state")?,
                    list: r.int("list_id")?,
                    fresh: r.flag("fresh")?,
                    attempts: r.int("attempts")?,
                    source: ClaimSource::Callback(CallbackId(r.int("cb_id")? as u64)),
                });
            }
            if candidates.is_empty() {
                let sql = format!(
                    "SELECT id, version, state, list_id, fresh, attempts FROM contacts \
                     WHERE campaign_id = $1 AND lead = 1 AND state = 0 AND next_at <= $2 \
                     ORDER BY next_at LIMIT 4{lock}"
                );
                for r in sqlx::query(&sql).bind(c).bind(now_ms).fetch_all(&mut *tx).await? {
                    candidates.push(Candidate {
                        contact: r.int("id")?,
                        version: r.int("version")?,
                        state: r.int("state")?,
                        list: r.int("list_id")?,
                        fresh: r.flag("fresh")?,
                        attempts: r.int("attempts")?,
                        source: ClaimSource::Lead,
                    });
                }
            }
            if candidates.is_empty() {
                let rows = sqlx::query(
                    "SELECT l.id, l.weight, l.priority, l.new_per_day, \
                     COALESCE(u.new_dialed, 0) AS new_today, COALESCE(u.dialed, 0) AS dialed_today \
                     FROM lists l LEFT JOIN list_day_usage u ON u.list_id = l.id AND u.day = $2 \
                     WHERE l.campaign_id = $1 AND l.enabled = 1",
                )
                .bind(c)
                .bind(day)
                .fetch_all(&mut *tx)
                .await?;
                let mut mix = rows
                    .iter()
                    .map(|r| {
                        Ok(MixEntry {
                            id: r.int("id")?,
                            weight: r.int("weight")?.max(1),
                            priority: r.int("priority")?,
                            cap: r.opt_int("new_per_day")?,
                            new_today: r.int("new_today")?,
                            dialed_today: r.int("dialed_today")?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                // Highest priority first; within a priority, the list furthest
                // below its weighted share of today's dials.
                mix.sort_by(|a, b| {
                    b.priority.cmp(&a.priority).then_with(|| {
                        ((a.dialed_today + 1) * b.weight).cmp(&((b.dialed_today + 1) * a.weight))
                    })
                });
                let pick = "SELECT id, version, state, list_id, fresh, attempts, next_at \
                     FROM contacts WHERE list_id = $1 AND state = 0 AND fresh = $2 \
                     AND next_at <= $3 ORDER BY next_at LIMIT 4";
                let sql = format!("{pick}{lock}");
                // SQLite: dialed and never-dialed contacts in one round trip
                // (each part walks its own index range); PostgreSQL cannot
                // lock rows of a UNION, so it asks twice.
                let both = format!(
                    "SELECT * FROM ({pick}) UNION ALL SELECT * FROM ({})",
                    pick.replace("$2", "1")
                );
                for entry in &mix {
                    let may_start_new = entry.cap.is_none_or(|cap| entry.new_today < cap);
                    let mut found: Vec<(i64, Candidate)> = Vec::new();
                    let asks: &[(i64, &str)] = match (pg, may_start_new) {
                        (false, true) => &[(0, both.as_str())],
                        (true, true) => &[(0, sql.as_str()), (1, sql.as_str())],
                        (_, false) => &[(0, sql.as_str())],
                    };
                    for (fresh, query) in asks {
                        let rows = sqlx::query(query)
                            .bind(entry.id)
                            .bind(*fresh)
                            .bind(now_ms)
                            .fetch_all(&mut *tx)
                            .await?;
                        for r in rows {
                            found.push((
                                r.int("next_at")?,
                                Candidate {
                                    contact: r.int("id")?,
                                    version: r.int("version")?,
                                    state: r.int("state")?,
                                    list: r.int("list_id")?,
                                    fresh: r.flag("fresh")?,
                                    attempts: r.int("attempts")?,
                                    source: ClaimSource::List(ListId(entry.id as u64)),
                                },
                            ));
                        }
                    }
                    if !found.is_empty() {
                        found.sort_by_key(|(next_at, _)| *next_at);
                        candidates = found.into_iter().map(|(_, c)| c).collect();
                        break;
                    }
                }
            }
            let Some(worker) = worker else {
                tx.rollback().await?;
                return Ok(candidates.into_iter().next().map(|cand| Claim {
                    contact: ContactId(cand.contact as u64),
                    campaign,
                    list: ListId(cand.list as u64),
                    version: cand.version,
                    worker: String::new(),
                    source: cand.source,
                    numbers: Vec::new(),
                    attempts: cand.attempts as u32,
                    fresh: cand.fresh,
                }));
            };
            let mut claimed = None;
            for cand in candidates {
                let done = sqlx::query(
                    "UPDATE contacts SET state = 1, version = version + 1, claimed_by = $1, \
                     claimed_at = $2 WHERE id = $3 AND state = $4 AND version = $5",
                )
                .bind(worker)
                .bind(now_ms)
                .bind(cand.contact)
                .bind(cand.state)
                .bind(cand.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 1 {
                    claimed = Some(cand);
                    break;
                }
            }
            let Some(cand) = claimed else {
                tx.rollback().await?;
                return Ok(None);
            };
            sqlx::query(
                "INSERT INTO list_day_usage (list_id, day, new_dialed, dialed) \
                 VALUES ($1, $2, $3, 1) ON CONFLICT (list_id, day) DO UPDATE SET \
                 new_dialed = list_day_usage.new_dialed + excluded.new_dialed, \
                 dialed = list_day_usage.dialed + 1",
            )
            .bind(cand.list)
            .bind(day)
            .bind(i64::from(cand.fresh))
            .execute(&mut *tx)
            .await?;
            let numbers = sqlx::query(
                "SELECT e164, label, raw FROM contact_numbers WHERE contact_id = $1 ORDER BY pos",
            )
            .bind(cand.contact)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(number_from)
            .collect::<Result<Vec<_>, StoreError>>()?;
            tx.commit().await?;
            Ok(Some(Claim {
                contact: ContactId(cand.contact as u64),
                campaign,
                list: ListId(cand.list as u64),
                version: cand.version + 1,
                worker: worker.to_string(),
                source: cand.source,
                numbers,
                attempts: cand.attempts as u32,
                fresh: cand.fresh,
            }))
        })
    }

    /// Claims one contact by id (a preview card, a personal callback the
    /// agent opened). `None` when another worker holds it or it may not be
    /// dialed (closed, blocked).
    pub async fn claim_contact(
        &self,
        contact: ContactId,
        worker: &str,
        now: Timestamp,
    ) -> Result<Option<Claim>, StoreError> {
        let row = on_db!(self, pool => {
            let row = sqlx::query(
                "SELECT campaign_id, list_id, version, state, fresh, attempts FROM contacts \
                 WHERE id = $1",
            )
            .bind(contact.0 as i64)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(r) => Some((
                    r.int("campaign_id")?,
                    r.int("list_id")?,
                    r.int("version")?,
                    r.int("state")?,
                    r.flag("fresh")?,
                    r.int("attempts")?,
                )),
                None => None,
            }
        });
        let Some((campaign, list, version, state, fresh, attempts)) = row else {
            return Err(StoreError::NotFound(format!("{contact}")));
        };
        if state != READY && state != WAITING_CALLBACK {
            return Ok(None);
        }
        let done = on_db!(self, pool => {
            sqlx::query(
                "UPDATE contacts SET state = 1, version = version + 1, claimed_by = $1, \
                 claimed_at = $2 WHERE id = $3 AND state = $4 AND version = $5",
            )
            .bind(worker)
            .bind(ms(now))
            .bind(contact.0 as i64)
            .bind(state)
            .bind(version)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done != 1 {
            return Ok(None);
        }
        let numbers = self.contact_numbers(contact).await?;
        let source = if state == WAITING_CALLBACK {
            self.callbacks_of_contact(contact)
                .await?
                .into_iter()
                .find(|cb| cb.state == crate::CallbackState::Pending)
                .map_or(ClaimSource::Direct, |cb| ClaimSource::Callback(cb.id))
        } else {
            ClaimSource::Direct
        };
        Ok(Some(Claim {
            contact,
            campaign: CampaignId(campaign as u64),
            list: ListId(list as u64),
            version: version + 1,
            worker: worker.to_string(),
            source,
            numbers,
            attempts: attempts as u32,
            fresh,
        }))
    }

    /// A contact's numbers in order.
    pub async fn contact_numbers(
        &self,
        contact: ContactId,
    ) -> Result<Vec<StoredNumber>, StoreError> {
        on_db!(self, pool => {
            sqlx::query(
                "SELECT e164, label, raw FROM contact_numbers WHERE contact_id = $1 ORDER BY pos",
            )
            .bind(contact.0 as i64)
            .fetch_all(pool)
            .await?
            .iter()
            .map(number_from)
            .collect()
        })
    }

    /// Gives a claimed contact back without dialing it (the check before the
    /// dial refused it, the worker stops): its attempt count does not grow.
    /// `reason` is kept as the contact's last outcome (`suppressed: do-not-call`).
    pub async fn release_claim(
        &self,
        claim: &Claim,
        next: &NextStep,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (state, next_at) = match next {
            NextStep::Retry { at } => (READY, ms(*at)),
            NextStep::Close => (DONE, ms(now)),
            NextStep::Block => (BLOCKED, ms(now)),
            NextStep::Callback(_) => (WAITING_CALLBACK, ms(now)),
        };
        let waiting = matches!(claim.source, ClaimSource::Callback(_)) && state == READY;
        let state = if waiting { WAITING_CALLBACK } else { state };
        let done = on_db!(self, pool => {
            sqlx::query(
                "UPDATE contacts SET state = CASE WHEN active = 0 THEN 3 ELSE $1 END, \
                 paused_state = CASE WHEN active = 0 THEN 0 END, \
                 next_at = $2, version = version + 1, claimed_by = NULL, claimed_at = NULL, \
                 last_outcome = COALESCE($3, last_outcome) \
                 WHERE id = $4 AND state = 1 AND version = $5",
            )
            .bind(state)
            .bind(next_at)
            .bind(reason)
            .bind(claim.contact.0 as i64)
            .bind(claim.version)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done != 1 {
            return Err(StoreError::Conflict(format!("the claim on {} was lost", claim.contact)));
        }
        if let NextStep::Callback(req) = next {
            self.schedule_callback(req, now).await?;
        }
        Ok(())
    }

    /// Journals the start of an attempt on a claimed contact, before the call
    /// is placed. Fails when the claim was lost (recovered, taken over) or
    /// already used for an attempt, and with [`StoreError::DoNotCall`] when
    /// the number is on a list the campaign honours in the database now (the
    /// contact is then blocked, not dialed).
    pub async fn begin_attempt(
        &self,
        claim: &Claim,
        start: &AttemptStart,
        now: Timestamp,
    ) -> Result<AttemptId, StoreError> {
        let callback = match claim.source {
            ClaimSource::Callback(id) => Some(id.0 as i64),
            _ => None,
        };
        let id: i64 = on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let attempt_no: Option<i64> = sqlx::query_scalar(
                "UPDATE contacts SET attempts = attempts + 1 \
                 WHERE id = $1 AND state = 1 AND version = $2 AND claimed_by = $3 \
                 AND active = 1 RETURNING attempts",
            )
            .bind(claim.contact.0 as i64)
            .bind(claim.version)
            .bind(&claim.worker)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(attempt_no) = attempt_no else {
                tx.rollback().await?;
                return Err(StoreError::Conflict(format!(
                    "the claim on {} was lost, or the contact was made inactive",
                    claim.contact
                )));
            };
            // The last check before the dial reads the lists as they are in
            // the database now, in the transaction that holds the claim: an
            // entry added a moment ago by another process (`ringa dnc add`,
            // `ringa dnc load`) blocks the call even before memory catches up.
            let digits = start.number.digits();
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT l.name FROM dnc_entries e JOIN dnc_lists l ON l.id = e.list_id \
                 WHERE (e.list_id = 1 OR e.list_id IN \
                 (SELECT list_id FROM campaign_dnc WHERE campaign_id = ",
            );
            qb.push_bind(claim.campaign.0 as i64);
            qb.push(")) AND ((e.is_prefix = 0 AND e.value = ");
            qb.push_bind(digits.to_string());
            qb.push(") OR (e.is_prefix = 1 AND e.value IN (");
            let mut sep = qb.separated(", ");
            for end in 1..=digits.len() {
                sep.push_bind(digits[..end].to_string());
            }
            qb.push("))) LIMIT 1");
            let mut block: Option<String> =
                qb.build_query_scalar().fetch_optional(&mut *tx).await?;
            if block.is_none() {
                let erased: Option<i64> =
                    sqlx::query_scalar("SELECT 1 FROM erased_numbers WHERE hash = $1")
                        .bind(self.number_hash(&start.number))
                        .fetch_optional(&mut *tx)
                        .await?;
                block = erased.map(|_| "erased on request".to_string());
            }
            if let Some(list) = block {
                sqlx::query(
                    "UPDATE contacts SET state = CASE WHEN active = 0 THEN 3 ELSE $1 END, \
                 paused_state = CASE WHEN active = 0 THEN $1 END, \
                     next_at = $2, version = version + 1, claimed_by = NULL, \
                     claimed_at = NULL, last_outcome = $3, attempts = attempts - 1 \
                     WHERE id = $4",
                )
                .bind(BLOCKED)
                .bind(ms(now))
                .bind(SUPPRESSED_DNC)
                .bind(claim.contact.0 as i64)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Err(StoreError::DoNotCall(format!(
                    "{} is on the do-not-call list {list}; it is not dialed",
                    Pii(&start.number)
                )));
            }
            let id = sqlx::query_scalar(
                "INSERT INTO attempts (contact_id, campaign_id, list_id, attempt_no, \
                 claim_version, callback_id, number, caller_id, agent_id, worker, amd, state, \
                 started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open', $12) \
                 RETURNING id",
            )
            .bind(claim.contact.0 as i64)
            .bind(claim.campaign.0 as i64)
            .bind(claim.list.0 as i64)
            .bind(attempt_no)
            .bind(claim.version)
            .bind(callback)
            .bind(start.number.as_str())
            .bind(start.caller_id.as_deref())
            .bind(start.agent.map(|a| a.0 as i64))
            .bind(&claim.worker)
            .bind(start.amd.to_string())
            .bind(ms(now))
            .fetch_one(&mut *tx)
            .await;
            let id: i64 = match id {
                Ok(id) => id,
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                    tx.rollback().await?;
                    return Err(StoreError::Conflict(format!(
                        "{} already has an attempt for this claim or one in flight",
                        claim.contact
                    )));
                }
                Err(err) => return Err(err.into()),
            };
            tx.commit().await?;
            id
        });
        Ok(AttemptId(id as u64))
    }

    /// The campaign's definition of outcome `code` (none without a code); an error for a
    /// code the campaign does not define.
    pub(crate) async fn outcome_def(
        &self,
        campaign: CampaignId,
        code: Option<&str>,
    ) -> Result<Option<crate::OutcomeRow>, StoreError> {
        let Some(code) = code else { return Ok(None) };
        let found = self.outcomes(campaign).await?.into_iter().find(|o| o.code == code);
        match found {
            Some(def) => Ok(Some(def)),
            None => Err(StoreError::Invalid(format!("unknown outcome {code:?}"))),
        }
    }

    /// Journals the end of an attempt and moves its contact on, in one
    /// transaction: a sale makes an order, a do-not-call outcome writes the
    /// number to the campaign's target list and cancels pending callbacks,
    /// a callback outcome schedules the callback, and a callback whose call
    /// failed before reaching anyone is retried in its window or escalated.
    pub async fn finish_attempt(
        &self,
        attempt: AttemptId,
        end: &AttemptEnd,
        now: Timestamp,
    ) -> Result<FinishReport, StoreError> {
        let row = self.attempt(attempt).await?;
        if !row.open {
            return Err(StoreError::Conflict(format!("{attempt} is already closed")));
        }
        let outcome = self.outcome_def(row.campaign, end.outcome.as_deref()).await?;
        let campaign = self.campaign(row.campaign).await?;
        let is_dnc = outcome.as_ref().is_some_and(|o| o.dnc);
        let is_sale = outcome.as_ref().is_some_and(|o| o.sale);
        let mut report = FinishReport::default();

        // The callback this attempt was made for.
        let mut callback_update: Option<(i64, &'static str, i64)> = None;
        let mut retried_in_place = false;
        if let Some(cb) = row.callback {
            let cb_row = self.callback(cb).await?;
            let reached = !matches!(
                end.result,
                CallResult::Congestion
                    | CallResult::Failed
                    | CallResult::Suppressed
                    | CallResult::Interrupted
            );
            // The engine tries the same agreed callback again (no answer,
            // busy, a machine): the row stays pending and counts the try,
            // rather than being closed and booked again as a new row.
            let tried_again = match &end.next {
                NextStep::Callback(req) => {
                    req.contact == row.contact
                        && req.local == cb_row.local
                        && req.zone == cb_row.zone
                        && end.result != CallResult::Connected
                        && !is_dnc
                }
                _ => false,
            };
            if cb_row.state == crate::CallbackState::Pending {
                if let (true, NextStep::Callback(req)) = (tried_again, &end.next) {
                    let at = req.due_at()? - req.window_before.abs();
                    report.callback_fate = Some(CallbackFate::Retry { at });
                    report.callback = Some(cb);
                    retried_in_place = true;
                    callback_update = Some((cb.0 as i64, "pending", ms(at)));
                } else if reached {
                    callback_update = Some((cb.0 as i64, "done", ms(cb_row.dial_at)));
                } else {
                    let fate = fate_after_failure(&cb_row, now, SignedDuration::from_mins(2));
                    report.callback_fate = Some(fate);
                    callback_update = Some(match fate {
                        CallbackFate::Retry { at } => (cb.0 as i64, "pending", ms(at)),
                        CallbackFate::Escalated => (cb.0 as i64, "escalated", ms(cb_row.dial_at)),
                    });
                }
            }
        }
        let callback_pending = matches!(callback_update, Some((_, "pending", _)));
        let (mut state, mut next_at) = match &end.next {
            NextStep::Retry { at } => (READY, ms(*at)),
            NextStep::Close => (DONE, ms(now)),
            NextStep::Block => (BLOCKED, ms(now)),
            NextStep::Callback(_) => (WAITING_CALLBACK, ms(now)),
        };
        if callback_pending || matches!(callback_update, Some((_, "escalated", _))) {
            state = WAITING_CALLBACK;
            next_at = ms(now);
        }
        if is_dnc {
            state = BLOCKED;
        }
        let number = PhoneNumber::from_e164(&row.number).ok();
        let dnc_target = campaign.dnc_target;
        let new_callback = match (&end.next, is_dnc) {
            (NextStep::Callback(req), false) if !retried_in_place => Some(req.clone()),
            _ => None,
        };
        if let Some(req) = &new_callback
            && req.owner.is_some()
            && !campaign.personal_callbacks
        {
            return Err(StoreError::Invalid(format!(
                "personal callbacks are disabled in campaign {}",
                campaign.name
            )));
        }
        let outcome_code = end.outcome.clone().unwrap_or_else(|| end.result.as_str().to_string());
        let order = on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let closed = sqlx::query(
                "UPDATE attempts SET state = 'closed', ended_at = $1, answered_at = $2, \
                 sip_code = $3, result = $4, outcome = $5, agent_id = COALESCE($6, agent_id) \
                 WHERE id = $7 AND state = 'open'",
            )
            .bind(ms(now))
            .bind(end.answered_at.map(ms))
            .bind(end.sip_code.map(i64::from))
            .bind(end.result.as_str())
            .bind(&outcome_code)
            .bind(end.agent.map(|a| a.0 as i64))
            .bind(attempt.0 as i64)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if closed != 1 {
                tx.rollback().await?;
                return Err(StoreError::Conflict(format!("{attempt} is already closed")));
            }
            let moved = sqlx::query(
                "UPDATE contacts SET state = CASE WHEN active = 0 THEN 3 ELSE $1 END, \
                 paused_state = CASE WHEN active = 0 THEN $1 END, \
                 next_at = $2, fresh = 0, version = version + 1, claimed_by = NULL, \
                 claimed_at = NULL, last_outcome = $3 \
                 WHERE id = $4 AND state = 1 AND version = $5",
            )
            .bind(state)
            .bind(next_at)
            .bind(&outcome_code)
            .bind(row.contact.0 as i64)
            .bind(row.claim_version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved != 1 {
                tx.rollback().await?;
                return Err(StoreError::Conflict(format!(
                    "the claim on {} was lost during {attempt}",
                    row.contact
                )));
            }
            if let Some((id, cb_state, dial_at)) = callback_update {
                let failed = i64::from(cb_state != "done");
                sqlx::query(
                    "UPDATE callbacks SET state = $1, dial_at = $2, tries = tries + $3, \
                     updated_at = $4 WHERE id = $5",
                )
                .bind(cb_state)
                .bind(dial_at)
                .bind(failed)
                .bind(ms(now))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            let mut order = None;
            if is_sale {
                let new_order = NewOrder {
                    attempt: Some(attempt),
                    inbound: None,
                    contact: row.contact,
                    campaign: row.campaign,
                    agent: end.agent.or(row.agent),
                    number: &row.number,
                    outcome: &outcome_code,
                };
                order = insert_order!(&mut *tx, &new_order, now)?;
            }
            if is_dnc && let Some(number) = &number {
                sqlx::query(
                    "INSERT INTO dnc_entries (list_id, value, is_prefix, added_at, source) \
                     VALUES ($1, $2, 0, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(dnc_target.0 as i64)
                .bind(number.digits())
                .bind(ms(now))
                .bind(format!("outcome {outcome_code} of {attempt}"))
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE callbacks SET state = 'cancelled', cancel_reason = $1, \
                     updated_at = $2 WHERE contact_id = $3 AND state IN ('pending', 'escalated')",
                )
                .bind(DNC_CANCEL_REASON)
                .bind(ms(now))
                .bind(row.contact.0 as i64)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            order
        });
        report.order = order;
        if is_dnc && let Some(number) = &number {
            self.sync_dnc().await?;
            report.dnc_list = Some(dnc_target);
            report.callbacks_cancelled =
                self.cancel_callbacks_for_number(dnc_target, number, now).await?;
        }
        if let Some(req) = new_callback {
            report.callback = Some(self.schedule_callback(&req, now).await?);
        }
        Ok(report)
    }

    /// Closes attempts left in flight by a crash as interrupted and releases
    /// claims; callbacks keep their times. `worker` limits it to one
    /// worker's attempts and claims (a node restarting next to others).
    pub async fn recover(
        &self,
        worker: Option<&str>,
        now: Timestamp,
    ) -> Result<RecoveryReport, StoreError> {
        let attempt_filter = if worker.is_some() { " AND worker = $2" } else { "" };
        let claim_filter = if worker.is_some() { " AND claimed_by = $2" } else { "" };
        let close = format!(
            "UPDATE attempts SET state = 'closed', result = 'interrupted', \
             outcome = 'interrupted', ended_at = $1 WHERE state = 'open'{attempt_filter} \
             RETURNING id"
        );
        let release = format!(
            "UPDATE contacts SET paused_state = CASE WHEN active = 0 THEN 0 END, \
             state = CASE WHEN active = 0 THEN 3 \
             WHEN EXISTS (SELECT 1 FROM callbacks cb WHERE cb.contact_id = contacts.id \
             AND cb.state IN ('pending', 'escalated')) THEN 4 ELSE 0 END, \
             version = version + 1, claimed_by = NULL, claimed_at = NULL, next_at = $1 \
             WHERE state = 1{claim_filter}"
        );
        let (ids, released) = on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut q = sqlx::query_scalar::<_, i64>(&close).bind(ms(now));
            if let Some(w) = worker {
                q = q.bind(w);
            }
            let ids = q.fetch_all(&mut *tx).await?;
            let mut q = sqlx::query(&release).bind(ms(now));
            if let Some(w) = worker {
                q = q.bind(w);
            }
            let released = q.execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            (ids, released)
        });
        let mut interrupted: Vec<AttemptId> =
            ids.into_iter().map(|i| AttemptId(i as u64)).collect();
        interrupted.sort();
        // Claims without an open attempt are a clean stop's leftovers (the
        // demo hands its claims back this way): worth a warning only when
        // calls were really cut off.
        if !interrupted.is_empty() {
            tracing::warn!(attempts = interrupted.len(), released, "recovered after a stop");
        } else if released > 0 {
            tracing::info!(released, "released claims; no attempt was interrupted");
        }
        Ok(RecoveryReport { interrupted, released })
    }

    /// Replaces an open attempt's answering-machine detection record (the `amd` JSON:
    /// the settings in force and the verdict) once the call knows it.
    pub async fn record_attempt_amd(
        &self,
        attempt: AttemptId,
        amd: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let updated = on_db!(self, pool => {
            sqlx::query("UPDATE attempts SET amd = $1 WHERE id = $2 AND state = 'open'")
                .bind(amd.to_string())
                .bind(attempt.0 as i64)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if updated != 1 {
            return Err(StoreError::Conflict(format!("{attempt} is not open")));
        }
        Ok(())
    }

    /// One attempt.
    pub async fn attempt(&self, id: AttemptId) -> Result<AttemptRow, StoreError> {
        let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE id = $1");
        let row = on_db!(self, pool => {
            let row = sqlx::query(&sql).bind(id.0 as i64).fetch_optional(pool).await?;
            row.map(|r| attempt_from(&r)).transpose()?
        });
        row.ok_or_else(|| StoreError::NotFound(format!("{id}")))
    }

    /// A contact's attempts, oldest first.
    pub async fn attempts_of_contact(
        &self,
        contact: ContactId,
    ) -> Result<Vec<AttemptRow>, StoreError> {
        let sql =
            format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE contact_id = $1 ORDER BY id");
        on_db!(self, pool => {
            let rows = sqlx::query(&sql).bind(contact.0 as i64).fetch_all(pool).await?;
            rows.iter().map(attempt_from).collect()
        })
    }

    /// Every attempt, oldest first (for checks and exports of small stores).
    pub async fn all_attempts(&self) -> Result<Vec<AttemptRow>, StoreError> {
        let sql = format!("SELECT {ATTEMPT_COLUMNS} FROM attempts ORDER BY id");
        on_db!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            rows.iter().map(attempt_from).collect()
        })
    }

    /// Attempts started in `[from, to)`, oldest first.
    pub(crate) async fn attempts_started_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AttemptRow>, StoreError> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE started_at >= $1 AND started_at < $2 \
             ORDER BY started_at, id"
        );
        on_db!(self, pool => {
            let rows = sqlx::query(&sql).bind(ms(from)).bind(ms(to)).fetch_all(pool).await?;
            rows.iter().map(attempt_from).collect()
        })
    }

    /// Every callback, oldest first.
    pub async fn all_callbacks(&self) -> Result<Vec<crate::CallbackRow>, StoreError> {
        let sql = format!("SELECT {CALLBACK_COLUMNS} FROM callbacks ORDER BY id");
        on_db!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            rows.iter().map(callback_from).collect()
        })
    }

    /// Contacts per state, for a campaign's diagnostics: `ready`, `claimed`,
    /// `done`, `waiting_callback`, `skipped: inactive`, `skipped: erased` and
    /// `suppressed: do-not-call`.
    pub async fn contact_states(
        &self,
        campaign: CampaignId,
    ) -> Result<HashMap<&'static str, u64>, StoreError> {
        let rows: Vec<(i64, i64, i64, i64)> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT state, active, erased, COUNT(*) FROM contacts WHERE campaign_id = $1 \
                 GROUP BY state, active, erased",
            )
            .bind(campaign.0 as i64)
            .fetch_all(pool)
            .await?
        });
        let mut out = HashMap::new();
        for (state, active, erased, count) in rows {
            let name = match state {
                READY => "ready",
                CLAIMED => "claimed",
                DONE => "done",
                BLOCKED if erased != 0 => "skipped: erased",
                BLOCKED if active == 0 => "skipped: inactive",
                BLOCKED => "suppressed: do-not-call",
                WAITING_CALLBACK => "waiting_callback",
                _ => "unknown",
            };
            *out.entry(name).or_insert(0) += count as u64;
        }
        Ok(out)
    }

    /// Today's date in the campaign's zone (its region's single zone, UTC
    /// otherwise), the key of per-day caps.
    async fn campaign_day(
        &self,
        campaign: CampaignId,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        let cached =
            self.campaign_zones.read().unwrap_or_else(|p| p.into_inner()).get(&campaign).cloned();
        let tz = match cached {
            Some(tz) => tz,
            None => {
                let region: Option<String> = on_db!(self, pool => {
                    sqlx::query_scalar("SELECT region FROM campaigns WHERE id = $1")
                        .bind(campaign.0 as i64)
                        .fetch_optional(pool)
                        .await?
                });
                let region = region.ok_or_else(|| StoreError::NotFound(format!("{campaign}")))?;
                let tz = ringa_core::Region::parse(&region)
                    .ok()
                    .and_then(single_zone_of)
                    .map(|z| z.tz())
                    .unwrap_or(TimeZone::UTC);
                self.campaign_zones
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(campaign, tz.clone());
                tz
            }
        };
        Ok(now.to_zoned_datetime(tz).date().to_string())
    }
}

fn number_from(r: &impl RowExt) -> Result<StoredNumber, StoreError> {
    let e164 = r.text("e164")?;
    Ok(StoredNumber {
        number: PhoneNumber::from_e164(&e164)
            .map_err(|err| StoreError::Corrupt(err.to_string()))?,
        label: r.text("label")?,
        raw: r.text("raw")?,
    })
}
