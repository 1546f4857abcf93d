//! Bounded time series: the last minute at 1 s resolution and about an hour at 10 s resolution.
//!
//! A [`History`] holds `N` numeric fields per point (e.g. RTT, jitter, loss, ...). Callers record
//! one sample per tick (normally once a second) with an explicit timestamp in Unix milliseconds;
//! there is no hidden clock, so tests drive it with a fake one.
//!
//! - **minute**: the last [`MINUTE_POINTS`] samples as recorded (1 s apart when ticked once a
//!   second).
//! - **hour**: [`HOUR_POINTS`] points of [`HOUR_STEP_MS`] each. Samples are grouped by the 10 s
//!   bucket their timestamp falls in (`t_ms / 10_000`); when a sample from a later bucket arrives,
//!   the finished bucket becomes one point whose fields are the **mean** of that bucket's samples
//!   (per field, over the samples where the field was present) and whose timestamp is the
//!   bucket's start. The bucket still being filled is not part of the hour series. A bucket
//!   without any sample (the engine was suspended) produces no point: points carry their time,
//!   so a chart shows the gap.
//!
//! Memory is fixed per series: two rings allocated once at their capacity plus one accumulator.
//! Values are stored as `f32` (missing = NaN) to keep a peer's hour small (~15 KB for 7 fields).
//! Samples older than the newest one recorded are ignored (a clock that stepped backwards).

use std::collections::VecDeque;

/// Points in the 1 s series: one minute.
pub const MINUTE_POINTS: usize = 60;
/// Points in the 10 s series: one hour.
pub const HOUR_POINTS: usize = 360;
/// Resolution of the hour series.
pub const HOUR_STEP_MS: u64 = 10_000;

/// One point of a series: its time and `N` optional values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point<const N: usize> {
    /// Unix milliseconds; for hour points, the start of the 10 s bucket.
    pub t_ms: u64,
    values: [f32; N],
}

impl<const N: usize> Point<N> {
    fn new(t_ms: u64, values: &[Option<f64>; N]) -> Self {
        let mut v = [f32::NAN; N];
        for (slot, value) in v.iter_mut().zip(values) {
            // Narrowing to f32 is intended: chart precision, a quarter of the memory.
            *slot = value.map_or(f32::NAN, |x| x as f32);
        }
        Self { t_ms, values: v }
    }

    /// Field `i`, `None` when it was missing (or `i` is out of range).
    pub fn get(&self, i: usize) -> Option<f64> {
        let v = *self.values.get(i)?;
        (!v.is_nan()).then_some(f64::from(v))
    }

    /// All fields.
    pub fn values(&self) -> [Option<f64>; N] {
        let mut out = [None; N];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = self.get(i);
        }
        out
    }
}

/// A ring buffer that never grows past the capacity it was created with.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    items: VecDeque<T>,
    cap: usize,
}

impl<T> Ring<T> {
    pub fn new(cap: usize) -> Self {
        Self {
            items: VecDeque::with_capacity(cap),
            cap,
        }
    }

