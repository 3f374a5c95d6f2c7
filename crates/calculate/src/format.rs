//! Numbers in explanations: as short as exact, at most two decimals, so that the derivation
//! text is stable and reads like a hand calculation ("68 × 2.5 = 170").

pub fn num(value: f64) -> String {
    trimmed(value, 2)
}

/// Factors and ratios get four decimals, so that `× 1.0518` multiplies out as printed.
pub fn factor(value: f64) -> String {
    trimmed(value, 4)
}

fn trimmed(value: f64, decimals: usize) -> String {
    if (value - value.round()).abs() < 1e-9 {
        return format!("{value:.0}");
    }
    let text = format!("{value:.decimals$}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::{factor, num};

    #[test]
    fn trims_without_losing_meaningful_digits() {
        assert_eq!(num(68.0), "68");
        assert_eq!(num(224.4), "224.4");
        assert_eq!(num(336.6000000001), "336.6");
        assert_eq!(num(0.126), "0.13");
        assert_eq!(num(1.0 / 3.0), "0.33");
        assert_eq!(factor(1.051_84), "1.0518");
        assert_eq!(factor(1.5), "1.5");
    }
}
