//! Do-not-call: the global list, campaign lists and national registers,
//! their entries (numbers and prefixes), the in-memory index the engine asks
//! immediately before every dial, and erasure on request.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use jiff::Timestamp;
use ringa_core::dnc::{DncIndex, DncLookup, GLOBAL_DNC};
use ringa_core::{CampaignId, ContactId, DncListId, PhoneNumber, Pii, Region};
use sha2::{Digest, Sha256};

use crate::db::{RowExt, on_db};
use crate::time::{ms, ts};
use crate::{Store, StoreError};

/// What kind of list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DncKind {
    /// The one list every campaign honours.
    Global,
    /// A list that applies to the campaigns it is attached to.
    Campaign,
    /// A national register (Sweden's NIX, ...), loaded from a file, applied
    /// to the campaigns it is attached to.
    Register,
}

impl DncKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DncKind::Global => "global",
            DncKind::Campaign => "campaign",
            DncKind::Register => "register",
        }
    }

    fn parse(text: &str) -> Result<DncKind, StoreError> {
        Ok(match text {
            "global" => DncKind::Global,
            "campaign" => DncKind::Campaign,
            "register" => DncKind::Register,
            other => return Err(StoreError::Corrupt(format!("do-not-call kind {other:?}"))),
        })
    }
}

/// A do-not-call list as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DncListRow {
    pub id: DncListId,
    pub name: String,
    pub kind: DncKind,
    pub campaign: Option<CampaignId>,
    /// The date of the register extract the list was washed against.
    pub wash_date: Option<String>,
}

/// Why a number is blocked: the list, and when the entry was added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DncBlock {
    pub list: DncListId,
    pub list_name: String,
    pub kind: DncKind,
    pub added_at: Option<Timestamp>,
    /// A prefix entry (a whole number range) matched.
    pub prefix: bool,
    /// The number belonged to a contact erased on request.
    pub erased: bool,
    pub wash_date: Option<String>,
}

/// What loading a register or list file did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DncLoadReport {
    pub numbers: u64,
    pub prefixes: u64,
    /// Lines that were neither: (line number, text, why).
    pub invalid: Vec<(u64, String, String)>,
    /// Blank and comment lines.
    pub skipped: u64,
}

/// How to read a do-not-call file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DncLoadOptions {
    /// The region of numbers written in national form.
    pub region: Region,
    /// The date of the register extract.
    pub wash_date: Option<String>,
    /// Replace the list's entries (a register extract is a whole snapshot).
    pub replace: bool,
    /// Where the entries came from, kept on each entry.
    pub source: String,
}

/// What erasing a contact did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErasureReport {
    pub numbers_hashed: u64,
    pub callbacks_cancelled: u64,
    /// Recording files that were deleted.
    pub recordings_removed: Vec<String>,
    /// Recording files that were already gone.
    pub recordings_missing: Vec<String>,
    /// Recording files that could not be deleted, with the reason: personal
    /// data still on disk, for the operator to remove.
    pub recordings_left: Vec<(String, String)>,
}

/// The in-memory copy of every list, kept in step with the database.
#[derive(Debug, Default)]
pub(crate) struct DncMemory {
    index: DncIndex,
    lists: HashMap<DncListId, DncListRow>,
    campaign_lists: HashMap<CampaignId, Vec<DncListId>>,
    erased: HashSet<String>,
    last_entry: i64,
}

/// The reason shown on callbacks cancelled by a do-not-call request.
pub const DNC_CANCEL_REASON: &str = "cancelled: the customer asked not to be called";