    pub fn push(&mut self, item: T) {
        if self.cap == 0 {
            return;
        }
        if self.items.len() == self.cap {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The bound.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The allocation actually held (for tests proving memory stays fixed).
    pub fn allocated(&self) -> usize {
        self.items.capacity()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }

    pub fn last(&self) -> Option<&T> {
        self.items.back()
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket<const N: usize> {
    index: u64,
    sum: [f64; N],
    count: [u32; N],
}

impl<const N: usize> Bucket<N> {
    fn new(index: u64) -> Self {
        Self {
            index,
            sum: [0.0; N],
            count: [0; N],
        }
    }

    fn add(&mut self, values: &[Option<f64>; N]) {
        for ((sum, count), value) in self.sum.iter_mut().zip(&mut self.count).zip(values) {
            if let Some(v) = value.filter(|v| v.is_finite()) {
                *sum += v;
                *count += 1;
            }
        }
    }

    fn mean(&self) -> Point<N> {
        let mut values = [None; N];
        for ((slot, sum), count) in values.iter_mut().zip(&self.sum).zip(&self.count) {
            if *count > 0 {
                *slot = Some(sum / f64::from(*count));
            }
        }
        Point::new(self.index.saturating_mul(HOUR_STEP_MS), &values)
    }
}

/// The minute and hour series of `N` fields.
#[derive(Debug, Clone)]
pub struct History<const N: usize> {
    minute: Ring<Point<N>>,
    hour: Ring<Point<N>>,
    bucket: Option<Bucket<N>>,
    last_t_ms: Option<u64>,
}

impl<const N: usize> Default for History<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> History<N> {
    pub fn new() -> Self {
        Self {
            minute: Ring::new(MINUTE_POINTS),
            hour: Ring::new(HOUR_POINTS),
            bucket: None,
            last_t_ms: None,
        }
    }

    /// Records one sample. Returns `false` (and records nothing) when `t_ms` is older than the
    /// newest sample.
    pub fn record(&mut self, t_ms: u64, values: [Option<f64>; N]) -> bool {
        if self.last_t_ms.is_some_and(|last| t_ms < last) {
            return false;
        }
        self.last_t_ms = Some(t_ms);
        self.minute.push(Point::new(t_ms, &values));
        let index = t_ms / HOUR_STEP_MS;
        match &mut self.bucket {
            Some(b) if b.index == index => b.add(&values),
            slot => {
                if let Some(done) = slot.take() {
                    self.hour.push(done.mean());
                }
                let mut b = Bucket::new(index);
                b.add(&values);
                *slot = Some(b);
            }
        }
        true
    }

    /// The 1 s series, oldest first.
    pub fn minute(&self) -> &Ring<Point<N>> {
        &self.minute
    }

    /// The 10 s series, oldest first (finished buckets only).
    pub fn hour(&self) -> &Ring<Point<N>> {
        &self.hour
    }

    /// Timestamp of the newest sample.
    pub fn last_t_ms(&self) -> Option<u64> {
        self.last_t_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000; // a multiple of 10 s

    #[test]
    fn minute_keeps_the_last_60_samples() {
        let mut h = History::<1>::new();
        for i in 0..500u64 {
            assert!(h.record(T0 + i * 1000, [Some(i as f64)]));
            assert!(h.minute().len() <= MINUTE_POINTS);
        }
        assert_eq!(h.minute().len(), MINUTE_POINTS);
        let first = h.minute().iter().next().unwrap();
        let last = h.minute().last().unwrap();
        assert_eq!(first.get(0), Some(440.0));
        assert_eq!(last.get(0), Some(499.0));
        assert_eq!(last.t_ms, T0 + 499_000);
    }

    #[test]
    fn hour_keeps_360_points_and_memory_stays_fixed() {
        let mut h = History::<3>::new();
        let minute_alloc = h.minute().allocated();
        let hour_alloc = h.hour().allocated();
        // Three hours of one-second samples.
        for i in 0..3 * 3600u64 {
            h.record(T0 + i * 1000, [Some(1.0), None, Some(i as f64)]);
            assert!(h.hour().len() <= HOUR_POINTS);
        }
        assert_eq!(h.hour().len(), HOUR_POINTS);
        assert_eq!(h.hour().capacity(), HOUR_POINTS);
        assert_eq!(h.minute().allocated(), minute_alloc);
        assert_eq!(h.hour().allocated(), hour_alloc);
        let last = h.hour().last().unwrap();
        // The last sample (10 799 s) opened the bucket at 10 790 s; the one before is finished.
        assert_eq!(last.t_ms, T0 + (3 * 3600 - 20) * 1000);
        // And the series spans one hour, 10 s apart.
        let times: Vec<u64> = h.hour().iter().map(|p| p.t_ms).collect();
        assert!(times.windows(2).all(|w| w[1] - w[0] == HOUR_STEP_MS));
        assert_eq!(
            times[times.len() - 1] - times[0],
            (HOUR_POINTS as u64 - 1) * 10_000
        );
    }

    #[test]
    fn ten_second_points_are_the_mean_of_their_samples() {
        let mut h = History::<2>::new();
        // Bucket 0: values 0..10 (mean 4.5); bucket 1: 10..20 (mean 14.5).
        for i in 0..20u64 {
            h.record(T0 + i * 1000, [Some(i as f64), Some(2.0)]);
        }
        // Bucket 1 is still open until a sample of bucket 2 arrives.
        assert_eq!(h.hour().len(), 1);
        h.record(T0 + 20_000, [Some(100.0), None]);
        assert_eq!(h.hour().len(), 2);
        let points: Vec<_> = h.hour().iter().copied().collect();
        assert_eq!(points[0].t_ms, T0);
        assert_eq!(points[0].get(0), Some(4.5));
        assert_eq!(points[0].get(1), Some(2.0));
        assert_eq!(points[1].t_ms, T0 + 10_000);
        assert_eq!(points[1].get(0), Some(14.5));
    }

    #[test]
    fn missing_values_are_left_out_of_the_mean() {
        let mut h = History::<2>::new();
        h.record(T0, [Some(10.0), None]);
        h.record(T0 + 1000, [None, None]);
        h.record(T0 + 2000, [Some(20.0), Some(f64::NAN)]);
        h.record(T0 + 10_000, [None, None]);
        let p = h.hour().last().unwrap();
        assert_eq!(p.get(0), Some(15.0));
        assert_eq!(p.get(1), None);
        assert_eq!(p.values(), [Some(15.0), None]);
        assert_eq!(h.minute().iter().nth(1).unwrap().get(0), None);
    }

    #[test]
    fn gaps_produce_no_points_and_time_never_goes_back() {
        let mut h = History::<1>::new();
        h.record(T0, [Some(1.0)]);
        // Suspended for five minutes.
        h.record(T0 + 300_000, [Some(2.0)]);
        h.record(T0 + 310_000, [Some(3.0)]);
        let times: Vec<u64> = h.hour().iter().map(|p| p.t_ms).collect();
        assert_eq!(times, vec![T0, T0 + 300_000]);
        // A sample from the past is refused.
        assert!(!h.record(T0 + 5_000, [Some(9.0)]));
        assert_eq!(h.minute().len(), 3);
        assert_eq!(h.last_t_ms(), Some(T0 + 310_000));
        // Same timestamp is accepted (same bucket, averaged).
        assert!(h.record(T0 + 310_000, [Some(5.0)]));
        h.record(T0 + 320_000, [None]);
        assert_eq!(h.hour().last().unwrap().get(0), Some(4.0));
    }

    #[test]
    fn ring_of_zero_holds_nothing() {
        let mut r = Ring::new(0);
        r.push(1);
        assert!(r.is_empty());
    }
}
