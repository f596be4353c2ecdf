//! Twins and the twin-channel thing commands.

pub mod apply;
pub mod command;
pub mod twin;
pub mod v1;
