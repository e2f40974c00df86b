//! The product clock: how long the twin's server-side timeouts last in real time.
//!
//! Owns: [`ProductClock`]. A timeout that is a setting of the product the twin plays (Mattermost
//! 10.11's `SMTPServerTimeout`: its dial and the wait for the SMTP greeting) is product time.
//! `mm-harness twin up` and every library default run product time as real time. Scenario runs
//! (`stack::twin`) run it at [`ProductClock::SCENARIO`], one tenth: Mattermost's smallest
//! effective `SMTPServerTimeout`, 1 s, lasts 100 ms, so a negative that waits for it
//! (`smtp-starttls-against-465`) stays inside the suite's 1 s budget with the product's error text
//! unchanged. The deviation is stated in docs/twin.md. The harness's own instruments (the mail
//! sink's limits, the step deadlines) are never scaled: they are configured directly.

use std::time::Duration;

/// Product time → real time, by an integer divisor (1 = real time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductClock {
    divisor: u32,
}

impl ProductClock {
    /// Product time is real time (`twin up`, tests of the twin's behaviour).
    pub const REAL: ProductClock = ProductClock { divisor: 1 };
    /// Scenario runs: a product second lasts 100 ms.
    pub const SCENARIO: ProductClock = ProductClock { divisor: 10 };

    /// A clock running `divisor` times faster than real time (`0` is taken as 1).
    pub fn faster_by(divisor: u32) -> ProductClock {
        ProductClock {
            divisor: divisor.max(1),
        }
    }

    /// How many times faster than real time.
    pub fn divisor(self) -> u32 {
        self.divisor
    }

    /// How long `product` time lasts in real time.
    pub fn real(self, product: Duration) -> Duration {
        product / self.divisor
    }
}

impl Default for ProductClock {
    fn default() -> Self {
        ProductClock::REAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_runs_scale_product_seconds_to_a_tenth_and_real_time_is_unchanged() {
        let s = Duration::from_secs(1);
        assert_eq!(ProductClock::REAL.real(s), s);
        assert_eq!(ProductClock::SCENARIO.real(s), Duration::from_millis(100));
        assert_eq!(ProductClock::faster_by(0), ProductClock::REAL);
        assert_eq!(ProductClock::default(), ProductClock::REAL);
        assert_eq!(ProductClock::faster_by(4).divisor(), 4);
    }
}
