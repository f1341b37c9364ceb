//! Config (filled in).
