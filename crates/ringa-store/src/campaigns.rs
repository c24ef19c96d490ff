//! Campaigns, lists, outcomes, users and contacts: creating them and the
//! list operations (enable, mix, cap, reset, sale cancellations).

use std::collections::{BTreeMap, HashSet};

use crate::db::{RowExt, on_db};
use crate::time::ms;
use crate::{Store, StoreError};
use jiff::{SignedDuration, Timestamp};
use ringa_core::{
    AgentId, CampaignId, ContactId, DncListId, ListId, OutcomeDef, PhoneNumber, Region, ZoneName,
};

/// A campaign as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignRow {
    pub id: CampaignId,
    pub name: String,
    /// The default region for numbers written in national form.
    pub region: Region,
    /// Where a "do not call" outcome writes the number (default: global).
    pub dnc_target: DncListId,
    pub personal_callbacks: bool,
    /// How long after its due time a personal callback waits for its owner
    /// before any agent of the campaign may take it.
    pub callback_offer_delay: SignedDuration,
    /// Everything else of the campaign's configuration (rules, caller IDs, ...).
    pub config: serde_json::Value,
}

/// A list of a campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListRow {
    pub id: ListId,
    pub campaign: CampaignId,
    pub name: String,
    pub enabled: bool,
    /// Share of the list in the mix among lists of the same priority.
    pub weight: u32,
    /// Lists of a higher priority are dialed before lower ones.
    pub priority: i32,
    /// At most this many never-dialed contacts of the list are started a day.
    pub new_per_day: Option<u32>,
}

/// An outcome of a campaign with the flags the store acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeRow {
    pub code: String,
    pub label: String,
    pub conversation: bool,
    pub sale: bool,
    pub callback: bool,
    pub is_final: bool,
    pub dnc: bool,
    /// Final by rule: a list reset never makes such contacts dialable again.
    pub never_reset: bool,
    pub retry_after: Option<SignedDuration>,
}

impl From<&OutcomeDef> for OutcomeRow {
    fn from(def: &OutcomeDef) -> Self {
        OutcomeRow {
            code: def.code.as_str().to_string(),
            label: def.label.clone(),
            conversation: def.conversation,
            sale: def.sale,
            callback: def.callback,
            is_final: def.is_final,
            dnc: def.dnc,
            never_reset: def.dnc,
            retry_after: def.retry_after,
        }
    }
}

/// A user (agent, supervisor, administrator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub id: AgentId,
    pub login: String,
    pub display_name: String,
    pub role: String,
    pub active: bool,
}

/// One number of a contact to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNumber {
    pub number: PhoneNumber,
    /// `main`, `mobile`, `work`, ...
    pub label: String,
    /// The text it was read from.
    pub raw: String,
}

/// A contact to store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewContact {
    pub name: Option<String>,
    pub address: Option<String>,
    pub postal_code: Option<String>,
    pub zone: Option<ZoneName>,
    pub fields: BTreeMap<String, String>,
    pub numbers: Vec<NewNumber>,
    /// Arrived through lead intake: dialed before list contacts.
    pub lead: bool,
    pub priority: i32,
    /// The data row of the imported file it came from.
    pub source_row: Option<u64>,
}

/// What a list reset did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResetReport {
    /// Made dialable again.
    pub reset: u64,
    /// Kept closed: a number is on a do-not-call list.
    pub kept_dnc: u64,
    /// Kept closed: the outcome is do-not-call or final by rule.
    pub kept_final: u64,
    /// Kept closed: inactive or erased.
    pub kept_inactive: u64,
}

/// What a file of cancellations did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CancelReport {
    pub cancelled: u64,
    pub already_cancelled: u64,
    /// Lines that named no order: (line number, text, why).
    pub not_found: Vec<(u64, String, String)>,
}

const CAMPAIGN_COLUMNS: &str = "id, name, region, dnc_target_list, personal_callbacks, \
     callback_offer_delay_ms, config";

