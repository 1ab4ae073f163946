//! "Did you mean ...?" for unknown keys.

/// The known key closest to `unknown`, when it is close enough to be a likely typo: an edit
/// distance (with transpositions, ignoring case) of at most a quarter of the known key's
/// length, and at least 1. Ties go to the first candidate.
pub fn did_you_mean<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    let lowered = unknown.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in known {
        let distance = strsim::damerau_levenshtein(&lowered, candidate);
        let limit = (candidate.chars().count() / 4).max(1);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    const KEYS: &[&str] = &["image", "environment", "ports", "restart", "depends_on"];

    #[test]
    fn suggests_close_keys() {
        assert_eq!(did_you_mean("imgae", KEYS), Some("image"));
        assert_eq!(did_you_mean("enviroment", KEYS), Some("environment"));
        assert_eq!(did_you_mean("port", KEYS), Some("ports"));
        assert_eq!(did_you_mean("Image", KEYS), Some("image"));
        assert_eq!(did_you_mean("depend_on", KEYS), Some("depends_on"));
    }

    #[test]
    fn stays_silent_for_unrelated_keys() {
        assert_eq!(did_you_mean("impossible", KEYS), None);
        assert_eq!(did_you_mean("x", KEYS), None);
        assert_eq!(did_you_mean("volumes", KEYS), None);
    }
}
