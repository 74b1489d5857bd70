//! Examples live under examples/ as separate targets.