impl Store {
    /// Creates a campaign with the default outcomes.
    pub async fn create_campaign(
        &self,
        name: &str,
        region: Region,
        config: &serde_json::Value,
        now: Timestamp,
    ) -> Result<CampaignId, StoreError> {
        let id: i64 = on_db!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO campaigns (name, region, config, created_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(name)
            .bind(region.as_str())
            .bind(config.to_string())
            .bind(ms(now))
            .fetch_one(pool)
            .await?
        });
        let id = CampaignId(id as u64);
        let defaults: Vec<OutcomeRow> =
            OutcomeDef::defaults().iter().map(OutcomeRow::from).collect();
        self.set_outcomes(id, &defaults).await?;
        Ok(id)
    }

    /// The campaign with this name, created (region `region`) when missing.
    pub async fn ensure_campaign(
        &self,
        name: &str,
        region: Region,
        now: Timestamp,
    ) -> Result<CampaignRow, StoreError> {
        if let Some(row) = self.campaign_by_name(name).await? {
            return Ok(row);
        }
        let id = self.create_campaign(name, region, &serde_json::json!({}), now).await?;
        self.campaign(id).await
    }

    /// One campaign.
    pub async fn campaign(&self, id: CampaignId) -> Result<CampaignRow, StoreError> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1");
        let row = on_db!(self, pool => {
            let row = sqlx::query(&sql).bind(id.0 as i64).fetch_optional(pool).await?;
            row.map(|r| campaign_from(&r)).transpose()?
        });
        row.ok_or_else(|| StoreError::NotFound(format!("{id}")))
    }

    /// The campaign with this name.
    pub async fn campaign_by_name(&self, name: &str) -> Result<Option<CampaignRow>, StoreError> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE name = $1");
        on_db!(self, pool => {
            let row = sqlx::query(&sql).bind(name).fetch_optional(pool).await?;
            row.map(|r| campaign_from(&r)).transpose()
        })
    }

    /// Replaces the campaign's configuration document.
    pub async fn set_campaign_config(
        &self,
        id: CampaignId,
        config: &serde_json::Value,
    ) -> Result<(), StoreError> {
        on_db!(self, pool => {
            sqlx::query("UPDATE campaigns SET config = $1 WHERE id = $2")
                .bind(config.to_string())
                .bind(id.0 as i64)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Sets where the campaign's "do not call" outcomes write numbers.
    pub async fn set_dnc_target(
        &self,
        campaign: CampaignId,
        list: DncListId,
    ) -> Result<(), StoreError> {
        on_db!(self, pool => {
            sqlx::query("UPDATE campaigns SET dnc_target_list = $1 WHERE id = $2")
                .bind(list.0 as i64)
                .bind(campaign.0 as i64)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Sets whether personal callbacks are allowed and how long a due
    /// personal callback waits for its owner before others may take it.
    pub async fn set_callback_policy(
        &self,
        campaign: CampaignId,
        personal: bool,
        offer_delay: SignedDuration,
    ) -> Result<(), StoreError> {
        on_db!(self, pool => {
            sqlx::query(
                "UPDATE campaigns SET personal_callbacks = $1, callback_offer_delay_ms = $2 \
                 WHERE id = $3",
            )
            .bind(i64::from(personal))
            .bind(offer_delay.as_millis() as i64)
            .bind(campaign.0 as i64)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Replaces the campaign's outcomes.
    pub async fn set_outcomes(
        &self,
        campaign: CampaignId,
        outcomes: &[OutcomeRow],
    ) -> Result<(), StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM outcomes WHERE campaign_id = $1")
                .bind(campaign.0 as i64)
                .execute(&mut *tx)
                .await?;
            for o in outcomes {
                sqlx::query(
                    "INSERT INTO outcomes (campaign_id, code, label, conversation, sale, \
                     callback, is_final, dnc, never_reset, retry_after_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(campaign.0 as i64)
                .bind(&o.code)
                .bind(&o.label)
                .bind(i64::from(o.conversation))
                .bind(i64::from(o.sale))
                .bind(i64::from(o.callback))
                .bind(i64::from(o.is_final))
                .bind(i64::from(o.dnc))
                .bind(i64::from(o.never_reset))
                .bind(o.retry_after.map(|d| d.as_millis() as i64))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The campaign's outcomes.
    pub async fn outcomes(&self, campaign: CampaignId) -> Result<Vec<OutcomeRow>, StoreError> {
        on_db!(self, pool => {
            let rows = sqlx::query(
                "SELECT code, label, conversation, sale, callback, is_final, dnc, never_reset, \
                 retry_after_ms FROM outcomes WHERE campaign_id = $1 ORDER BY code",
            )
            .bind(campaign.0 as i64)
            .fetch_all(pool)
            .await?;
            rows.iter().map(outcome_from).collect::<Result<Vec<_>, StoreError>>()
        })
    }

    /// Creates a list in a campaign (enabled, weight 1, priority 0, no cap).
    pub async fn create_list(
        &self,
        campaign: CampaignId,
        name: &str,
        now: Timestamp,
    ) -> Result<ListId, StoreError> {
        let id: i64 = on_db!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO lists (campaign_id, name, created_at) VALUES ($1, $2, $3) \
                 RETURNING id",
            )
            .bind(campaign.0 as i64)
            .bind(name)
            .bind(ms(now))
            .fetch_one(pool)
            .await?
        });
        Ok(ListId(id as u64))
    }

    /// The list of that name in the campaign, created when missing.
    pub async fn ensure_list(
        &self,
        campaign: CampaignId,
        name: &str,
        now: Timestamp,
    ) -> Result<ListRow, StoreError> {
        if let Some(list) = self.lists(campaign).await?.into_iter().find(|l| l.name == name) {
            return Ok(list);
        }
        let id = self.create_list(campaign, name, now).await?;
        self.list(id).await
    }

    /// One list.
    pub async fn list(&self, id: ListId) -> Result<ListRow, StoreError> {
        let row = on_db!(self, pool => {
            let row = sqlx::query(
                "SELECT id, campaign_id, name, enabled, weight, priority, new_per_day \
                 FROM lists WHERE id = $1",
            )
            .bind(id.0 as i64)
            .fetch_optional(pool)
            .await?;
            row.map(|r| list_from(&r)).transpose()?
        });
        row.ok_or_else(|| StoreError::NotFound(format!("{id}")))
    }

    /// The lists of a campaign.
    pub async fn lists(&self, campaign: CampaignId) -> Result<Vec<ListRow>, StoreError> {
        on_db!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, campaign_id, name, enabled, weight, priority, new_per_day \
                 FROM lists WHERE campaign_id = $1 ORDER BY id",
            )
            .bind(campaign.0 as i64)
            .fetch_all(pool)
            .await?;
            rows.iter().map(list_from).collect()
        })
    }

    /// Enables or disables a list: a disabled list gives no contacts.
    pub async fn set_list_enabled(&self, list: ListId, enabled: bool) -> Result<(), StoreError> {
        self.update_list(list, "enabled", Some(i64::from(enabled))).await
    }

    /// Sets a list's weight and priority in its campaign's mix.
    pub async fn set_list_mix(
        &self,
        list: ListId,
        weight: u32,
        priority: i32,
    ) -> Result<(), StoreError> {
        if weight == 0 {
            return Err(StoreError::Invalid("a list weight must be at least 1".to_string()));
        }
        self.update_list(list, "weight", Some(i64::from(weight))).await?;
        self.update_list(list, "priority", Some(i64::from(priority))).await
    }

    /// Caps how many never-dialed contacts of the list start a day (`None`: no cap).
    pub async fn set_list_cap(&self, list: ListId, per_day: Option<u32>) -> Result<(), StoreError> {
        self.update_list(list, "new_per_day", per_day.map(i64::from)).await
    }

    async fn update_list(
        &self,
        list: ListId,
        column: &'static str,
        value: Option<i64>,
    ) -> Result<(), StoreError> {
        let sql = format!("UPDATE lists SET {column} = $1 WHERE id = $2");
        let done = on_db!(self, pool => {
            sqlx::query(&sql).bind(value).bind(list.0 as i64).execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound(format!("{list}")));
        }
        Ok(())
    }

    /// Adds a user.
    pub async fn create_user(
        &self,
        login: &str,
        display_name: &str,
        role: &str,
        password_hash: Option<&str>,
        now: Timestamp,
    ) -> Result<AgentId, StoreError> {
        let id: i64 = on_db!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO users (login, display_name, role, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(login)
            .bind(display_name)
            .bind(role)
            .bind(password_hash)
            .bind(ms(now))
            .fetch_one(pool)
            .await?
        });
        Ok(AgentId(id as u64))
    }

    /// Every user.
    pub async fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        on_db!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, login, display_name, role, active FROM users ORDER BY id",
            )
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(UserRow {
                        id: AgentId(r.int("id")? as u64),
                        login: r.text("login")?,
                        display_name: r.text("display_name")?,
                        role: r.text("role")?,
                        active: r.flag("active")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })
    }

    /// Stores contacts in a list, in one transaction, in the order given;
    /// returns their ids in that order.
    pub async fn insert_contacts(
        &self,
        list: &ListRow,
        contacts: &[NewContact],
        now: Timestamp,
    ) -> Result<Vec<ContactId>, StoreError> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let campaign = list.campaign.0 as i64;
        let list_id = list.id.0 as i64;
        let now_ms = ms(now);
        let n = contacts.len() as i64;
        let first: i64 = on_db!(self, pool => {
            // Takes the write lock first, so that the id range below stays ours.
            let mut tx = match self.db {
                crate::db::Db::Sqlite(_) => pool.begin_with("BEGIN IMMEDIATE").await?,
                crate::db::Db::Postgres(_) => pool.begin().await?,
            };
            let first: i64 = match self.db {
                crate::db::Db::Sqlite(_) => {
                    let max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM contacts")
                        .fetch_one(&mut *tx)
                        .await?;
                    max.unwrap_or(0) + 1
                }
                crate::db::Db::Postgres(_) => {
                    let first: i64 = sqlx::query_scalar(
                        "SELECT nextval(pg_get_serial_sequence('contacts', 'id'))",
                    )
                    .fetch_one(&mut *tx)
                    .await?;
                    sqlx::query(
                        "SELECT setval(pg_get_serial_sequence('contacts', 'id'), $1)",
                    )
                    .bind(first + n - 1)
                    .execute(&mut *tx)
                    .await?;
                    first
                }
            };
            for (chunk_index, chunk) in contacts.chunks(400).enumerate() {
                let base = first + (chunk_index * 400) as i64;
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO contacts (id, campaign_id, list_id, name, name_search, address, \
                     postal_code, zone, fields, lead, priority, next_at, source_row, created_at) ",
                );
                qb.push_values(chunk.iter().enumerate(), |mut b, (i, c)| {
                    b.push_bind(base + i as i64)
                        .push_bind(campaign)
                        .push_bind(list_id)
                        .push_bind(c.name.clone())
                    .push_bind(c.name.as_deref().map(crate::web_support::fold_for_search))
                        .push_bind(c.address.clone())
                        .push_bind(c.postal_code.clone())
                        .push_bind(c.zone.as_ref().map(|z| z.as_str().to_string()))
                        .push_bind(fields_json(&c.fields))
                        .push_bind(i64::from(c.lead))
                        .push_bind(i64::from(c.priority))
                        .push_bind(now_ms)
                        .push_bind(c.source_row.map(|r| r as i64))
                        .push_bind(now_ms);
                });
                qb.build().execute(&mut *tx).await?;
                let numbers: Vec<(i64, usize, &NewNumber)> = chunk
                    .iter()
                    .enumerate()
                    .flat_map(|(i, c)| {
                        c.numbers.iter().enumerate().map(move |(p, num)| (base + i as i64, p, num))
                    })
                    .collect();
                for part in numbers.chunks(800) {
                    let mut qb = sqlx::QueryBuilder::new(
                        "INSERT INTO contact_numbers (contact_id, campaign_id, list_id, pos, e164, \
                         digits_reversed, label, raw) ",
                    );
                    qb.push_values(part.iter(), |mut b, (id, pos, num)| {
                        b.push_bind(*id)
                            .push_bind(campaign)
                            .push_bind(list_id)
                            .push_bind(*pos as i64)
                            .push_bind(num.number.as_str().to_string())
                    .push_bind(crate::web_support::digits_reversed(num.number.as_str()))
                            .push_bind(num.label.clone())
                            .push_bind(num.raw.clone());
                    });
                    qb.build().execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            first
        });
        Ok((0..n).map(|i| ContactId((first + i) as u64)).collect())
    }
}

pub(crate) fn fields_json(fields: &BTreeMap<String, String>) -> String {
    serde_json::to_string(fields).expect("a map of strings always serialises")
}

fn campaign_from(r: &impl RowExt) -> Result<CampaignRow, StoreError> {
    let region = r.text("region")?;
    let config = r.text("config")?;
    Ok(CampaignRow {
        id: CampaignId(r.int("id")? as u64),
        name: r.text("name")?,
        region: Region::parse(&region).map_err(|err| StoreError::Corrupt(err.to_string()))?,
        dnc_target: DncListId(r.int("dnc_target_list")? as u64),
        personal_callbacks: r.flag("personal_callbacks")?,
        callback_offer_delay: SignedDuration::from_millis(r.int("callback_offer_delay_ms")?),
        config: serde_json::from_str(&config)
            .map_err(|err| StoreError::Corrupt(format!("campaign config: {err}")))?,
    })
}

fn list_from(r: &impl RowExt) -> Result<ListRow, StoreError> {
    Ok(ListRow {
        id: ListId(r.int("id")? as u64),
        campaign: CampaignId(r.int("campaign_id")? as u64),
        name: r.text("name")?,
        enabled: r.flag("enabled")?,
        weight: r.int("weight")?.max(1) as u32,
        priority: r.int("priority")? as i32,
        new_per_day: r.opt_int("new_per_day")?.map(|v| v.max(0) as u32),
    })
}

pub(crate) fn outcome_from(r: &impl RowExt) -> Result<OutcomeRow, StoreError> {
    Ok(OutcomeRow {
        code: r.text("code")?,
        label: r.text("label")?,
        conversation: r.flag("conversation")?,
        sale: r.flag("sale")?,
        callback: r.flag("callback")?,
        is_final: r.flag("is_final")?,
        dnc: r.flag("dnc")?,
        never_reset: r.flag("never_reset")?,
        retry_after: r.opt_int("retry_after_ms")?.map(SignedDuration::from_millis),
    })
}

/// A stored contact with its dialing state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactRow {
    pub id: ContactId,
    pub campaign: CampaignId,
    pub list: ListId,
    pub name: Option<String>,
    pub address: Option<String>,
    pub postal_code: Option<String>,
    pub zone: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub numbers: Vec<crate::StoredNumber>,
    pub active: bool,
    pub erased: bool,
    pub lead: bool,
    /// `ready`, `claimed`, `done`, `blocked` or `waiting_callback`.
    pub state: &'static str,
    pub attempts: u32,
    pub last_outcome: Option<String>,
    pub next_at: Timestamp,
}

