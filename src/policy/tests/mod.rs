//! Tests of the policy: builders, per-condition tables, the default policy on
//! realistic states, config parsing, and safety properties (proptest).
