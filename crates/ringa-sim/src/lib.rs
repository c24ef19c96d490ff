//! A discrete-event simulator of a call center that drives the real ringa
//! engine on virtual time.
//!
//! A [`Scenario`] (TOML, see `docs/scenarios.md`) describes agents, the
//! people called, the trunk, answering-machine detection and the campaign.
//! [`Simulation::run`] plays it through the same sans-IO engine that runs the
//! live floor, talking to it only through its `Input`s and `Command`s, and
//! returns a [`Report`]. Runs are fully determined by their seed. Each call's
//! fate is drawn at `Originate` from a random stream keyed by the seed and
//! the call number ([`fate_of`]); a pacer built for the simulator may look
//! at the fates of calls in flight through a [`FateOracle`]
//! ([`Simulation::with_oracle`]).

pub mod dist;
pub mod fate;
pub mod report;
pub mod scenario;
mod sim;

pub use dist::Dist;
pub use fate::{CallContext, ContactTraits, Fate, FateKind, FateOracle, fate_of, p_live};
pub use report::Report;
pub use scenario::{Scenario, ScenarioError};
pub use sim::{ContactBook, Progress, Simulation};