/// An order (a sale outcome) as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRow {
    pub id: i64,
    /// The dialer's attempt the sale was made on; `None` for a sale on a call back.
    pub attempt: Option<ringa_core::AttemptId>,
    /// The call back (`inbound_calls` row) the sale was made on.
    pub inbound: Option<i64>,
    pub contact: ContactId,
    pub campaign: CampaignId,
    pub agent: Option<AgentId>,
    pub number: String,
    pub outcome: String,
    pub created_at: Timestamp,
    pub cancelled_at: Option<Timestamp>,
    pub cancel_reason: Option<String>,
}

pub(crate) fn state_name(state: i64) -> &'static str {
    match state {
        0 => "ready",
        1 => "claimed",
        2 => "done",
        3 => "blocked",
        4 => "waiting_callback",
        _ => "unknown",
    }
}

pub(crate) const ORDER_COLUMNS: &str = "id, attempt_id, inbound_id, contact_id, campaign_id, \
     agent_id, number, outcome, created_at, cancelled_at, cancel_reason";

/// A sale to record as an order, from either of its sources.
#[derive(Clone, Debug)]
pub(crate) struct NewOrder<'a> {
    pub attempt: Option<ringa_core::AttemptId>,
    pub inbound: Option<i64>,
    pub contact: ContactId,
    pub campaign: CampaignId,
    pub agent: Option<AgentId>,
    pub number: &'a str,
    pub outcome: &'a str,
}

