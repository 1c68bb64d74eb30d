//! The conditions of `expect:` (`"== 0"`, `">= 0.99"`).

/// A comparison in an expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

impl Cmp {
    pub fn holds(self, actual: f64, bound: f64) -> bool {
        match self {
            Cmp::Eq => actual == bound,
            Cmp::Ne => actual != bound,
            Cmp::Ge => actual >= bound,
            Cmp::Le => actual <= bound,
            Cmp::Gt => actual > bound,
            Cmp::Lt => actual < bound,
        }
    }
}

/// Parses `">= 1"`, `"== 0"`, `"< 0.5"`.
pub fn parse_condition(text: &str) -> Option<(Cmp, f64)> {
    let t = text.trim();
    let (cmp, rest) = [
        ("==", Cmp::Eq),
        ("!=", Cmp::Ne),
        (">=", Cmp::Ge),
        ("<=", Cmp::Le),
        (">", Cmp::Gt),
        ("<", Cmp::Lt),
    ]
    .iter()
    .find_map(|(op, c)| t.strip_prefix(op).map(|r| (*c, r)))?;
    let v: f64 = rest.trim().parse().ok()?;
    v.is_finite().then_some((cmp, v))
}
