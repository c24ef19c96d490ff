//! Calls back: customers who called one of a campaign's caller IDs and reached an agent,
//! journaled apart from the dialer's attempts (table `inbound_calls`) so that no statistic of
//! dials, pickups or drops counts them.

use jiff::Timestamp;
use ringa_core::{AgentId, CampaignId, ContactId, PhoneNumber};

use crate::campaigns::{NewOrder, insert_order};
use crate::db::{RowExt, on_db};
use crate::time::{ms, ts};
use crate::{Store, StoreError};

/// The start of a call back, journaled when an agent takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundStart {
    pub campaign: CampaignId,
    /// The campaign's contact whose number called, if one matched.
    pub contact: Option<ContactId>,
    /// The caller's number, when the network gave it.
    pub number: Option<PhoneNumber>,
    pub agent: Option<AgentId>,
}

/// A call back as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundRow {
    pub id: i64,
    pub campaign: CampaignId,
    pub contact: Option<ContactId>,
    /// The caller's number (`erased` once the contact is erased).
    pub number: Option<String>,
    pub agent: Option<AgentId>,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub outcome: Option<String>,
    pub note: Option<String>,
    /// The call's recording file, when calls are recorded.
    pub recording: Option<String>,
}

const INBOUND_COLUMNS: &str = "id, campaign_id, contact_id, number, agent_id, started_at, \
     ended_at, outcome, note, recording";

impl Store {
    /// Journals a call back taken by an agent; returns its id.
    pub async fn begin_inbound(
        &self,
        start: &InboundStart,
        worker: &str,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        let id: i64 = on_db!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO inbound_calls (campaign_id, contact_id, number, agent_id, worker, \
                 started_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(start.campaign.0 as i64)
            .bind(start.contact.map(|c| c.0 as i64))
            .bind(start.number.as_ref().map(PhoneNumber::as_str))
            .bind(start.agent.map(|a| a.0 as i64))
            .bind(worker)
            .bind(ms(now))
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    /// The end of a call back, or its outcome once the agent sets it (the end time is kept
    /// from the first call). A sale outcome on a call back with a contact and a number makes
    /// an order, as a sale on a dialer's attempt does (once per call back); its id is
    /// returned. An outcome the campaign does not define is refused, as on an attempt.
    pub async fn finish_inbound(
        &self,
        id: i64,
        outcome: Option<&str>,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        let row = self.inbound_call(id).await?;
        let is_sale = self.outcome_def(row.campaign, outcome).await?.is_some_and(|o| o.sale);
        let new_order = match (is_sale, outcome, row.contact, &row.number) {
            (true, Some(outcome), Some(contact), Some(number)) => Some(NewOrder {
                attempt: None,
                inbound: Some(id),
                contact,
                campaign: row.campaign,
                agent: row.agent,
                number,
                outcome,
            }),
            _ => None,
        };
        let order = on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE inbound_calls SET ended_at = COALESCE(ended_at, $1), \
                 outcome = COALESCE($2, outcome), note = COALESCE($3, note) WHERE id = $4",
            )
            .bind(ms(now))
            .bind(outcome)
            .bind(note)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let order = match &new_order {
                Some(new_order) => insert_order!(&mut *tx, new_order, now)?,
                None => None,
            };
            tx.commit().await?;
            order
        });
        Ok(order)
    }

    /// One call back.
    pub async fn inbound_call(&self, id: i64) -> Result<InboundRow, StoreError> {
        let sql = format!("SELECT {INBOUND_COLUMNS} FROM inbound_calls WHERE id = $1");
        on_db!(self, pool => {
            match sqlx::query(&sql).bind(id).fetch_optional(pool).await? {
                Some(row) => inbound_row(&row),
                None => Err(StoreError::NotFound(format!("inbound call {id}"))),
            }
        })
    }

    /// The calls back started in `[from, to)`, oldest first.
    pub async fn inbound_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<InboundRow>, StoreError> {
        let sql = format!(
            "SELECT {INBOUND_COLUMNS} FROM inbound_calls WHERE started_at >= $1 \
             AND started_at < $2 ORDER BY started_at, id"
        );
        on_db!(self, pool => {
            let rows = sqlx::query(&sql).bind(ms(from)).bind(ms(to)).fetch_all(pool).await?;
            rows.iter().map(inbound_row).collect()
        })
    }

    /// Links a call back to its recording file.
    pub async fn add_inbound_recording(&self, id: i64, path: &str) -> Result<(), StoreError> {
        on_db!(self, pool => {
            sqlx::query("UPDATE inbound_calls SET recording = $1 WHERE id = $2")
                .bind(path)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// A contact's calls back, oldest first.
    pub async fn inbound_of_contact(
        &self,
        contact: ContactId,
    ) -> Result<Vec<InboundRow>, StoreError> {
        let sql = format!(
            "SELECT {INBOUND_COLUMNS} FROM inbound_calls WHERE contact_id = $1 ORDER BY id"
        );
        on_db!(self, pool => {
            let rows = sqlx::query(&sql).bind(contact.0 as i64).fetch_all(pool).await?;
            rows.iter().map(inbound_row).collect()
        })
    }
}

fn inbound_row(row: &impl RowExt) -> Result<InboundRow, StoreError> {
    Ok(InboundRow {
        id: row.int("id")?,
        campaign: CampaignId(row.int("campaign_id")? as u64),
        contact: row.opt_int("contact_id")?.map(|c| ContactId(c as u64)),
        number: row.opt_text("number")?,
        agent: row.opt_int("agent_id")?.map(|a| AgentId(a as u64)),
        started_at: ts(row.int("started_at")?)?,
        ended_at: row.opt_int("ended_at")?.map(ts).transpose()?,
        outcome: row.opt_text("outcome")?,
        note: row.opt_text("note")?,
        recording: row.opt_text("recording")?,
    })
}
