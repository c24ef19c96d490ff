//! Persistence for the ringa dialer: SQLite (one file, no setup) or
//! PostgreSQL, behind one async [`Store`].
//!
//! The store is the source of truth for campaigns, lists, contacts, attempts,
//! callbacks, outcomes, do-not-call lists, users and configuration. Claiming
//! a contact for dialing is one compare-and-set, every attempt is journaled
//! when it starts and when it ends, and [`Store::recover`] closes what a crash
//! left in flight. Import of delimited text files, do-not-call registers and
//! exports to folders, HTTP endpoints and e-mail live here as well.

mod callbacks;
mod campaigns;
mod db;
mod dialing;
mod dnc;
mod error;
pub mod export;
pub mod import;
mod inbound;
mod intake;
mod learned;
mod time;
mod web_support;

pub use callbacks::{CallbackFate, CallbackRequest, CallbackRow, CallbackState};
pub use campaigns::{
    CampaignRow, CancelReport, ContactRow, ListRow, NewContact, NewNumber, OrderRow, OutcomeRow,
    ResetReport, UserRow,
};
pub use db::{Backend, Store};
pub use dialing::{
    AttemptEnd, AttemptRow, AttemptStart, Claim, ClaimSource, FinishReport, NextStep,
    RecoveryReport, StoredNumber,
};
pub use dnc::{
    DNC_CANCEL_REASON, DncBlock, DncKind, DncListRow, DncLoadOptions, DncLoadReport, ErasureReport,
};
pub use error::StoreError;
pub use inbound::{InboundRow, InboundStart};
pub use intake::NewLead;
pub use learned::LearnedStateRow;
pub use web_support::{
    ChangeMarker, DialBlockers, MIN_ENDING_DIGITS, UserAuth, digits_reversed, fold_for_search,
};
