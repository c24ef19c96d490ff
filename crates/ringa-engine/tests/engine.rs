//! Behaviour tests of the engine, one module per area, all in one test
//! binary.

mod support;

mod amd_methods;
mod callbacks;
mod contacts;
mod eligibility_property;
mod inbound;
mod learned_state;
mod modes;
mod timing;
