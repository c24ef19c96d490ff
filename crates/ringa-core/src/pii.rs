//! Redaction of personal data in logs.
//!
//! Phone numbers and names are wrapped in [`Pii`] before they reach a log
//! line. By default the wrapper prints `[redacted]`; an operator who needs the
//! raw values to debug a trunk turns them on for the whole process with
//! [`set_reveal`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

static REVEAL: AtomicBool = AtomicBool::new(false);

/// Shows (`true`) or redacts (`false`, the default) personal data in every
/// [`Pii`] printed from now on.
pub fn set_reveal(reveal: bool) {
    REVEAL.store(reveal, Ordering::Relaxed);
}

/// Whether personal data is currently shown in logs.
pub fn revealed() -> bool {
    REVEAL.load(Ordering::Relaxed)
}

/// A value that is personal data: printed as `[redacted]` unless revealing
/// was switched on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Pii<T>(pub T);

impl<T: fmt::Display> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if revealed() { self.0.fmt(f) } else { f.write_str("[redacted]") }
    }
}

impl<T: fmt::Debug> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if revealed() { self.0.fmt(f) } else { f.write_str("[redacted]") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_by_default_and_reveals_on_request() {
        let number = Pii("+46701740605");
        assert_eq!(number.to_string(), "[redacted]");
        assert_eq!(format!("{number:?}"), "[redacted]");
        set_reveal(true);
        assert_eq!(number.to_string(), "+46701740605");
        set_reveal(false);
        assert_eq!(number.to_string(), "[redacted]");
    }
}
