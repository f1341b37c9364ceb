//! SQLite store (filled in by the foundation change).
