//! Each campaign's learned state: one document per campaign (the pacer's
//! models and the voicemail models, as the engine writes them) with the
//! time it was saved. The store keeps the text as it is given; reading it
//! back into models, and refusing a document that does not fit, is the
//! engine's business (`ringa_engine::LearnedState::from_json`).

use jiff::Timestamp;
use ringa_core::CampaignId;
use sqlx::Row;

use crate::db::on_db;
use crate::time::{ms, ts};
use crate::{Store, StoreError};

/// A campaign's saved learned state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LearnedStateRow {
    pub campaign: CampaignId,
    /// The document as it was saved (JSON with a version field).
    pub document: String,
    /// When it was saved.
    pub updated_at: Timestamp,
}

impl Store {
    /// Keeps `document` as the campaign's learned state, in place of the
    /// one saved before. `NotFound` when there is no such campaign.
    pub async fn save_learned_state(
        &self,
        campaign: CampaignId,
        document: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let id = i64::try_from(campaign.0)
            .map_err(|_| StoreError::NotFound(format!("campaign {campaign}")))?;
        let sql = "INSERT INTO campaign_learned_state (campaign_id, document, updated_at) \
                   SELECT id, $2, $3 FROM campaigns WHERE id = $1 \
                   ON CONFLICT (campaign_id) DO UPDATE \
                   SET document = excluded.document, updated_at = excluded.updated_at";
        let saved = on_db!(self, pool => {
            sqlx::query(sql)
                .bind(id)
                .bind(document)
                .bind(ms(at))
                .execute(pool)
                .await?
                .rows_affected()
        });
        if saved == 0 {
            return Err(StoreError::NotFound(format!("campaign {campaign}")));
        }
        Ok(())
    }

    /// The campaign's saved learned state, if one was saved.
    pub async fn learned_state(
        &self,
        campaign: CampaignId,
    ) -> Result<Option<LearnedStateRow>, StoreError> {
        let Ok(id) = i64::try_from(campaign.0) else { return Ok(None) };
        let sql = "SELECT document, updated_at FROM campaign_learned_state WHERE campaign_id = $1";
        let row = on_db!(self, pool => {
            let row = sqlx::query(sql).bind(id).fetch_optional(pool).await?;
            match row {
                Some(row) => Some((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?)),
                None => None,
            }
        });
        let Some((document, updated_at)) = row else { return Ok(None) };
        let updated_at = ts(updated_at).map_err(|err| {
            StoreError::Corrupt(format!("campaign {campaign}'s learned state: {err}"))
        })?;
        Ok(Some(LearnedStateRow { campaign, document, updated_at }))
    }
}