/// The one insert of an order, whether the sale was made on a dialer's attempt or on a call
/// back: `fetch_optional` gives the new order's id, or `None` when that attempt or call back
/// already has its order.
pub(crate) const INSERT_ORDER: &str = "INSERT INTO orders (attempt_id, inbound_id, contact_id, \
     campaign_id, agent_id, number, outcome, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT DO NOTHING RETURNING id";

/// Runs [`INSERT_ORDER`] for a [`NewOrder`] on an executor (a pool or a transaction) of
/// either backend.
macro_rules! insert_order {
    ($exec:expr, $order:expr, $now:expr) => {{
        let order: &$crate::campaigns::NewOrder<'_> = $order;
        sqlx::query_scalar::<_, i64>($crate::campaigns::INSERT_ORDER)
            .bind(order.attempt.map(|a| a.0 as i64))
            .bind(order.inbound)
            .bind(order.contact.0 as i64)
            .bind(order.campaign.0 as i64)
            .bind(order.agent.map(|a| a.0 as i64))
            .bind(order.number)
            .bind(order.outcome)
            .bind($crate::time::ms($now))
            .fetch_optional($exec)
            .await
    }};
}
pub(crate) use insert_order;

pub(crate) fn order_from(r: &impl RowExt) -> Result<OrderRow, StoreError> {
    Ok(OrderRow {
        id: r.int("id")?,
        attempt: r.opt_int("attempt_id")?.map(|a| ringa_core::AttemptId(a as u64)),
        inbound: r.opt_int("inbound_id")?,
        contact: ContactId(r.int("contact_id")? as u64),
        campaign: CampaignId(r.int("campaign_id")? as u64),
        agent: r.opt_int("agent_id")?.map(|a| AgentId(a as u64)),
        number: r.text("number")?,
        outcome: r.text("outcome")?,
        created_at: crate::time::ts(r.int("created_at")?)?,
        cancelled_at: crate::time::opt_ts(r.opt_int("cancelled_at")?)?,
        cancel_reason: r.opt_text("cancel_reason")?,
    })
}

