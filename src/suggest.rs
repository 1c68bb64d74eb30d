//! "Did you mean …?": the known name closest to a mistyped one, for error messages
//! that list what is known (metrics, axes, series).

/// The known name nearest to `name`, if one is near enough to be a typo: a
/// Damerau–Levenshtein distance (so a swapped pair of letters counts once) of at
/// most a quarter of the name's length (none for names under four letters: `3pc` is
/// not a typo of `2pc`), or `name` being the last segment of a dotted
/// name (`hit_ratio` for `cache.hit_ratio`). Ties go to the first in `known`.
pub fn closest<'a, S: AsRef<str>>(name: &str, known: &'a [S]) -> Option<&'a str> {
    let limit = name.chars().count() / 4;
    let by_segment = known
        .iter()
        .map(AsRef::as_ref)
        .find(|k| k.rsplit('.').next() == Some(name) && *k != name);
    by_segment.or_else(|| {
        known
            .iter()
            .map(AsRef::as_ref)
            .map(|k| (strsim::damerau_levenshtein(name, k), k))
            .filter(|&(d, _)| d > 0 && d <= limit)
            .min_by_key(|&(d, _)| d)
            .map(|(_, k)| k)
    })
}

/// `" (did you mean \"x\"?)"`, or nothing.
pub fn hint<S: AsRef<str>>(name: &str, known: &[S]) -> String {
    closest(name, known).map_or_else(String::new, |k| format!(" (did you mean {k:?}?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_its_name_and_a_stranger_finds_none() {
        let known = ["availability", "cache.hit_ratio", "violations.atomicity"];
        assert_eq!(closest("availabilty", &known), Some("availability"));
        assert_eq!(
            closest("violations.atomcity", &known),
            Some("violations.atomicity")
        );
        assert_eq!(closest("hit_ratio", &known), Some("cache.hit_ratio"));
        assert_eq!(closest("latency", &known), None);
        assert_eq!(closest("3pc", &["2pc"]), None);
        assert_eq!(closest("availability", &known), None);
        assert_eq!(
            hint("availabilty", &known),
            " (did you mean \"availability\"?)"
        );
        assert_eq!(hint("zzz", &known), "");
    }
}
