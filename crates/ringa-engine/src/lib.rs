//! The sans-IO dialer engine: dial modes, contact scheduling, callbacks,
//! agent states and drop handling.
//!
//! The engine is a state machine. Its driver tells it what happened with
//! [`Engine::handle`], giving the current time with every input, then
//! collects what to do with [`Engine::poll_command`] and asks when it wants
//! to be woken with [`Engine::poll_timeout`] (answer with [`Input::Tick`]).
//! It never reads a clock, opens a socket or touches storage, so the same
//! engine runs the live floor (driven by the SIP and web layers), the
//! simulator (on virtual time) and the JSON-lines protocol.
//!
//! Every dial passes [`ringa_core::may_dial`] immediately before its
//! `Originate` command, against the engine's live do-not-call index: a dial
//! the check forbids is never commanded, and every refusal is reported with
//! its reason.

pub mod agent;
pub mod callback;
mod engine;
pub mod io;
pub mod learned;
pub mod stats;

pub use agent::{Agent, AgentState, StateTimes};
pub use callback::{Callback, CallbackKind, CallbackRequest, CallbackState};
pub use engine::{Engine, EngineConfig, cannot_dial};
pub use io::{
    AmdReport, AnsweredBy, AttemptKind, AttemptRecord, CallEvent, Command, ContactEntry,
    DropReason, Input,
};
pub use learned::{LEARNED_STATE_VERSION, LearnedState, LearnedStateError};
pub use stats::{CampaignStats, DropLedger};
