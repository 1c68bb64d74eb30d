//! The names every layer shares: node and transaction ids, sets of nodes, and a
//! transaction's two outcomes.
//!
//! They sit below everything that speaks of nodes — the observations nodes report,
//! the stores they guard, the network between them, the [`crate::node::Node`] API —
//! so that none of those has to depend on another to name a node. `crate::node`
//! re-exports them, the path most code uses.

use serde::Serialize;
use std::cell::RefCell;
use std::fmt::Debug;
use std::rc::Rc;

/// A node's index in the world (stable for a scenario; names are in the scenario).
///
/// It serializes as its index, except inside [`with_node_names`], where a
/// human-readable format (JSON) gets the node's name: that is how the `--trace`
/// lines write the nodes inside messages (the digest's encoder is never run there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

thread_local! {
    static NODE_NAMES: RefCell<Option<Rc<[String]>>> = const { RefCell::new(None) };
}

/// Runs `f` with node ids serializing as their names in `names` (by index); an index
/// beyond `names` stays a number. The names are set back when `f` returns.
pub fn with_node_names<R>(names: &Rc<[String]>, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<Rc<[String]>>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let old = self.0.take();
            NODE_NAMES.with(|n| *n.borrow_mut() = old);
        }
    }
    let old = NODE_NAMES.with(|n| n.borrow_mut().replace(Rc::clone(names)));
    let _reset = Reset(old);
    f()
}

/// The name of `id` inside [`with_node_names`], for a human-readable format.
fn name_for<S: serde::Serializer>(s: &S, id: NodeId) -> Option<String> {
    if !s.is_human_readable() {
        return None;
    }
    NODE_NAMES.with(|n| {
        n.borrow()
            .as_ref()
            .and_then(|names| names.get(id.index()).cloned())
    })
}

impl Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match name_for(&s, *self) {
            Some(name) => s.serialize_str(&name),
            None => s.serialize_newtype_struct("NodeId", &self.0),
        }
    }
}

/// A member of a [`NodeSet`] as it serializes: its index (its name inside
/// [`with_node_names`]).
struct Member(NodeId);

impl Serialize for Member {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match name_for(&s, self.0) {
            Some(name) => s.serialize_str(&name),
            None => s.serialize_u32(self.0 .0),
        }
    }
}

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Global transaction identifier, assigned by the workload.
pub type TxnId = u64;

/// The two outcomes of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Outcome {
    Commit,
    Abort,
}

/// A set of up to [`NodeSet::CAPACITY`] nodes as a bit set: `Copy`, hashable, and its
/// iteration order is the node order (deterministic). Two `u64` words rather than a
/// `u128`, so that messages carrying one keep 8-byte alignment (smaller events).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeSet {
    hi: u64,
    lo: u64,
}

impl NodeSet {
    pub const CAPACITY: usize = 128;

    pub fn new() -> Self {
        NodeSet { hi: 0, lo: 0 }
    }

    fn bits(self) -> u128 {
        (u128::from(self.hi) << 64) | u128::from(self.lo)
    }

    fn from_bits(b: u128) -> Self {
        NodeSet {
            hi: (b >> 64) as u64,
            lo: b as u64,
        }
    }

    pub fn insert(&mut self, n: NodeId) {
        assert!(
            n.index() < Self::CAPACITY,
            "node index {} beyond NodeSet capacity",
            n.0
        );
        *self = Self::from_bits(self.bits() | 1u128 << n.0);
    }

    pub fn remove(&mut self, n: NodeId) {
        if n.index() < Self::CAPACITY {
            *self = Self::from_bits(self.bits() & !(1u128 << n.0));
        }
    }

    pub fn contains(self, n: NodeId) -> bool {
        n.index() < Self::CAPACITY && self.bits() & (1u128 << n.0) != 0
    }

    pub fn len(self) -> usize {
        (self.hi.count_ones() + self.lo.count_ones()) as usize
    }

    pub fn is_empty(self) -> bool {
        self.hi == 0 && self.lo == 0
    }

    pub fn union(self, other: NodeSet) -> NodeSet {
        NodeSet {
            hi: self.hi | other.hi,
            lo: self.lo | other.lo,
        }
    }

    pub fn is_superset(self, other: NodeSet) -> bool {
        self.hi & other.hi == other.hi && self.lo & other.lo == other.lo
    }

    pub fn iter(self) -> impl Iterator<Item = NodeId> {
        let mut bits = self.bits();
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros();
            bits &= bits - 1;
            Some(NodeId(i))
        })
    }
}

/// The members in node order, as a sequence of indices (names inside
/// [`with_node_names`]).
impl Serialize for NodeSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for n in self.iter() {
            seq.serialize_element(&Member(n))?;
        }
        seq.end()
    }
}

impl FromIterator<NodeId> for NodeSet {
    fn from_iter<I: IntoIterator<Item = NodeId>>(iter: I) -> Self {
        let mut s = NodeSet::new();
        for n in iter {
            s.insert(n);
        }
        s
    }
}

impl Debug for NodeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter().map(|n| n.0)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_set_basics() {
        let mut s = NodeSet::new();
        s.insert(NodeId(3));
        s.insert(NodeId(0));
        s.insert(NodeId(127));
        assert_eq!(s.len(), 3);
        assert!(s.contains(NodeId(127)));
        assert!(!s.contains(NodeId(1)));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![NodeId(0), NodeId(3), NodeId(127)]
        );
        s.remove(NodeId(3));
        assert_eq!(s.len(), 2);
        assert!(s.is_superset([NodeId(0)].into_iter().collect()));
    }
}
