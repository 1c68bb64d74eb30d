//! The built-in protocols, one module each, all written against the public
//! [`Node`](crate::node::Node) API — the same one a user implements.

pub mod messaging;
pub mod saga;
pub mod service_calls;
pub mod tcc;
pub mod three_pc;
pub mod two_pc;
pub mod watermark;
