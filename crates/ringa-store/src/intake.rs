//! Lead intake in groups: many leads stored and claimed for one worker in
//! one durable transaction, so that a burst of intake requests costs one
//! commit (and one sync of the log) instead of one each.

use jiff::Timestamp;
use ringa_core::{CampaignId, ContactId, ListId};

use crate::campaigns::{NewContact, fields_json};
use crate::db::Db;
use crate::dialing::{CLAIMED, Claim, ClaimSource, StoredNumber};
use crate::time::ms;
use crate::{Store, StoreError};

/// A lead to store in a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLead {
    pub campaign: CampaignId,
    pub list: ListId,
    pub contact: NewContact,
}

/// Inserts the leads' contact rows (claimed, version 1) and numbers with
/// the given ids inside the open transaction `$tx`.
macro_rules! write_leads {
    ($tx:ident, $leads:expr, $ids:expr, $worker:expr, $now_ms:expr) => {{
        let rows: Vec<(i64, &NewLead)> = $ids.iter().copied().zip($leads.iter()).collect();
        for chunk in rows.chunks(400) {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO contacts (id, campaign_id, list_id, name, name_search, address, \
                 postal_code, zone, fields, lead, priority, next_at, created_at, state, version, \
                 claimed_by, claimed_at) ",
            );
            qb.push_values(chunk.iter(), |mut b, (id, lead)| {
                let c = &lead.contact;
                b.push_bind(*id)
                    .push_bind(lead.campaign.0 as i64)
                    .push_bind(lead.list.0 as i64)
                    .push_bind(c.name.clone())
                    .push_bind(c.name.as_deref().map(crate::web_support::fold_for_search))
                    .push_bind(c.address.clone())
                    .push_bind(c.postal_code.clone())
                    .push_bind(c.zone.as_ref().map(|z| z.as_str().to_string()))
                    .push_bind(fields_json(&c.fields))
                    .push_bind(1_i64)
                    .push_bind(i64::from(c.priority))
                    .push_bind($now_ms)
                    .push_bind($now_ms)
                    .push_bind(CLAIMED)
                    .push_bind(1_i64)
                    .push_bind($worker.to_string())
                    .push_bind($now_ms);
            });
            qb.build().execute(&mut *$tx).await?;
            let numbers: Vec<_> = chunk
                .iter()
                .flat_map(|(id, lead)| {
                    lead.contact
                        .numbers
                        .iter()
                        .enumerate()
                        .map(move |(p, num)| (*id, *lead, p, num))
                })
                .collect();
            for part in numbers.chunks(800) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO contact_numbers (contact_id, campaign_id, list_id, pos, e164, \
                     digits_reversed, label, raw) ",
                );
                qb.push_values(part.iter(), |mut b, (id, lead, pos, num)| {
                    b.push_bind(*id)
                        .push_bind(lead.campaign.0 as i64)
                        .push_bind(lead.list.0 as i64)
                        .push_bind(*pos as i64)
                        .push_bind(num.number.as_str().to_string())
                        .push_bind(crate::web_support::digits_reversed(num.number.as_str()))
                        .push_bind(num.label.clone())
                        .push_bind(num.raw.clone());
                });
                qb.build().execute(&mut *$tx).await?;
            }
        }
    }};
}

impl Store {
    /// Stores `leads` (marked as leads, dialed before list contacts) in one
    /// transaction, each already claimed by `worker`, and returns their
    /// claims in the order given. On SQLite the commit syncs the
    /// write-ahead log (`synchronous = FULL` for this transaction), so a
    /// stored lead survives a power cut as it would on PostgreSQL; the sync
    /// is shared by every lead of the group.
    ///
    /// A worker that stops before dialing them gives them back with
    /// [`Store::recover`], like any other claim.
    pub async fn insert_leads(
        &self,
        leads: &[NewLead],
        worker: &str,
        now: Timestamp,
    ) -> Result<Vec<Claim>, StoreError> {
        if leads.is_empty() {
            return Ok(Vec::new());
        }
        let now_ms = ms(now);
        let n = leads.len() as i64;
        let ids: Vec<i64> = match &self.db {
            Db::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
                let written = async {
                    // The write lock first, so that the id range stays ours.
                    let mut tx =
                        sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
                    let max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM contacts")
                        .fetch_one(&mut *tx)
                        .await?;
                    let first = max.unwrap_or(0) + 1;
                    let ids: Vec<i64> = (first..first + n).collect();
                    write_leads!(tx, leads, &ids, worker, now_ms);
                    tx.commit().await?;
                    Ok::<_, StoreError>(ids)
                }
                .await;
                // Back to the pool's setting whatever happened.
                sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                written?
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let ids: Vec<i64> = sqlx::query_scalar(
                    "SELECT nextval(pg_get_serial_sequence('contacts', 'id')) \
                     FROM generate_series(1, $1)",
                )
                .bind(n)
                .fetch_all(&mut *tx)
                .await?;
                write_leads!(tx, leads, &ids, worker, now_ms);
                tx.commit().await?;
                ids
            }
        };
        Ok(leads
            .iter()
            .zip(ids)
            .map(|(lead, id)| Claim {
                contact: ContactId(id as u64),
                campaign: lead.campaign,
                list: lead.list,
                version: 1,
                worker: worker.to_string(),
                source: ClaimSource::Lead,
                numbers: lead
                    .contact
                    .numbers
                    .iter()
                    .map(|n| StoredNumber {
                        number: n.number.clone(),
                        label: n.label.clone(),
                        raw: n.raw.clone(),
                    })
                    .collect(),
                attempts: 0,
                fresh: true,
            })
            .collect())
    }
}