impl Store {
    /// Creates a do-not-call list (only one global list exists, id 1).
    pub async fn create_dnc_list(
        &self,
        name: &str,
        kind: DncKind,
        campaign: Option<CampaignId>,
        now: Timestamp,
    ) -> Result<DncListId, StoreError> {
        if kind == DncKind::Global {
            return Err(StoreError::Invalid("there is one global list, named global".into()));
        }
        let id: i64 = on_db!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO dnc_lists (name, kind, campaign_id, created_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(name)
            .bind(kind.as_str())
            .bind(campaign.map(|c| c.0 as i64))
            .bind(ms(now))
            .fetch_one(pool)
            .await?
        });
        let id = DncListId(id as u64);
        if let Some(campaign) = campaign {
            self.attach_dnc_list(campaign, id).await?;
        }
        self.reload_dnc().await?;
        Ok(id)
    }

    /// The list of that name, created with `kind` when missing.
    pub async fn ensure_dnc_list(
        &self,
        name: &str,
        kind: DncKind,
        now: Timestamp,
    ) -> Result<DncListRow, StoreError> {
        if let Some(row) = self.dnc_list_by_name(name) {
            return Ok(row);
        }
        let id = self.create_dnc_list(name, kind, None, now).await?;
        self.dnc_list(id).ok_or_else(|| StoreError::NotFound(format!("{id}")))
    }

    /// A list by id, from memory.
    pub fn dnc_list(&self, id: DncListId) -> Option<DncListRow> {
        self.dnc_memory().lists.get(&id).cloned()
    }

    /// A list by name, from memory.
    pub fn dnc_list_by_name(&self, name: &str) -> Option<DncListRow> {
        self.dnc_memory().lists.values().find(|l| l.name == name).cloned()
    }

    /// Every list.
    pub fn dnc_lists(&self) -> Vec<DncListRow> {
        let mut lists: Vec<DncListRow> = self.dnc_memory().lists.values().cloned().collect();
        lists.sort_by_key(|l| l.id);
        lists
    }

    /// Makes a campaign honour a list (the global list always applies).
    pub async fn attach_dnc_list(
        &self,
        campaign: CampaignId,
        list: DncListId,
    ) -> Result<(), StoreError> {
        on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO campaign_dnc (campaign_id, list_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(campaign.0 as i64)
            .bind(list.0 as i64)
            .execute(pool)
            .await?;
        });
        let mut memory = self.dnc_memory_mut();
        let lists = memory.campaign_lists.entry(campaign).or_default();
        if !lists.contains(&list) {
            lists.push(list);
        }
        Ok(())
    }

    /// The lists a campaign honours, the global one included.
    pub fn campaign_dnc_lists(&self, campaign: CampaignId) -> Vec<DncListId> {
        let memory = self.dnc_memory();
        let mut lists = vec![GLOBAL_DNC];
        lists.extend(memory.campaign_lists.get(&campaign).into_iter().flatten().copied());
        lists
    }

    /// Blocks one number on a list. Returns false when it was there already.
    pub async fn add_dnc(
        &self,
        list: DncListId,
        number: &PhoneNumber,
        source: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let added = self.insert_dnc_entries(list, &[(number.digits(), false)], source, now).await?;
        tracing::info!(list = %list, number = %Pii(number), source, "do-not-call entry added");
        Ok(added > 0)
    }

    /// Blocks every number starting with `digits` (country code first).
    pub async fn add_dnc_prefix(
        &self,
        list: DncListId,
        digits: &str,
        source: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StoreError::Invalid(format!("prefix {digits:?} is not 1-15 digits")));
        }
        Ok(self.insert_dnc_entries(list, &[(digits, true)], source, now).await? > 0)
    }

    /// Unblocks one number on one list.
    pub async fn remove_dnc(
        &self,
        list: DncListId,
        number: &PhoneNumber,
    ) -> Result<bool, StoreError> {
        let removed = on_db!(self, pool => {
            sqlx::query(
                "DELETE FROM dnc_entries WHERE list_id = $1 AND value = $2 AND is_prefix = 0",
            )
                .bind(list.0 as i64)
                .bind(number.digits())
                .execute(pool)
                .await?
                .rows_affected()
        });
        self.reload_dnc().await?;
        Ok(removed > 0)
    }

    async fn insert_dnc_entries(
        &self,
        list: DncListId,
        entries: &[(&str, bool)],
        source: &str,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        if self.dnc_list(list).is_none() {
            return Err(StoreError::NotFound(format!("{list}")));
        }
        let mut added = 0;
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in entries.chunks(2000) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO dnc_entries (list_id, value, is_prefix, added_at, source) ",
                );
                qb.push_values(chunk.iter(), |mut b, (value, prefix)| {
                    b.push_bind(list.0 as i64)
                        .push_bind(value.to_string())
                        .push_bind(i64::from(*prefix))
                        .push_bind(ms(now))
                        .push_bind(source.to_string());
                });
                qb.push(" ON CONFLICT DO NOTHING");
                added += qb.build().execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
        });
        self.sync_dnc().await?;
        Ok(added)
    }

    /// Loads a file with one number or prefix a line (a register extract
    /// such as NIX): numbers in any written form (national ones read in
    /// `region`), prefixes as digits with a trailing `*`; `#` starts a
    /// comment. With `replace`, the list's old entries go first (a register
    /// extract is a whole snapshot). Unreadable lines are reported, not
    /// dropped.
    pub async fn load_dnc_text(
        &self,
        list: DncListId,
        text: &str,
        options: &DncLoadOptions,
        now: Timestamp,
    ) -> Result<DncLoadReport, StoreError> {
        let region = options.region;
        let replace = options.replace;
        // The wash date is what the rule sets' register checks read: it must
        // be a real date, stored in one form.
        let wash_date = match options.wash_date.as_deref().map(str::trim) {
            Some(text) => Some(
                text.parse::<jiff::civil::Date>()
                    .map_err(|err| {
                        StoreError::Invalid(format!(
                            "wash date {text:?} is not a date (YYYY-MM-DD): {err}"
                        ))
                    })?
                    .to_string(),
            ),
            None => None,
        };
        let wash_date = wash_date.as_deref();
        let source = options.source.as_str();
        let mut report = DncLoadReport::default();
        let mut entries: Vec<(String, bool)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i as u64 + 1;
            let content =
                line.split('#').next().unwrap_or("").trim().trim_start_matches('\u{feff}');
            if content.is_empty() {
                report.skipped += 1;
                continue;
            }
            if let Some(prefix) = content.strip_suffix('*') {
                let digits: String = prefix.chars().filter(|c| c.is_ascii_digit()).collect();
                let clean = prefix.chars().all(|c| c.is_ascii_digit() || " -+".contains(c));
                if clean && !digits.is_empty() && digits.len() <= 15 {
                    entries.push((digits, true));
                    report.prefixes += 1;
                } else {
                    report.invalid.push((
                        line_no,
                        content.to_string(),
                        "not a digit prefix".into(),
                    ));
                }
                continue;
            }
            match PhoneNumber::parse(content, region) {
                Ok(number) => {
                    entries.push((number.digits().to_string(), false));
                    report.numbers += 1;
                }
                Err(err) => report.invalid.push((line_no, content.to_string(), err.to_string())),
            }
        }
        if replace {
            on_db!(self, pool => {
                sqlx::query("DELETE FROM dnc_entries WHERE list_id = $1")
                    .bind(list.0 as i64)
                    .execute(pool)
                    .await?;
            });
        }
        let refs: Vec<(&str, bool)> = entries.iter().map(|(v, p)| (v.as_str(), *p)).collect();
        self.insert_dnc_entries(list, &refs, source, now).await?;
        if let Some(date) = wash_date {
            on_db!(self, pool => {
                sqlx::query("UPDATE dnc_lists SET wash_date = $1 WHERE id = $2")
                    .bind(date)
                    .bind(list.0 as i64)
                    .execute(pool)
                    .await?;
            });
        }
        if replace || wash_date.is_some() {
            self.reload_dnc().await?;
        }
        Ok(report)
    }

    /// [`Store::load_dnc_text`] from a file (UTF-8 or Latin-1).
    pub async fn load_dnc_file(
        &self,
        list: DncListId,
        path: &Path,
        options: &DncLoadOptions,
        now: Timestamp,
    ) -> Result<DncLoadReport, StoreError> {
        let bytes = tokio::fs::read(path).await?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => encoding_rs::WINDOWS_1252.decode(err.as_bytes()).0.into_owned(),
        };
        self.load_dnc_text(list, &text, options, now).await
    }

    /// The list that blocks `number` for `campaign` (every list when
    /// `None`), from memory: the check made immediately before every dial.
    pub fn dnc_check(
        &self,
        number: &PhoneNumber,
        campaign: Option<CampaignId>,
    ) -> Option<DncBlock> {
        let memory = self.dnc_memory();
        if !memory.erased.is_empty() && memory.erased.contains(&self.number_hash(number)) {
            return Some(DncBlock {
                list: GLOBAL_DNC,
                list_name: "erased on request".to_string(),
                kind: DncKind::Global,
                added_at: None,
                prefix: false,
                erased: true,
                wash_date: None,
            });
        }
        let all: Vec<DncListId>;
        let lists: &[DncListId] = match campaign {
            Some(c) => memory.campaign_lists.get(&c).map(Vec::as_slice).unwrap_or(&[]),
            None => {
                all = memory.lists.keys().copied().collect();
                &all
            }
        };
        let hit = memory.index.lookup(number, lists)?;
        let list = memory.lists.get(&hit.list);
        Some(DncBlock {
            list: hit.list,
            list_name: list.map(|l| l.name.clone()).unwrap_or_else(|| hit.list.to_string()),
            kind: list.map(|l| l.kind).unwrap_or(DncKind::Campaign),
            added_at: hit.added_at,
            prefix: hit.prefix,
            erased: false,
            wash_date: list.and_then(|l| l.wash_date.clone()),
        })
    }

    /// Every list that blocks `number`, with when each entry was added.
    pub fn dnc_blocks(&self, number: &PhoneNumber) -> Vec<DncBlock> {
        let mut blocks = Vec::new();
        if let Some(block) = self.dnc_check(number, None)
            && block.erased
        {
            blocks.push(block);
        }
        for list in self.dnc_lists() {
            let memory = self.dnc_memory();
            if let Some(hit) = memory.index.lookup(number, &[list.id])
                && hit.list == list.id
            {
                blocks.push(DncBlock {
                    list: list.id,
                    list_name: list.name.clone(),
                    kind: list.kind,
                    added_at: hit.added_at,
                    prefix: hit.prefix,
                    erased: false,
                    wash_date: list.wash_date.clone(),
                });
            }
        }
        blocks
    }

    /// The one-way hash kept for an erased number (SHA-256 of the
    /// installation's salt and the E.164 text).
    pub fn number_hash(&self, number: &PhoneNumber) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.salt.as_bytes());
        hasher.update(number.as_str().as_bytes());
        hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Records a customer's request not to be called again: the number goes
    /// on the campaign's target list (default global) and pending callbacks
    /// of contacts with this number, in every campaign that honours the
    /// list, are cancelled with the reason visible.
    pub async fn record_dnc_request(
        &self,
        campaign: CampaignId,
        number: &PhoneNumber,
        source: &str,
        now: Timestamp,
    ) -> Result<(DncListId, u64), StoreError> {
        let target = self.campaign(campaign).await?.dnc_target;
        self.add_dnc(target, number, source, now).await?;
        let cancelled = self.cancel_callbacks_for_number(target, number, now).await?;
        Ok((target, cancelled))
    }

    pub(crate) async fn cancel_callbacks_for_number(
        &self,
        list: DncListId,
        number: &PhoneNumber,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let campaigns: Option<Vec<i64>> = if list == GLOBAL_DNC {
            None
        } else {
            let memory = self.dnc_memory();
            Some(
                memory
                    .campaign_lists
                    .iter()
                    .filter(|(_, lists)| lists.contains(&list))
                    .map(|(c, _)| c.0 as i64)
                    .collect(),
            )
        };
        let cancelled = on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let ids: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT cb.id, cb.campaign_id FROM callbacks cb \
                 JOIN contact_numbers n ON n.contact_id = cb.contact_id \
                 WHERE n.e164 = $1 AND cb.state IN ('pending', 'escalated')",
            )
            .bind(number.as_str())
            .fetch_all(&mut *tx)
            .await?;
            let mut cancelled = 0;
            for (id, campaign) in ids {
                if campaigns.as_ref().is_some_and(|c| !c.contains(&campaign)) {
                    continue;
                }
                cancelled += sqlx::query(
                    "UPDATE callbacks SET state = 'cancelled', cancel_reason = $1, \
                     updated_at = $2 WHERE id = $3 AND state IN ('pending', 'escalated')",
                )
                .bind(DNC_CANCEL_REASON)
                .bind(ms(now))
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
            cancelled
        });
        Ok(cancelled)
    }

    /// Erases a contact on request: name, address, fields, numbers and
    /// recordings go; a salted one-way hash of each number stays so that the
    /// number remains blocked everywhere.
    pub async fn erase_contact(
        &self,
        contact: ContactId,
        now: Timestamp,
    ) -> Result<ErasureReport, StoreError> {
        let id = contact.0 as i64;
        let mut report = ErasureReport::default();
        let (numbers, paths) = on_db!(self, pool => {
            let numbers: Vec<String> =
                sqlx::query_scalar("SELECT e164 FROM contact_numbers WHERE contact_id = $1")
                    .bind(id)
                    .fetch_all(pool)
                    .await?;
            let mut paths: Vec<String> =
                sqlx::query_scalar("SELECT path FROM recordings WHERE contact_id = $1")
                    .bind(id)
                    .fetch_all(pool)
                    .await?;
            let inbound: Vec<String> = sqlx::query_scalar(
                "SELECT recording FROM inbound_calls \
                 WHERE contact_id = $1 AND recording IS NOT NULL",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            paths.extend(inbound);
            (numbers, paths)
        });
        let hashes: Vec<String> = numbers
            .iter()
            .filter_map(|n| PhoneNumber::from_e164(n).ok())
            .map(|n| self.number_hash(&n))
            .collect();
        let cancelled = on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let found = sqlx::query(
                "UPDATE contacts SET name = NULL, name_search = NULL, address = NULL, \
                 postal_code = NULL, fields = '{}', active = 0, erased = 1, \
                 state = CASE WHEN state = 1 THEN 1 ELSE 3 END, version = version + 1 \
                 WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if found == 0 {
                return Err(StoreError::NotFound(format!("{contact}")));
            }
            for hash in &hashes {
                sqlx::query(
                    "INSERT INTO erased_numbers (hash, erased_at) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(hash)
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("DELETE FROM contact_numbers WHERE contact_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE attempts SET number = 'erased', caller_id = NULL WHERE contact_id = $1",
            )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE orders SET number = 'erased' WHERE contact_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM recordings WHERE contact_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE inbound_calls SET number = 'erased', note = NULL, recording = NULL \
                 WHERE contact_id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let cancelled = sqlx::query(
                "UPDATE callbacks SET state = 'cancelled', cancel_reason = $1, note = NULL, \
                 updated_at = $2 WHERE contact_id = $3 AND state IN ('pending', 'escalated')",
            )
            .bind("cancelled: the contact was erased on request")
            .bind(ms(now))
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            cancelled
        });
        report.numbers_hashed = hashes.len() as u64;
        report.callbacks_cancelled = cancelled;
        self.dnc_memory_mut().erased.extend(hashes);
        // The rows are gone: every file is tried, and one that cannot be
        // removed is reported rather than ending the erasure half done.
        for path in paths {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => report.recordings_removed.push(path),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    report.recordings_missing.push(path)
                }
                Err(err) => report.recordings_left.push((path, err.to_string())),
            }
        }
        Ok(report)
    }

    /// Notes a recording file of an attempt (erasure removes it).
    pub async fn add_recording(
        &self,
        attempt: ringa_core::AttemptId,
        contact: ContactId,
        path: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO recordings (attempt_id, contact_id, path, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(attempt.0 as i64)
            .bind(contact.0 as i64)
            .bind(path)
            .bind(ms(now))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The recording files of a contact's attempts, oldest first: (attempt, path).
    pub async fn recordings_of_contact(
        &self,
        contact: ContactId,
    ) -> Result<Vec<(ringa_core::AttemptId, String)>, StoreError> {
        let rows: Vec<(i64, String)> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT attempt_id, path FROM recordings WHERE contact_id = $1 \
                 ORDER BY created_at, attempt_id",
            )
            .bind(contact.0 as i64)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(a, p)| (ringa_core::AttemptId(a as u64), p)).collect())
    }

    /// Rebuilds the in-memory index from the database.
    pub async fn reload_dnc(&self) -> Result<(), StoreError> {
        let (lists, attached, erased) = on_db!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, name, kind, campaign_id, wash_date FROM dnc_lists ORDER BY id",
            )
            .fetch_all(pool)
            .await?;
            let lists = rows.iter().map(dnc_list_from).collect::<Result<Vec<_>, StoreError>>()?;
            let attached: Vec<(i64, i64)> =
                sqlx::query_as("SELECT campaign_id, list_id FROM campaign_dnc")
                    .fetch_all(pool)
                    .await?;
            let erased: Vec<String> = sqlx::query_scalar("SELECT hash FROM erased_numbers")
                .fetch_all(pool)
                .await?;
            (lists, attached, erased)
        });
        {
            let mut memory = self.dnc_memory_mut();
            *memory = DncMemory::default();
            memory.lists = lists.into_iter().map(|l| (l.id, l)).collect();
            for (campaign, list) in attached {
                memory
                    .campaign_lists
                    .entry(CampaignId(campaign as u64))
                    .or_default()
                    .push(DncListId(list as u64));
            }
            memory.erased = erased.into_iter().collect();
        }
        self.sync_dnc().await
    }

    /// Brings the in-memory index up to date with entries added since the
    /// last call (by this node or another one sharing the database).
    pub async fn sync_dnc(&self) -> Result<(), StoreError> {
        loop {
            let last = self.dnc_memory().last_entry;
            let rows: Vec<(i64, i64, String, i64, i64)> = on_db!(self, pool => {
                sqlx::query_as(
                    "SELECT id, list_id, value, is_prefix, added_at FROM dnc_entries \
                     WHERE id > $1 ORDER BY id LIMIT 100000",
                )
                .bind(last)
                .fetch_all(pool)
                .await?
            });
            if rows.is_empty() {
                return Ok(());
            }
            let mut memory = self.dnc_memory_mut();
            for (id, list, value, prefix, added_at) in rows {
                let list = DncListId(list as u64);
                let added_at = ts(added_at).ok();
                if prefix != 0 {
                    memory.index.add_prefix(list, &value, added_at);
                } else if let Ok(number) = PhoneNumber::from_e164(&format!("+{value}")) {
                    memory.index.add(list, &number, added_at);
                }
                memory.last_entry = memory.last_entry.max(id);
            }
        }
    }

    /// Brings the in-memory lists up to date with what another process
    /// (`ringa dnc add`, `ringa dnc load`, a second node) wrote: new entries
    /// always, and the lists, their campaigns and erased numbers again when
    /// their counts or wash dates changed. Cheap enough to call every second.
    /// Removed entries stay in memory until the next reload (they only block
    /// a dial the database check would have allowed).
    pub async fn refresh_dnc(&self) -> Result<(), StoreError> {
        let signature: (i64, i64, i64, String) = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM dnc_lists), (SELECT COUNT(*) FROM campaign_dnc), \
                 (SELECT COUNT(*) FROM erased_numbers), \
                 (SELECT COALESCE(MAX(COALESCE(wash_date, '')), '') FROM dnc_lists) \
                 || ':' || (SELECT COUNT(*) FROM dnc_lists WHERE wash_date IS NOT NULL)",
            )
            .fetch_one(pool)
            .await?
        });
        let stale = {
            let memory = self.dnc_memory();
            let attached: usize = memory.campaign_lists.values().map(Vec::len).sum();
            let washes = memory.lists.values().filter(|l| l.wash_date.is_some()).count();
            let last_wash =
                memory.lists.values().filter_map(|l| l.wash_date.clone()).max().unwrap_or_default();
            signature
                != (
                    memory.lists.len() as i64,
                    attached as i64,
                    memory.erased.len() as i64,
                    format!("{last_wash}:{washes}"),
                )
        };
        if stale { self.reload_dnc().await } else { self.sync_dnc().await }
    }

    /// Runs [`Store::refresh_dnc`] every `period` until the runtime stops:
    /// a long-running node (`ringa serve`) sees lists changed by other
    /// processes within that bound.
    pub fn watch_dnc(&self, period: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(err) = store.refresh_dnc().await {
                    tracing::warn!(error = %err, "could not re-read the do-not-call lists");
                }
            }
        })
    }

    fn dnc_memory(&self) -> std::sync::RwLockReadGuard<'_, DncMemory> {
        self.dnc.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn dnc_memory_mut(&self) -> std::sync::RwLockWriteGuard<'_, DncMemory> {
        self.dnc.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn dnc_list_from(r: &impl RowExt) -> Result<DncListRow, StoreError> {
    Ok(DncListRow {
        id: DncListId(r.int("id")? as u64),
        name: r.text("name")?,
        kind: DncKind::parse(&r.text("kind")?)?,
        campaign: r.opt_int("campaign_id")?.map(|c| CampaignId(c as u64)),
        wash_date: r.opt_text("wash_date")?,
    })
}
