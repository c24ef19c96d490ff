//! Lead intake with group commit. `POST /api/v1/leads` washes the number
//! in the request's own task and hands the lead to one intake task, which
//! stores every lead waiting at that moment in one durable transaction,
//! already claimed for this node's floor ([`Store::insert_leads`]). Each
//! request is answered once the commit that holds its lead is done; then
//! the claimed leads go to the floor, which has the engine dial them first.
//!
//! While one commit is in flight the next requests queue, so the group
//! grows with the load and a burst costs a few commits, not one per lead.
//! A lead is never answered 202 before it is on disk; a node that stops
//! before dialing it gives the claim back on its next start and the lead
//! is dialed from the store like any other.
//!
//! A lead whose number already belongs to an open contact of the campaign
//! (not finished, not blocked), stored earlier or earlier in the same
//! group, is a duplicate: nothing is stored or dialed, and the request is
//! answered with the existing contact. The check runs in the intake task,
//! which handles one group at a time, so two requests racing with the same
//! number cannot both create a contact.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use jiff::Timestamp;
use ringa_core::{CampaignId, ContactId, ListId, Region, ZoneName};
use ringa_store::{Claim, NewLead, Store};
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, info_span, warn};

use crate::error::WebError;
use crate::floor::Floor;

/// The most leads stored in one transaction.
const MAX_GROUP: usize = 512;
/// Requests waiting for the intake task before senders wait too.
const QUEUE: usize = 4096;

/// Where a campaign's leads go and how their numbers are read.
#[derive(Clone, Debug)]
pub struct Target {
    pub campaign: CampaignId,
    pub region: Region,
    pub list: ListId,
}

/// A stored lead, claimed for the floor, with what the engine's card needs.
#[derive(Clone, Debug)]
pub struct StoredLead {
    pub claim: Claim,
    pub name: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub zone: Option<ZoneName>,
}

/// What became of a submitted lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// Stored as this new contact, claimed for the floor.
    New(ContactId),
    /// The number belongs to this open contact of the campaign already.
    Duplicate(ContactId),
}

struct Pending {
    lead: NewLead,
    reply: oneshot::Sender<Result<Stored, String>>,
}

/// The handle request handlers hold.
pub struct Intake {
    tx: mpsc::Sender<Pending>,
    /// Campaign → target, kept until the campaign is saved again (neither
    /// a campaign's region nor its lead list change otherwise). A plain
    /// mutex: held for a lookup.
    targets: Mutex<HashMap<CampaignId, Target>>,
    /// Held while a target is read or its list made, so that a burst of
    /// first requests makes one `Leads` list, not one each.
    loading: tokio::sync::Mutex<()>,
}

impl Intake {
    /// Starts the intake task; its claims belong to `worker`, the floor's.
    pub fn start(store: Store, floor: Floor, worker: String) -> Intake {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, floor, worker, rx).instrument(info_span!("intake")));
        Intake { tx, targets: Mutex::new(HashMap::new()), loading: tokio::sync::Mutex::new(()) }
    }

    /// The campaign's region and lead list (the list `Leads`, made when
    /// missing). `NotFound` for an unknown campaign.
    pub async fn target(&self, store: &Store, campaign: CampaignId) -> Result<Target, WebError> {
        if let Some(target) = self.cached(campaign) {
            return Ok(target);
        }
        let _loading = self.loading.lock().await;
        if let Some(target) = self.cached(campaign) {
            return Ok(target);
        }
        let row = store.campaign(campaign).await?;
        let list = store.ensure_list(row.id, "Leads", Timestamp::now()).await?;
        let target = Target { campaign: row.id, region: row.region, list: list.id };
        self.targets
            .lock()
            .expect("no intake-cache user panics holding it")
            .insert(campaign, target.clone());
        Ok(target)
    }

    fn cached(&self, campaign: CampaignId) -> Option<Target> {
        self.targets.lock().expect("no intake-cache user panics holding it").get(&campaign).cloned()
    }

    /// Forgets what is known of a campaign (it was changed).
    pub fn forget(&self, campaign: CampaignId) {
        self.targets.lock().expect("no intake-cache user panics holding it").remove(&campaign);
    }

    /// Stores a lead; answers with its contact once it is committed, or
    /// with the open contact that has its number already.
    pub async fn submit(&self, lead: NewLead) -> Result<Stored, WebError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || WebError::Internal("lead intake has stopped".into());
        self.tx.send(Pending { lead, reply }).await.map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(|why| WebError::Internal(format!("the lead was not stored: {why}")))
    }
}

