//! Identifiers of the domain's things: small copyable newtypes so that a
//! campaign id can never be passed where a contact id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw number behind the id.
            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    };
}

id_type!(
    /// A campaign: one unit of outbound work.
    CampaignId,
    "campaign-"
);
id_type!(
    /// An imported list of contacts.
    ListId,
    "list-"
);
id_type!(
    /// One person or company to call.
    ContactId,
    "contact-"
);
id_type!(
    /// A person working the phones.
    AgentId,
    "agent-"
);
id_type!(
    /// One telephone call leg towards a customer, as the engine knows it.
    CallId,
    "call-"
);
id_type!(
    /// One dialing of one number of a contact.
    AttemptId,
    "attempt-"
);
id_type!(
    /// A scheduled callback.
    CallbackId,
    "callback-"
);
id_type!(
    /// A do-not-call list (global, per campaign, or a national register).
    DncListId,
    "dnc-"
);
