//! How a world plugs into the parts the built-in protocols share: the workload's
//! [`Client`](crate::workload::Client) and the coordinator's
//! [`Admission`](crate::workload::Admission) of its requests (at most once, across
//! the coordinator's crashes: see [`crate::workload::admission`]).
//!
//! Those parts reach a world through small traits: which message carries a request,
//! an answer or "stale", which timer is the client's, where the durable parts live
//! ([`ClientWorld`], [`HearsAnswers`], [`AnswersStale`], [`AdmittingWorld`]). Every
//! built-in names these parts the same way, so two macros write the impls:
//!
//! - [`client_world!`](crate::client_world): a world with a client (every built-in);
//! - [`admitting_world!`](crate::admitting_world): one whose coordinator admits the
//!   client's requests (2PC, 3PC, TCC).
//!
//! Inside this crate they are in scope by name (`protocols` declares this module
//! `#[macro_use]`); a user's crate calls them as `acidbase::client_world!`.
//!
//! A world that names its parts otherwise implements the traits by hand, as the
//! one-phase-commit example of the book does (`tests/user_crate/src/main.rs`).
//!
//! [`ClientWorld`]: crate::workload::ClientWorld
//! [`HearsAnswers`]: crate::workload::HearsAnswers
//! [`AnswersStale`]: crate::workload::AnswersStale
//! [`AdmittingWorld`]: crate::workload::AdmittingWorld

/// Implements the client's traits for a world that names its parts the built-ins'
/// way:
///
/// - `$msg::Request(TxnRequest)` carries a request to the coordinator,
///   `$msg::Reply { txn, outcome }` a definite answer and `$msg::Stale { txn, floor }`
///   "cannot tell; use ids from `floor`";
/// - `$timer::Client(ClientTimer)` is the client's timer;
/// - `$durable` keeps the client's id watermark in `txn_watermark: u64`.
///
/// It implements [`ClientWorld`](crate::workload::ClientWorld),
/// [`HearsAnswers`](crate::workload::HearsAnswers) (so the client role hands its
/// messages to [`Client::on_message`](crate::workload::Client::on_message)) and
/// [`AnswersStale`](crate::workload::AnswersStale). Written as
///
/// ```text
/// acidbase::client_world! { node: SagaNode, msg: Msg, timer: Timer, durable: Durable }
/// ```
#[macro_export]
macro_rules! client_world {
    (node: $node:ty, msg: $msg:ident, timer: $timer:ident, durable: $durable:ty $(,)?) => {
        impl $crate::workload::ClientWorld for $node {
            fn request_msg(req: $crate::workload::TxnRequest) -> $msg {
                $msg::Request(req)
            }
            fn client_timer(t: $crate::workload::ClientTimer) -> $timer {
                $timer::Client(t)
            }
            fn watermark(d: &$durable) -> u64 {
                d.txn_watermark
            }
            fn set_watermark(d: &mut $durable, to: u64) {
                d.txn_watermark = to;
            }
        }

        impl $crate::workload::HearsAnswers for $node {
            fn answer(msg: $msg) -> Option<$crate::workload::Answer> {
                match msg {
                    $msg::Reply { txn, outcome } => {
                        Some($crate::workload::Answer::Outcome { txn, outcome })
                    }
                    $msg::Stale { txn, floor } => {
                        Some($crate::workload::Answer::Stale { txn, floor })
                    }
                    _ => None,
                }
            }
        }

        impl $crate::workload::AnswersStale for $node {
            fn stale_msg(txn: $crate::node::TxnId, floor: $crate::node::TxnId) -> $msg {
                $msg::Stale { txn, floor }
            }
        }
    };
}

/// Implements [`AdmittingWorld`](crate::workload::AdmittingWorld) for a world whose
/// coordinator admits the client's requests (with [`client_world!`](crate::client_world)
/// for the rest): `$durable` keeps the coordinator's admission log in
/// `admission: AdmissionLog`, and `$msg::Reply { txn, outcome }` answers a stale copy
/// whose outcome the log still holds. The coordinator's durable store at the start
/// is then [`AdmittingWorld::tm_durable`](crate::workload::AdmittingWorld::tm_durable).
/// Written as
///
/// ```text
/// acidbase::admitting_world! { node: TwoPcNode, msg: Msg, durable: Durable }
/// ```
#[macro_export]
macro_rules! admitting_world {
    (node: $node:ty, msg: $msg:ident, durable: $durable:ty $(,)?) => {
        impl $crate::workload::AdmittingWorld for $node {
            fn admission_log(d: &$durable) -> &$crate::workload::AdmissionLog {
                &d.admission
            }
            fn set_admission_log(d: &mut $durable, log: $crate::workload::AdmissionLog) {
                d.admission = log;
            }
            fn reply_msg(txn: $crate::node::TxnId, outcome: $crate::node::Outcome) -> $msg {
                $msg::Reply { txn, outcome }
            }
        }
    };
}
