//! Pacing: how many calls a campaign should place right now.
//!
//! A [`Pacer`] is a sans-IO strategy. The engine shows it the floor (agents
//! and their states, calls in flight, the drop budget) as a [`FloorView`]
//! and asks for a number of new calls; it tells the pacer what happened
//! through [`PacerEvent`]s so that the pacer can learn. Nothing here reads a
//! clock: the time is in the view and in every event.
//!
//! Strategies are chosen by name with [`by_name`], so that the simulator, the
//! benchmark and the configuration pick them the same way.

mod adaptive;
pub mod answer;
mod baseline;
pub mod budget;
mod floor;
mod predictive;
pub mod prob;
pub mod timing;

pub use adaptive::AdaptiveLevel;
pub use answer::{AnswerModel, CalibrationReport, ReliabilityBin};
pub use baseline::{Progressive, Ratio};
pub use budget::BudgetRule;
pub use floor::{
    AgentActivity, AgentView, CallFeatures, CallView, DropBudget, FloorView, PacerEvent,
};
pub use predictive::{PacerState, Predictive, PredictiveConfig};

use std::fmt;

use jiff::Timestamp;

/// A pacing strategy.
pub trait Pacer: Send {
    /// The strategy's name as `--pacer` takes it.
    fn name(&self) -> String;

    /// Learns from something that happened.
    fn observe(&mut self, now: Timestamp, event: &PacerEvent);

    /// How many new calls to place now, given the floor. The engine never
    /// places more than `floor.max_new` whatever the answer.
    fn decide(&mut self, floor: &FloorView<'_>) -> u32;

    /// The probability that a call with these features is answered by a
    /// person, as the pacer's model estimates it.
    fn p_human(&self, features: &CallFeatures) -> f64;

    /// Whether a call to [`Pacer::decide`] at `now` could place anything; a
    /// pacer that throttles its work says no between its steps, so the
    /// engine can skip building the floor view.
    fn wants_decision(&self, _now: Timestamp) -> bool {
        true
    }

    /// When the pacer wants to be asked again even if nothing happens.
    fn next_decision(&self) -> Option<Timestamp> {
        None
    }

    /// What the pacer has learned, to warm-start a later run; `None` for
    /// pacers that learn nothing.
    fn export_state(&self) -> Option<PacerState> {
        None
    }

    /// Starts from a state exported earlier.
    fn import_state(&mut self, _state: PacerState) -> Result<(), StateError> {
        Err(StateError::Unsupported(self.name()))
    }
}

/// A learned state could not be imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateError {
    /// This pacer learns nothing and takes no state.
    Unsupported(String),
    /// The state does not fit this pacer: a table of another size, a count
    /// that is negative or not a number (a corrupt or hand-edited state).
    Invalid(String),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Unsupported(name) => write!(f, "pacer {name} keeps no learned state"),
            StateError::Invalid(why) => write!(f, "the learned pacer state does not fit: {why}"),
        }
    }
}

impl std::error::Error for StateError {}

/// A pacer name that does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownPacer(pub String);

impl fmt::Display for UnknownPacer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown pacer {:?} (choose one of: {})", self.0, NAMES.join(", "))
    }
}

impl std::error::Error for UnknownPacer {}

/// The pacers [`by_name`] knows; the first is the recommended default.
pub const NAMES: &[&str] = &["predictive", "progressive", "ratio:R", "adaptive-level"];

/// The recommended pacer of predictive campaigns.
pub const DEFAULT: &str = "predictive";

/// Builds a pacer from its name: `predictive`, `progressive`, `ratio:1.5`,
/// `adaptive-level`.
pub fn by_name(name: &str) -> Result<Box<dyn Pacer>, UnknownPacer> {
    let name = name.trim();
    if name == "predictive" {
        return Ok(Box::new(Predictive::default()));
    }
    if name == "adaptive-level" {
        return Ok(Box::new(AdaptiveLevel::default()));
    }
    if name == "progressive" {
        return Ok(Box::new(Progressive::new()));
    }
    if let Some(ratio) = name.strip_prefix("ratio:") {
        let ratio: f64 = ratio.parse().map_err(|_| UnknownPacer(name.to_string()))?;
        if !(ratio.is_finite() && ratio >= 1.0) {
            return Err(UnknownPacer(name.to_string()));
        }
        return Ok(Box::new(Ratio::new(ratio)));
    }
    Err(UnknownPacer(name.to_string()))
}
