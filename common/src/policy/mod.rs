//! Policies (placeholder; being written).