/// The intake task: one transaction per group of waiting leads.
async fn run(store: Store, floor: Floor, worker: String, mut rx: mpsc::Receiver<Pending>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let pending = std::mem::take(&mut group);
        let (fresh, duplicates) = match split_duplicates(&store, pending).await {
            Ok(split) => split,
            Err((replies, why)) => {
                warn!(leads = replies.len(), error = %why, "could not check leads for duplicates");
                for reply in replies {
                    let _ = reply.send(Err(why.clone()));
                }
                continue;
            }
        };
        let (leads, replies): (Vec<NewLead>, Vec<_>) =
            fresh.into_iter().map(|p| (p.lead, p.reply)).unzip();
        match store.insert_leads(&leads, &worker, Timestamp::now()).await {
            Ok(claims) => {
                for (reply, claim) in replies.into_iter().zip(&claims) {
                    let _ = reply.send(Ok(Stored::New(claim.contact)));
                }
                for (reply, index) in duplicates {
                    let _ = reply.send(Ok(Stored::Duplicate(claims[index].contact)));
                }
                let stored = leads
                    .into_iter()
                    .zip(claims)
                    .map(|(lead, claim)| StoredLead {
                        claim,
                        name: lead.contact.name,
                        fields: lead.contact.fields,
                        zone: lead.contact.zone,
                    })
                    .collect();
                if let Err(why) = floor.leads(stored).await {
                    warn!(error = %why, "stored leads not handed to the floor; \
                        they are dialed after the next start");
                }
            }
            Err(err) => {
                warn!(leads = leads.len(), error = %err, "could not store leads");
                let why = err.to_string();
                let later = duplicates.into_iter().map(|(reply, _)| reply);
                for reply in replies.into_iter().chain(later) {
                    let _ = reply.send(Err(why.clone()));
                }
            }
        }
    }
}

type Reply = oneshot::Sender<Result<Stored, String>>;

/// Answers the leads whose number an open contact of their campaign holds
/// already; returns the leads to store and the duplicates of leads among
/// them, each with the index of the lead it repeats (answered after the
/// commit). On a store error, every reply and why.
async fn split_duplicates(
    store: &Store,
    pending: Vec<Pending>,
) -> Result<(Vec<Pending>, Vec<(Reply, usize)>), (Vec<Reply>, String)> {
    // The numbers asked for, by campaign: one query per campaign and group.
    let mut asked: HashMap<CampaignId, Vec<String>> = HashMap::new();
    for p in &pending {
        if let Some(number) = p.lead.contact.numbers.first() {
            asked.entry(p.lead.campaign).or_default().push(number.number.as_str().to_string());
        }
    }
    let mut known: HashMap<(CampaignId, String), ContactId> = HashMap::new();
    for (campaign, numbers) in asked {
        match store.open_contacts_by_number(campaign, &numbers).await {
            Ok(found) => {
                known.extend(found.into_iter().map(|(n, id)| ((campaign, n), id)));
            }
            Err(err) => {
                let replies = pending.into_iter().map(|p| p.reply).collect();
                return Err((replies, err.to_string()));
            }
        }
    }
    let mut fresh = Vec::with_capacity(pending.len());
    let mut in_group: HashMap<(CampaignId, String), usize> = HashMap::new();
    let mut later = Vec::new();
    for p in pending {
        let key = p
            .lead
            .contact
            .numbers
            .first()
            .map(|n| (p.lead.campaign, n.number.as_str().to_string()));
        match key {
            Some(key) if known.contains_key(&key) => {
                let _ = p.reply.send(Ok(Stored::Duplicate(known[&key])));
            }
            Some(key) if in_group.contains_key(&key) => later.push((p.reply, in_group[&key])),
            Some(key) => {
                in_group.insert(key, fresh.len());
                fresh.push(p);
            }
            None => fresh.push(p),
        }
    }
    Ok((fresh, later))
}
