//! RQL filters (placeholder; being written).
