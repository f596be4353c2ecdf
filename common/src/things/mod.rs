//! The things model: entity ids, JSON pointers, the resources a command path addresses, and field
//! selectors. Command semantics (create, modify, merge...) live in the hub, which owns the twins.

pub mod id;
pub mod keys;
pub mod pointer;
pub mod resource;
pub mod selector;

pub use id::EntityId;
pub use pointer::Pointer;
pub use resource::ThingResource;
pub use selector::FieldSelector;
