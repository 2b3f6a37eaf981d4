//! Thresholds that probes share: a quantity of which too little is bad
//! (free disk, available memory), judged by percent of the total or bytes.

use crate::ProbeStatus;

/// Warn or fail when what is left falls under a share of the total or under
/// a number of bytes; the worst threshold crossed decides. With none set,
/// fails under [`LowWater::DEFAULT_FAIL_PERCENT`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LowWater {
    pub warn_percent: Option<f64>,
    pub fail_percent: Option<f64>,
    pub warn_bytes: Option<u64>,
    pub fail_bytes: Option<u64>,
}

impl LowWater {
    pub const DEFAULT_FAIL_PERCENT: f64 = 5.0;

    /// The status for `left` of `total` bytes.
    pub fn judge(&self, left: u64, total: u64) -> ProbeStatus {
        let pct = percent(left, total);
        let unset = *self == LowWater::default();
        let fail_percent = if unset {
            Some(Self::DEFAULT_FAIL_PERCENT)
        } else {
            self.fail_percent
        };
        let under = |p: Option<f64>, b: Option<u64>| {
            p.is_some_and(|p| pct < p) || b.is_some_and(|b| left < b)
        };
        if under(fail_percent, self.fail_bytes) {
            ProbeStatus::Fail
        } else if under(self.warn_percent, self.warn_bytes) {
            ProbeStatus::Warn
        } else {
            ProbeStatus::Pass
        }
    }
}

/// `part` as a percentage of `whole` (0 when `whole` is 0).
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_threshold_decides_and_none_means_five_percent() {
        let t = LowWater {
            warn_percent: Some(20.0),
            fail_percent: Some(10.0),
            fail_bytes: Some(3),
            ..LowWater::default()
        };
        assert_eq!(t.judge(50, 100), ProbeStatus::Pass);
        assert_eq!(t.judge(15, 100), ProbeStatus::Warn);
        assert_eq!(t.judge(5, 100), ProbeStatus::Fail);
        assert_eq!(t.judge(2, 10), ProbeStatus::Fail);
        assert_eq!(LowWater::default().judge(4, 100), ProbeStatus::Fail);
        assert_eq!(LowWater::default().judge(6, 100), ProbeStatus::Pass);
        assert_eq!(percent(1, 0), 0.0);
    }
}
