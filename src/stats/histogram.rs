//! Latency histograms: a recorder written on the call path, and the
//! [`Latency`] snapshot the head hands out.
//!
//! Buckets are log-linear (four per power of two, exact below 16 ns), so a
//! quantile read off them is within 12.5 % of the true value, whatever the
//! scale, in a fixed 1.3 KiB per recorder.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Values below this many nanoseconds have a bucket each.
const EXACT: usize = 16;
/// Sub-buckets per power of two above `EXACT`, as bits.
const SUB_BITS: u32 = 2;
/// The largest power of two with buckets of its own (2^40 ns, about 18
/// minutes); longer calls share the last bucket.
const MAX_EXPONENT: u32 = 40;
const BUCKETS: usize = EXACT + ((MAX_EXPONENT as usize - 3) << SUB_BITS);

fn bucket_of(nanos: u64) -> usize {
    if let Ok(small) = usize::try_from(nanos)
        && small < EXACT
    {
        // Below 16: its own bucket.
        return small;
    }
    let exponent = nanos.ilog2().min(MAX_EXPONENT);
    let sub = if exponent == MAX_EXPONENT && nanos >> MAX_EXPONENT > 1 {
        (1 << SUB_BITS) - 1
    } else {
        (nanos >> (exponent - SUB_BITS)) & ((1 << SUB_BITS) - 1)
    };
    let index = EXACT as u64 + (u64::from(exponent - 4) << SUB_BITS) + sub;
    usize::try_from(index).unwrap_or(BUCKETS - 1).min(BUCKETS - 1)
}

/// The smallest value bucket `index` holds and how many it holds, in
/// nanoseconds.
fn range_of(index: usize) -> (u64, u64) {
    let index = index as u64;
    let exact = EXACT as u64;
    if index < exact {
        return (index, 1);
    }
    let exponent = (index - exact) >> SUB_BITS;
    let sub = (index - exact) & ((1 << SUB_BITS) - 1);
    let width = 1u64 << (exponent + 4 - u64::from(SUB_BITS));
    ((1u64 << (exponent + 4)) + sub * width, width)
}

/// The middle of bucket `index`, in nanoseconds.
fn middle_of(index: usize) -> u64 {
    let (low, width) = range_of(index);
    low + width / 2
}

/// The largest value bucket `index` holds, in nanoseconds.
fn upper_of(index: usize) -> u64 {
    let (low, width) = range_of(index);
    low + width - 1
}

/// The counters of one edge's calls to one instance.
///
/// Written on the call path by the call holding the instance's lock (one
/// writer: a load and a store, no read-modify-write); the counters touched
/// off that path (refusals, failures) are added atomically. Read at any time
/// by [`PluginTreeHead::stats`](crate::PluginTreeHead::stats).
pub(crate) struct Recorder {
    calls: AtomicU64,
    /// Calls that failed once inside the instance; added atomically.
    failures: AtomicU64,
    /// Calls refused before they entered the instance (quarantined, busy
    /// past the deadline, unavailable); they count as calls and failures.
    refused: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
    buckets: Box<[AtomicU64]>,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Self {
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts a call entering the instance; whether to time it. Every
    /// call of the first sixteen is timed, then one in sixty-four: a timed
    /// call reads the clock twice, and timing one call in eight cost a cheap
    /// call 4-7 % of its time where one in sixty-four costs 0-3 % (the
    /// runtime bench's `stats` section).
    #[inline]
    pub(crate) fn enter(&self) -> bool {
        let calls = self.calls.load(Ordering::Relaxed);
        self.calls.store(calls.wrapping_add(1), Ordering::Relaxed);
        calls < 16 || calls.trailing_zeros() >= 6
    }

    /// Records a timed call's latency (by the lock holder).
    #[inline]
    pub(crate) fn time(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = &self.buckets[bucket_of(nanos)];
        bucket.store(bucket.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        self.sum.store(self.sum.load(Ordering::Relaxed).saturating_add(nanos), Ordering::Relaxed);
        if nanos > self.max.load(Ordering::Relaxed) {
            self.max.store(nanos, Ordering::Relaxed);
        }
    }

    /// Counts a failed call that entered the instance.
    #[cold]
    pub(crate) fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a call refused before it entered the instance.
    #[cold]
    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds this recorder's counts to `into`.
    pub(crate) fn add_to(&self, into: &mut Counts) {
        let refused = self.refused.load(Ordering::Relaxed);
        into.calls += self.calls.load(Ordering::Relaxed) + refused;
        into.failures += self.failures.load(Ordering::Relaxed) + refused;
        let latency = &mut into.latency;
        latency.sum = latency.sum.saturating_add(self.sum.load(Ordering::Relaxed));
        latency.max = latency.max.max(self.max.load(Ordering::Relaxed));
        if latency.buckets.is_empty() {
            latency.buckets = vec![0; BUCKETS];
        }
        for (total, bucket) in latency.buckets.iter_mut().zip(self.buckets.iter()) {
            *total += bucket.load(Ordering::Relaxed);
        }
    }
}

/// Calls, failures and latency, summed over recorders.
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) latency: Latency,
}

