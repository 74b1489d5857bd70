//! The `aito` binary.

fn main() {}
