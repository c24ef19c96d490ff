//! Finding what the list, contact and order commands name: a campaign by
//! name or id, a list, a contact. A name or id that matches nothing is an
//! error that says where the right one can be found.

use anyhow::{Context, Result, bail};
use ringa_core::{CampaignId, ContactId, ListId};
use ringa_store::{CampaignRow, ContactRow, ListRow, Store, StoreError};

/// The campaign `given` names: its name (as `ringa import --campaign` takes
/// it), else its id (`3` or `campaign-3`). Unlike the import, a missing
/// campaign is an error, never created.
pub(crate) async fn campaign(store: &Store, given: &str) -> Result<CampaignRow> {
    if let Some(row) = store.campaign_by_name(given).await.context("reading the campaigns")? {
        return Ok(row);
    }
    let digits = given.trim();
    let digits = digits.strip_prefix("campaign-").unwrap_or(digits);
    if let Ok(id) = digits.parse::<u64>() {
        match store.campaign(CampaignId(id)).await {
            Ok(row) => return Ok(row),
            Err(StoreError::NotFound(_)) => {}
            Err(err) => return Err(err).context("reading the campaign"),
        }
    }
    let existing = store.campaigns().await.context("reading the campaigns")?;
    let names: Vec<String> = existing.iter().map(|c| format!("{} ({})", c.name, c.id.0)).collect();
    let names = if names.is_empty() { "none".to_string() } else { names.join(", ") };
    bail!("no campaign {given:?}; give a campaign's name or id (existing campaigns: {names})");
}

/// The list with this id.
pub(crate) async fn list(store: &Store, id: u64) -> Result<ListRow> {
    match store.list(ListId(id)).await {
        Ok(row) => Ok(row),
        Err(StoreError::NotFound(_)) => {
            bail!("no list {id}; `ringa list show --campaign C` lists a campaign's lists")
        }
        Err(err) => Err(err).with_context(|| format!("reading list {id}")),
    }
}

/// The contact with this id.
pub(crate) async fn contact(store: &Store, id: u64) -> Result<ContactRow> {
    match store.contact(ContactId(id)).await {
        Ok(row) => Ok(row),
        Err(StoreError::NotFound(_)) => bail!(
            "no contact {id}; a contact's id is shown by the search on the campaign's \
             administration page and in the `contact` column of `ringa export attempts`"
        ),
        Err(err) => Err(err).with_context(|| format!("reading contact {id}")),
    }
}

/// The name of a campaign for messages, or its id when it cannot be read.
pub(crate) async fn campaign_name(store: &Store, id: CampaignId) -> String {
    match store.campaign(id).await {
        Ok(row) => row.name,
        Err(_) => id.to_string(),
    }
}
