//! The built-in protocols, one module each, all written against the public
//! [`Node`](crate::node::Node) API — the same one a user implements.

pub mod tcc;
pub mod two_pc;
