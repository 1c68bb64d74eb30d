//! What can stop an exhaustive check before it explores, or a path from replaying:
//! each case a variant, so a tool can tell them apart (and the text says how to fix it).

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// The protocol has no world model for the checker.
    NotExplorable { protocol: String },
    /// The protocol's world could not be built for the small model.
    Build(String),
    /// `--crash NODE` names a node this world does not have.
    UnknownNode { node: String, nodes: Vec<String> },
    /// The model has no initial state to replay from.
    NoInitialState,
    /// Step `step` (1-based) of a replayed path is not enabled where it is taken.
    StepNotEnabled {
        step: usize,
        wanted: String,
        enabled: Vec<String>,
    },
    /// Step `step` (1-based) was enabled but could not be taken.
    StepFailed { step: usize },
    /// The text is not a RON list of steps.
    Steps(String),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::NotExplorable { protocol } => write!(
                f,
                "the exhaustive checker has no world builder for protocol {protocol:?} yet"
            ),
            CheckError::Build(m) => write!(f, "{m}"),
            CheckError::UnknownNode { node, nodes } => write!(
                f,
                "--crash {node}: no such node; this world has {}",
                nodes.join(", ")
            ),
            CheckError::NoInitialState => write!(f, "the model has no initial state"),
            CheckError::StepNotEnabled {
                step,
                wanted,
                enabled,
            } => write!(
                f,
                "step {step} ({wanted}) is not enabled here; enabled: [{}]",
                enabled.join(", ")
            ),
            CheckError::StepFailed { step } => write!(f, "step {step} could not be taken"),
            CheckError::Steps(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for CheckError {}
