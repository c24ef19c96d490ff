//! Queries the web product needs besides the dialing ones: a user with its
//! password hash for logging in, password changes, every campaign, the
//! per-campaign counts the diagnostics page shows, the open contacts
//! holding a number (lead intake's duplicate check), the contact search
//! (with the folded names and reversed digits it looks in) and a cheap
//! marker of what other processes changed (campaigns, lists, new
//! contacts).

use jiff::Timestamp;
use ringa_core::{AgentId, CampaignId, ContactId, PhoneNumber};

use unicode_normalization::UnicodeNormalization;

use crate::campaigns::{ContactRow, UserRow};
use crate::db::{Db, RowExt, on_db};
use crate::time::ms;
use crate::{CampaignRow, Store, StoreError};

/// Contacts of a campaign counted by what keeps them from being dialed now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DialBlockers {
    /// Ready and due: nothing keeps them back.
    pub dialable_now: u64,
    /// Ready, but their next attempt is later (quarantine, retry delay).
    pub quarantined: u64,
    /// Ready and due, but their list is disabled.
    pub list_disabled: u64,
    /// Held by a dialer right now.
    pub claimed: u64,
    /// Waiting for a callback's time.
    pub waiting_callback: u64,
    /// Finished: final outcome or attempt budget spent.
    pub done: u64,
    /// Blocked: do-not-call, inactive or erased.
    pub blocked: u64,
}

/// What a request's authority is checked against: read for every request,
/// so that a disable, a role change or a password change made by any
/// process (`ringa user disable`, another node) counts at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserAuth {
    pub id: AgentId,
    pub login: String,
    pub role: String,
    pub active: bool,
    /// The password is one-time: it may only be replaced.
    pub must_change_password: bool,
    /// Raised by every disable, role change and password change: a session
    /// opened under an older epoch has ended.
    pub epoch: i64,
}

/// A cheap summary of the campaigns, lists and contacts: it changes when
/// another process (`ringa import`, ...) adds a campaign, changes one's
/// configuration, adds or enables a list or adds contacts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeMarker {
    /// Count, largest id and total configuration length of the campaigns.
    pub campaigns: (i64, i64, i64),
    /// Count and enabled count of the lists.
    pub lists: (i64, i64),
    /// The largest contact id.
    pub last_contact: i64,
}

