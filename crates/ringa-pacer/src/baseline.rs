//! The simple pacers: one call per ready agent, and a fixed ratio.

use jiff::Timestamp;

use crate::{CallFeatures, FloorView, Pacer, PacerEvent};

/// One call per ready agent, never more: no drops by construction.
#[derive(Clone, Debug, Default)]
pub struct Progressive;

impl Progressive {
    pub fn new() -> Progressive {
        Progressive
    }
}

impl Pacer for Progressive {
    fn name(&self) -> String {
        "progressive".to_string()
    }

    fn observe(&mut self, _now: Timestamp, _event: &PacerEvent) {}

    fn decide(&mut self, floor: &FloorView<'_>) -> u32 {
        let lines = floor.calls.len();
        (floor.ready().saturating_sub(lines) as u32).min(floor.max_new)
    }

    fn p_human(&self, _features: &CallFeatures) -> f64 {
        0.5
    }
}

/// `R` calls in flight per ready agent.
#[derive(Clone, Debug)]
pub struct Ratio {
    ratio: f64,
}

impl Ratio {
    pub fn new(ratio: f64) -> Ratio {
        Ratio { ratio }
    }
}

impl Pacer for Ratio {
    fn name(&self) -> String {
        format!("ratio:{}", self.ratio)
    }

    fn observe(&mut self, _now: Timestamp, _event: &PacerEvent) {}

    fn decide(&mut self, floor: &FloorView<'_>) -> u32 {
        let wanted = (self.ratio * floor.ready() as f64).round() as usize;
        (wanted.saturating_sub(floor.calls.len()) as u32).min(floor.max_new)
    }

    fn p_human(&self, _features: &CallFeatures) -> f64 {
        0.5
    }
}
