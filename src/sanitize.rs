//! Sanitizer.
