//! The protocols, built-in and a user's alike, all written against the public
//! [`Node`](crate::node::Node) API and described to the tools by one trait,
//! [`Protocol`]: one folder per built-in protocol with its roles and its builder
//! (`build.rs`), and the parts they share: building a world ([`world`]), plugging it
//! into the client and the coordinator's admission ([`coordinated`]), the locking
//! participant of 2PC and 3PC ([`locking_rm`]) and their coordinator's resending of
//! Commit until acknowledged ([`commit_acks`]), the finished-below watermark of TCC
//! and the saga ([`watermark`]). Paxos Commit ([`paxos_commit`]) reuses the locking
//! participant and the client glue.

pub mod cache;
pub mod commit_acks;
pub mod ids;
pub mod local_cache;
#[macro_use]
pub mod coordinated;
#[macro_use]
pub mod locking_rm;
pub mod messaging;
pub mod paxos_commit;
mod protocol;
pub mod saga;
pub mod service_calls;
pub mod tcc;
pub mod three_pc;
pub mod two_pc;
pub mod watermark;
pub mod world;

pub use protocol::Protocol;

/// The built-in protocols, as registered by `run::Registry::builtin`.
pub mod builtin {
    pub use super::cache::build::Cache;
    pub use super::ids::build::Ids;
    pub use super::local_cache::build::LocalCache;
    pub use super::messaging::build::Messaging;
    pub use super::paxos_commit::build::PaxosCommit;
    pub use super::saga::build::Saga;
    pub use super::service_calls::build::Calls;
    pub use super::tcc::build::Tcc;
    pub use super::three_pc::build::ThreePc;
    pub use super::two_pc::build::TwoPc;

    /// The built-in protocols' names.
    pub const NAMES: &[&str] = &[
        "2pc",
        "3pc",
        "tcc",
        "saga",
        "messaging",
        "calls",
        "paxos-commit",
        "cache",
        "local_cache",
        "ids",
    ];

    /// Whether `name` is a built-in protocol (whose builder is tested, so validation
    /// need not build its world; most have a section of their own for their options,
    /// Paxos Commit, `cache`, `local_cache` and `ids` read `options: (...)`).
    pub fn is_builtin(name: &str) -> bool {
        NAMES.contains(&name)
    }
}