impl Store {
    /// One contact with its numbers.
    pub async fn contact(&self, id: ContactId) -> Result<ContactRow, StoreError> {
        let numbers = self.contact_numbers(id).await?;
        let row = on_db!(self, pool => {
            let row = sqlx::query(
                "SELECT id, campaign_id, list_id, name, address, postal_code, zone, fields, \
                 active, erased, lead, state, attempts, last_outcome, next_at \
                 FROM contacts WHERE id = $1",
            )
            .bind(id.0 as i64)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(r) => {
                    let fields = r.text("fields")?;
                    Some(ContactRow {
                        id,
                        campaign: CampaignId(r.int("campaign_id")? as u64),
                        list: ListId(r.int("list_id")? as u64),
                        name: r.opt_text("name")?,
                        address: r.opt_text("address")?,
                        postal_code: r.opt_text("postal_code")?,
                        zone: r.opt_text("zone")?,
                        fields: serde_json::from_str(&fields)
                            .map_err(|err| StoreError::Corrupt(format!("fields: {err}")))?,
                        numbers,
                        active: r.flag("active")?,
                        erased: r.flag("erased")?,
                        lead: r.flag("lead")?,
                        state: state_name(r.int("state")?),
                        attempts: r.int("attempts")? as u32,
                        last_outcome: r.opt_text("last_outcome")?,
                        next_at: crate::time::ts(r.int("next_at")?)?,
                    })
                }
                None => None,
            }
        });
        row.ok_or_else(|| StoreError::NotFound(format!("{id}")))
    }

    /// Marks a contact active or inactive. An inactive contact never reaches
    /// the dial queue of any campaign; a claim in flight keeps its attempt,
    /// whose end is journaled as usual and leaves the contact blocked. The
    /// state it had is kept (`paused_state`) and comes back when it is made
    /// active again: a contact finished, closed by a do-not-call outcome or
    /// waiting for a callback is not reopened by a deactivation and an
    /// activation. An erased contact stays blocked.
    pub async fn set_contact_active(
        &self,
        id: ContactId,
        active: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let done = on_db!(self, pool => {
            sqlx::query(
                "UPDATE contacts SET active = $1, \
                 version = CASE WHEN state = 1 THEN version ELSE version + 1 END, \
                 next_at = CASE WHEN $1 = 0 AND state <> 1 THEN $2 ELSE next_at END, \
                 paused_state = CASE WHEN $1 = 0 AND active = 1 AND state <> 1 THEN state \
                 WHEN $1 = 1 THEN NULL ELSE paused_state END, \
                 state = CASE WHEN state = 1 THEN 1 \
                 WHEN $1 = 0 THEN 3 \
                 WHEN active = 0 AND state = 3 AND erased = 0 THEN COALESCE(paused_state, 0) \
                 ELSE state END \
                 WHERE id = $3",
            )
            .bind(i64::from(active))
            .bind(ms(now))
            .bind(id.0 as i64)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound(format!("{id}")));
        }
        Ok(())
    }

    /// Makes the finished contacts of a list dialable again ("zeroing"),
    /// for the given codes (every outcome when empty): outcomes of the
    /// campaign or call results, matched against each contact's last one.
    /// Contacts that are inactive, erased, closed by a do-not-call or
    /// final-by-rule outcome, or whose number is on a do-not-call list of
    /// the campaign stay closed. A code no contact can carry is refused
    /// (`Invalid`, naming the codes there are): it would reset nothing.
    pub async fn reset_list(
        &self,
        list: ListId,
        outcomes: &[String],
        now: Timestamp,
    ) -> Result<ResetReport, StoreError> {
        let list_row = self.list(list).await?;
        let defs = self.outcomes(list_row.campaign).await?;
        let results = || ringa_core::CallResult::ALL.iter().map(|r| r.as_str());
        let known = |code: &str| {
            defs.iter().any(|o| o.code == code)
                || results().any(|r| r == code)
                || code.starts_with("suppressed")
        };
        if let Some(unknown) = outcomes.iter().find(|c| !known(c)) {
            let codes: Vec<&str> = defs.iter().map(|o| o.code.as_str()).collect();
            return Err(StoreError::Invalid(format!(
                "{unknown:?} is neither an outcome of the campaign nor a call result; \
                 outcomes: {}; call results: {}",
                codes.join(", "),
                results().collect::<Vec<_>>().join(", ")
            )));
        }
        let protected: HashSet<&str> =
            defs.iter().filter(|o| o.dnc || o.never_reset).map(|o| o.code.as_str()).collect();
        let rows: Vec<(i64, i64, Option<String>, i64)> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT id, state, last_outcome, active FROM contacts \
                 WHERE list_id = $1 AND state IN (2, 3)",
            )
            .bind(list.0 as i64)
            .fetch_all(pool)
            .await?
        });
        let mut report = ResetReport::default();
        let mut reset_ids = Vec::new();
        for (id, state, outcome, active) in rows {
            let outcome = outcome.unwrap_or_default();
            if !outcomes.is_empty() && !outcomes.contains(&outcome) {
                continue;
            }
            if protected.contains(outcome.as_str()) {
                report.kept_final += 1;
                continue;
            }
            if active == 0 || (state == 3 && !outcome.starts_with("suppressed")) {
                report.kept_inactive += 1;
                continue;
            }
            let numbers = self.contact_numbers(ContactId(id as u64)).await?;
            let blocked = numbers.is_empty()
                || numbers
                    .iter()
                    .any(|n| self.dnc_check(&n.number, Some(list_row.campaign)).is_some());
            if blocked {
                report.kept_dnc += 1;
                continue;
            }
            reset_ids.push(id);
        }
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            for id in &reset_ids {
                report.reset += sqlx::query(
                    "UPDATE contacts SET state = 0, attempts = 0, next_at = $1, \
                     version = version + 1 WHERE id = $2 AND state IN (2, 3)",
                )
                .bind(ms(now))
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
        });
        Ok(report)
    }

    /// The orders (sale outcomes) made in `[from, to)`, oldest first.
    pub async fn orders(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<OrderRow>, StoreError> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE created_at >= $1 AND created_at < $2 \
             ORDER BY created_at, id"
        );
        on_db!(self, pool => {
            let rows = sqlx::query(&sql).bind(ms(from)).bind(ms(to)).fetch_all(pool).await?;
            rows.iter().map(order_from).collect()
        })
    }

    /// One order.
    pub async fn order(&self, id: i64) -> Result<OrderRow, StoreError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
        let row = on_db!(self, pool => {
            match sqlx::query(&sql).bind(id).fetch_optional(pool).await? {
                Some(row) => Some(order_from(&row)?),
                None => None,
            }
        });
        row.ok_or_else(|| StoreError::NotFound(format!("order {id}")))
    }

    /// Marks one order cancelled (the customer regretted). Returns false
    /// when it was cancelled already.
    pub async fn cancel_order(
        &self,
        order: i64,
        reason: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (found, done) = on_db!(self, pool => {
            let found: Option<Option<i64>> =
                sqlx::query_scalar("SELECT cancelled_at FROM orders WHERE id = $1")
                    .bind(order)
                    .fetch_optional(pool)
                    .await?;
            let done = sqlx::query(
                "UPDATE orders SET cancelled_at = $1, cancel_reason = $2 \
                 WHERE id = $3 AND cancelled_at IS NULL",
            )
            .bind(ms(now))
            .bind(reason)
            .bind(order)
            .execute(pool)
            .await?
            .rows_affected();
            (found, done)
        });
        if found.is_none() {
            return Err(StoreError::NotFound(format!("order {order}")));
        }
        Ok(done == 1)
    }

    /// Cancels orders listed in a client's file: one a line, either an
    /// order number or the customer's phone number (its latest order in the
    /// campaign is cancelled). Lines naming no order are reported.
    pub async fn cancel_orders_from_text(
        &self,
        campaign: CampaignId,
        text: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<CancelReport, StoreError> {
        let region = self.campaign(campaign).await?.region;
        let mut report = CancelReport::default();
        for (i, line) in text.lines().enumerate() {
            let line_no = i as u64 + 1;
            let item = line.split([',', ';', '\t']).next().unwrap_or("").trim();
            let item = item.trim_matches('"').trim_start_matches('\u{feff}');
            if item.is_empty() || item.starts_with('#') || item.eq_ignore_ascii_case("order") {
                continue;
            }
            let order_id: Option<i64> = if let Some(id) = item
                .strip_prefix("order-")
                .or_else(|| (item.len() < 9).then_some(item))
                .and_then(|d| d.parse::<i64>().ok())
            {
                let found: Option<i64> = on_db!(self, pool => {
                    sqlx::query_scalar("SELECT id FROM orders WHERE id = $1 AND campaign_id = $2")
                        .bind(id)
                        .bind(campaign.0 as i64)
                        .fetch_optional(pool)
                        .await?
                });
                found
            } else {
                match PhoneNumber::parse(item, region) {
                    Ok(number) => on_db!(self, pool => {
                        sqlx::query_scalar(
                            "SELECT id FROM orders WHERE number = $1 AND campaign_id = $2 \
                             ORDER BY created_at DESC, id DESC LIMIT 1",
                        )
                        .bind(number.as_str())
                        .bind(campaign.0 as i64)
                        .fetch_optional(pool)
                        .await?
                    }),
                    Err(err) => {
                        report.not_found.push((line_no, item.to_string(), err.to_string()));
                        continue;
                    }
                }
            };
            match order_id {
                Some(id) => {
                    if self.cancel_order(id, reason, now).await? {
                        report.cancelled += 1;
                    } else {
                        report.already_cancelled += 1;
                    }
                }
                None => report.not_found.push((
                    line_no,
                    item.to_string(),
                    "no order of this campaign matches".to_string(),
                )),
            }
        }
        Ok(report)
    }
}