/// The latency of an edge's calls: a histogram of timed calls.
///
/// Every call of an edge's first sixteen on an instance is timed, then one
/// in sixty-four, so the figures describe a sample of the calls
/// ([`samples`](Self::samples)); quantiles are read off log-linear buckets and
/// are within 12.5 % of the exact value. A call is timed from the moment it
/// holds the plugin (after any wait for it) to its return, socket calls it
/// made included.
///
/// Histograms merge, so an edge's functions or a plugin's edges sum:
///
/// ```
/// # use wasm_link::Latency;
/// let mut total = Latency::default();
/// # let stats: Vec<Latency> = Vec::new();
/// for latency in &stats {
///     total.merge(latency);
/// }
/// assert_eq!(total.samples(), 0);
/// assert_eq!(total.quantile(0.5), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    buckets: Vec<u64>,
    sum: u64,
    max: u64,
}

impl Latency {
    /// How many calls were timed.
    #[must_use]
    pub fn samples(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The latency below which the fraction `q` (0.0 to 1.0) of the timed
    /// calls fell, or `None` when no call was timed. `quantile(0.5)` is the
    /// median.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let samples = self.samples();
        if samples == 0 {
            return None;
        }
        // The rank of the sample wanted, 1-based: ceil(q * n), at least 1.
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rank = ((q.clamp(0.0, 1.0) * samples as f64).ceil() as u64).clamp(1, samples);
        let mut seen = 0;
        for (index, count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                // The bucket's middle, but never beyond the largest seen.
                return Some(Duration::from_nanos(middle_of(index).min(self.max)));
            }
        }
        Some(Duration::from_nanos(self.max))
    }

    /// The mean of the timed calls, or `None` when none was timed.
    #[must_use]
    pub fn mean(&self) -> Option<Duration> {
        let samples = self.samples();
        (samples > 0).then(|| Duration::from_nanos(self.sum / samples))
    }

    /// The longest timed call, or `None` when none was timed.
    #[must_use]
    pub fn max(&self) -> Option<Duration> {
        (self.samples() > 0).then(|| Duration::from_nanos(self.max))
    }

    /// The total time of the timed calls.
    #[must_use]
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum)
    }

    /// How many timed calls took at most `bound`, to the histogram's
    /// resolution: a bucket counts when all of it lies at or below `bound`
    /// (so the figure errs low by at most the bucket `bound` falls in, an
    /// eighth of `bound`). What a Prometheus histogram's `le` bucket holds.
    #[must_use]
    pub fn at_most(&self, bound: Duration) -> u64 {
        let bound = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
        self.buckets.iter().enumerate().take_while(|&(index, _)| upper_of(index) <= bound).map(|(_, count)| count).sum()
    }

    /// Adds `other`'s timed calls to these.
    pub fn merge(&mut self, other: &Self) {
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (total, count) in self.buckets.iter_mut().zip(&other.buckets) {
            *total += count;
        }
        self.sum = self.sum.saturating_add(other.sum);
        self.max = self.max.max(other.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_a_bucket_whose_middle_is_within_an_eighth() {
        let mut value = 1u64;
        while value < 1 << 40 {
            for probe in [value, value + value / 3, value * 2 - 1] {
                let middle = middle_of(bucket_of(probe));
                let error = middle.abs_diff(probe);
                assert!(error * 8 <= probe, "{probe} ns read back as {middle} ns");
            }
            value *= 2;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert!(bucket_of(1 << 40) < BUCKETS);
    }

    #[test]
    fn each_bucket_ends_where_the_next_begins() {
        for index in 0..BUCKETS - 1 {
            let upper = upper_of(index);
            assert_eq!(bucket_of(upper), index, "{upper} ns");
            assert_eq!(bucket_of(upper + 1), index + 1, "{} ns", upper + 1);
        }
    }

    #[test]
    fn buckets_are_ordered() {
        let mut last = 0;
        for nanos in (0..100_000).step_by(7) {
            let bucket = bucket_of(nanos);
            assert!(bucket >= last, "{nanos} ns went back a bucket");
            last = bucket;
        }
    }

    #[test]
    fn quantiles_read_the_ranks() {
        let recorder = Recorder::new();
        for micros in 1..=100 {
            recorder.time(Duration::from_micros(micros));
        }
        let mut counts = Counts::default();
        recorder.add_to(&mut counts);
        let latency = counts.latency;
        assert_eq!(latency.samples(), 100);
        let median = latency.quantile(0.5).unwrap_or_default().as_nanos();
        assert!((44_000..=57_000).contains(&median), "median {median} ns");
        let p99 = latency.quantile(0.99).unwrap_or_default().as_nanos();
        assert!((87_000..=100_000).contains(&p99), "p99 {p99} ns");
        assert_eq!(latency.max(), Some(Duration::from_micros(100)));
        assert_eq!(latency.mean(), Some(Duration::from_nanos(50_500)));
        // Cumulative counts as a Prometheus histogram reads them: never
        // above the true count, at most an eighth of the bound below it.
        assert_eq!(latency.at_most(Duration::ZERO), 0);
        let half = latency.at_most(Duration::from_micros(50));
        assert!((44..=50).contains(&half), "{half} calls took at most 50 us");
        assert_eq!(latency.at_most(Duration::from_secs(1)), 100);
        assert_eq!(latency.sum(), Duration::from_micros(5_050));
    }

    #[test]
    fn sampling_times_the_first_sixteen_then_one_in_sixty_four() {
        let recorder = Recorder::new();
        let timed = (0..1024).filter(|_| recorder.enter()).count();
        // 0..16, then 64, 128, ..., 960.
        assert_eq!(timed, 16 + 15);
    }
}