impl Store {
    /// The [`ChangeMarker`] now: one query of index lookups and counts of
    /// the small tables.
    pub async fn change_marker(&self) -> Result<ChangeMarker, StoreError> {
        let row: (i64, i64, i64, i64, i64, i64) = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM campaigns), \
                 (SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM campaigns), \
                 (SELECT CAST(COALESCE(SUM(LENGTH(config)), 0) AS BIGINT) FROM campaigns), \
                 (SELECT COUNT(*) FROM lists), \
                 (SELECT COUNT(*) FROM lists WHERE enabled = 1), \
                 (SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM contacts)",
            )
            .fetch_one(pool)
            .await?
        });
        Ok(ChangeMarker {
            campaigns: (row.0, row.1, row.2),
            lists: (row.3, row.4),
            last_contact: row.5,
        })
    }

    /// The active user with this login and its password hash.
    pub async fn user_for_login(
        &self,
        login: &str,
    ) -> Result<Option<(UserRow, Option<String>)>, StoreError> {
        on_db!(self, pool => {
            let row = sqlx::query(
                "SELECT id, login, display_name, role, active, password_hash FROM users \
                 WHERE login = $1",
            )
            .bind(login)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(r) => Ok(Some((
                    UserRow {
                        id: AgentId(r.int("id")? as u64),
                        login: r.text("login")?,
                        display_name: r.text("display_name")?,
                        role: r.text("role")?,
                        active: r.flag("active")?,
                    },
                    r.opt_text("password_hash")?,
                ))),
                None => Ok(None),
            }
        })
    }

    /// The authority of user `user`, `None` when there is no such user.
    pub async fn user_auth(&self, user: AgentId) -> Result<Option<UserAuth>, StoreError> {
        on_db!(self, pool => {
            let row = sqlx::query(
                "SELECT id, login, role, active, must_change_password, auth_epoch FROM users \
                 WHERE id = $1",
            )
            .bind(user.0 as i64)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(r) => Ok(Some(UserAuth {
                    id: AgentId(r.int("id")? as u64),
                    login: r.text("login")?,
                    role: r.text("role")?,
                    active: r.flag("active")?,
                    must_change_password: r.flag("must_change_password")?,
                    epoch: r.int("auth_epoch")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// Replaces a user's password hash, marks it one-time or not, and ends
    /// the user's sessions (raises the epoch); returns the new epoch.
    pub async fn set_password_hash(
        &self,
        user: AgentId,
        hash: &str,
        one_time: bool,
    ) -> Result<i64, StoreError> {
        let epoch: Option<i64> = on_db!(self, pool => {
            sqlx::query_scalar(
                "UPDATE users SET password_hash = $1, must_change_password = $2, \
                 auth_epoch = auth_epoch + 1 WHERE id = $3 RETURNING auth_epoch",
            )
            .bind(hash)
            .bind(i64::from(one_time))
            .bind(user.0 as i64)
            .fetch_optional(pool)
            .await?
        });
        epoch.ok_or_else(|| StoreError::NotFound(format!("{user}")))
    }

    /// Marks a user's password as one-time (or not), without ending
    /// sessions.
    pub async fn set_must_change_password(
        &self,
        user: AgentId,
        on: bool,
    ) -> Result<(), StoreError> {
        let done = on_db!(self, pool => {
            sqlx::query("UPDATE users SET must_change_password = $1 WHERE id = $2")
                .bind(i64::from(on))
                .bind(user.0 as i64)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound(format!("{user}")));
        }
        Ok(())
    }

    /// Enables or disables a user's login; either ends the user's sessions
    /// (raises the epoch).
    pub async fn set_user_active(&self, user: AgentId, active: bool) -> Result<(), StoreError> {
        let done = on_db!(self, pool => {
            sqlx::query(
                "UPDATE users SET active = $1, auth_epoch = auth_epoch + 1 WHERE id = $2",
            )
            .bind(i64::from(active))
            .bind(user.0 as i64)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound(format!("{user}")));
        }
        Ok(())
    }

    /// Changes a user's role and ends the user's sessions (raises the
    /// epoch).
    pub async fn set_user_role(&self, user: AgentId, role: &str) -> Result<(), StoreError> {
        let done = on_db!(self, pool => {
            sqlx::query("UPDATE users SET role = $1, auth_epoch = auth_epoch + 1 WHERE id = $2")
                .bind(role)
                .bind(user.0 as i64)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound(format!("{user}")));
        }
        Ok(())
    }

    /// Every campaign, by id.
    pub async fn campaigns(&self) -> Result<Vec<CampaignRow>, StoreError> {
        let ids: Vec<i64> = on_db!(self, pool => {
            sqlx::query_scalar("SELECT id FROM campaigns ORDER BY id").fetch_all(pool).await?
        });
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.campaign(CampaignId(id as u64)).await?);
        }
        Ok(out)
    }

    /// The open contacts of `campaign` (ready, claimed or waiting for a
    /// callback: neither finished nor blocked) with one of `numbers`
    /// (E.164), as (number, the oldest such contact).
    pub async fn open_contacts_by_number(
        &self,
        campaign: CampaignId,
        numbers: &[String],
    ) -> Result<Vec<(String, ContactId)>, StoreError> {
        let mut out = Vec::new();
        for chunk in numbers.chunks(500) {
            let rows: Vec<(String, i64)> = on_db!(self, pool => {
                let mut qb = sqlx::QueryBuilder::new(
                    "SELECT n.e164, MIN(c.id) FROM contact_numbers n \
                     JOIN contacts c ON c.id = n.contact_id \
                     WHERE c.state IN (0, 1, 4) AND n.campaign_id = ",
                );
                qb.push_bind(campaign.0 as i64);
                qb.push(" AND n.e164 IN (");
                let mut list = qb.separated(", ");
                for number in chunk {
                    list.push_bind(number.clone());
                }
                qb.push(") GROUP BY n.e164");
                qb.build_query_as().fetch_all(pool).await?
            });
            out.extend(rows.into_iter().map(|(number, id)| (number, ContactId(id as u64))));
        }
        Ok(out)
    }

    /// Finds up to `limit` contacts of `campaign` (erased ones left out), by
    /// id. A query of digits and the punctuation people write numbers with
    /// is read as a phone number: read the way import reads one (the
    /// campaign's region for national form), it matches the E.164 form of
    /// any of a contact's numbers; and its last digits (at least
    /// [`MIN_ENDING_DIGITS`]) match every number ending with them. Any other
    /// query (and a short number that is not whole) matches a part of the
    /// name in any case of any letter (names and query are folded alike by
    /// [`fold_for_search`]); `%` and `_` are literal. An empty query is
    /// refused. Numbers are found by index ranges; a name by reading the
    /// campaign's part of the name index (not the whole table).
    pub async fn search_contacts(
        &self,
        campaign: CampaignId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<ContactRow>, StoreError> {
        let query = query.trim();
        if query.is_empty() {
            return Err(StoreError::Invalid("the search query is empty".into()));
        }
        let limit = i64::from(limit);
        let looks_like_number = query.bytes().any(|b| b.is_ascii_digit())
            && query.bytes().all(|b| b.is_ascii_digit() || b" +-()./".contains(&b));
        let number = if looks_like_number {
            let region = self.campaign(campaign).await?.region;
            PhoneNumber::parse(query, region).ok()
        } else {
            None
        };
        let ending = if looks_like_number { ending_range(query) } else { None };
        let ids: Vec<i64> = if number.is_some() || ending.is_some() {
            let mut ids = Vec::new();
            if let Some(number) = number {
                let found: Vec<i64> = on_db!(self, pool => {
                    sqlx::query_scalar(
                        "SELECT DISTINCT c.id FROM contact_numbers n \
                         JOIN contacts c ON c.id = n.contact_id \
                         WHERE n.e164 = $1 AND n.campaign_id = $2 AND c.erased = 0 \
                         ORDER BY c.id LIMIT $3",
                    )
                    .bind(number.as_str())
                    .bind(campaign.0 as i64)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
                });
                ids.extend(found);
            }
            if let Some((from, to)) = ending {
                let found: Vec<i64> = on_db!(self, pool => {
                    sqlx::query_scalar(
                        "SELECT DISTINCT c.id FROM contact_numbers n \
                         JOIN contacts c ON c.id = n.contact_id \
                         WHERE n.campaign_id = $1 AND n.digits_reversed >= $2 \
                         AND n.digits_reversed < $3 AND c.erased = 0 \
                         ORDER BY c.id LIMIT $4",
                    )
                    .bind(campaign.0 as i64)
                    .bind(from)
                    .bind(to)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
                });
                ids.extend(found);
            }
            ids.sort_unstable();
            ids.dedup();
            ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            ids
        } else {
            let pattern = format!("%{}%", escape_like(&fold_for_search(query)));
            // SQLite would rather walk the whole table in id order (for
            // ORDER BY ... LIMIT); the name index holds only this
            // campaign's folded names, so a rare name is found without
            // reading other campaigns' rows.
            let sql = match self.db {
                Db::Sqlite(_) => {
                    "SELECT id FROM contacts INDEXED BY contacts_name_search \
                     WHERE campaign_id = $1 AND erased = 0 \
                     AND name_search LIKE $2 ESCAPE '\\' ORDER BY id LIMIT $3"
                }
                Db::Postgres(_) => {
                    "SELECT id FROM contacts WHERE campaign_id = $1 AND erased = 0 \
                     AND name_search LIKE $2 ESCAPE '\\' ORDER BY id LIMIT $3"
                }
            };
            on_db!(self, pool => {
                sqlx::query_scalar(sql)
                .bind(campaign.0 as i64)
                .bind(pattern)
                .bind(limit)
                .fetch_all(pool)
                .await?
            })
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.contact(ContactId(id as u64)).await?);
        }
        Ok(out)
    }

    /// Sets one search column, a batch of rows per transaction: `select` reads
    /// (id, source text) after an id, `update` writes `derive(source)`.
    async fn backfill(
        &self,
        select: &'static str,
        update: &'static str,
        derive: fn(&str) -> String,
    ) -> Result<u64, StoreError> {
        let (mut done, mut after) = (0_u64, 0_i64);
        loop {
            let rows: Vec<(i64, String)> = on_db!(self, pool => {
                sqlx::query_as(select).bind(after).fetch_all(pool).await?
            });
            let Some(last) = rows.last() else { return Ok(done) };
            after = last.0;
            done += rows.len() as u64;
            on_db!(self, pool => {
                let mut tx = pool.begin().await?;
                for (id, source) in &rows {
                    sqlx::query(update).bind(derive(source)).bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            });
        }
    }

    /// Fills in the search columns of contacts and numbers stored before
    /// they existed (migration 3 marks the database), a batch per
    /// transaction, and removes the mark. Safe to interrupt: the next open
    /// carries on.
    pub(crate) async fn backfill_search_columns(&self) -> Result<(), StoreError> {
        if self.config_get(BACKFILL_KEY).await?.is_none() {
            return Ok(());
        }
        let names = self
            .backfill(
                "SELECT id, name FROM contacts WHERE id > $1 AND name IS NOT NULL \
                 AND name_search IS NULL ORDER BY id LIMIT 1000",
                "UPDATE contacts SET name_search = $1 WHERE id = $2",
                fold_for_search,
            )
            .await?;
        let numbers = self
            .backfill(
                "SELECT id, e164 FROM contact_numbers WHERE id > $1 \
                 AND digits_reversed IS NULL ORDER BY id LIMIT 1000",
                "UPDATE contact_numbers SET digits_reversed = $1 WHERE id = $2",
                digits_reversed,
            )
            .await?;
        on_db!(self, pool => {
            sqlx::query("DELETE FROM config WHERE key = $1")
                .bind(BACKFILL_KEY)
                .execute(pool)
                .await?;
        });
        if names + numbers > 0 {
            tracing::info!(names, numbers, "filled in the contact search columns");
        }
        Ok(())
    }

    /// Counts a campaign's contacts by what keeps them from being dialed at
    /// `now`.
    pub async fn dial_blockers(
        &self,
        campaign: CampaignId,
        now: Timestamp,
    ) -> Result<DialBlockers, StoreError> {
        let rows: Vec<(i64, i64, i64, i64)> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT c.state, CASE WHEN c.next_at <= $2 THEN 1 ELSE 0 END AS due, \
                 l.enabled, COUNT(*) FROM contacts c JOIN lists l ON l.id = c.list_id \
                 WHERE c.campaign_id = $1 GROUP BY c.state, due, l.enabled",
            )
            .bind(campaign.0 as i64)
            .bind(ms(now))
            .fetch_all(pool)
            .await?
        });
        let mut out = DialBlockers::default();
        for (state, due, enabled, count) in rows {
            let count = count as u64;
            match state {
                0 if due == 0 => out.quarantined += count,
                0 if enabled == 0 => out.list_disabled += count,
                0 => out.dialable_now += count,
                1 => out.claimed += count,
                2 => out.done += count,
                4 => out.waiting_callback += count,
                _ => out.blocked += count,
            }
        }
        Ok(out)
    }
}

/// The fewest last digits of a number a search matches endings with:
/// fewer would match too many numbers to be useful.
pub const MIN_ENDING_DIGITS: usize = 4;

/// The configuration key migration 3 sets while old rows lack their search
/// columns.
const BACKFILL_KEY: &str = "backfill.contact_search";

/// A name (or a search for one) as the search compares it: Unicode NFC
/// (a letter with its accent as one character, however it was typed or
/// imported), then lower case by Unicode's rules, so that `ÅSA`, `Åsa` and
/// `åsa` are alike on SQLite and on PostgreSQL.
pub fn fold_for_search(text: &str) -> String {
    text.nfc().collect::<String>().to_lowercase()
}

/// The digits of a number, last first: an ending of the number is a
/// prefix of this, which an index finds as a range.
pub fn digits_reversed(number: &str) -> String {
    number.chars().rev().filter(char::is_ascii_digit).collect()
}

/// The `digits_reversed` range `[from, to)` of the numbers ending with the
/// digits of `query`, when it has at least [`MIN_ENDING_DIGITS`] of them.
/// Stored values hold digits only, which sort below `:` byte-wise, so
/// `prefix + ":"` bounds every value starting with the prefix.
fn ending_range(query: &str) -> Option<(String, String)> {
    let from = digits_reversed(query);
    if from.len() < MIN_ENDING_DIGITS {
        return None;
    }
    let to = format!("{from}:");
    Some((from, to))
}

/// `text` with the `LIKE` wildcards `%` and `_` and the escape character
/// `\` escaped, for `LIKE ... ESCAPE '\'`.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}
