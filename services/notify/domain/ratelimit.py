"""A token bucket per endpoint: `rate` attempts per second on average, bursts up to `burst`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated: float
    """Seconds on a monotonic scale chosen by the caller."""

    @classmethod
    def full(cls, rate: float, now: float) -> TokenBucket:
        burst = max(1.0, rate)
        return cls(rate, burst, burst, now)

    def refilled(self, now: float) -> TokenBucket:
        elapsed = max(0.0, now - self.updated)
        return TokenBucket(self.rate, self.burst, min(self.burst, self.tokens + elapsed * self.rate), now)

    def take(self, now: float) -> tuple[TokenBucket, bool]:
        current = self.refilled(now)
        if current.tokens >= 1.0:
            return TokenBucket(self.rate, self.burst, current.tokens - 1.0, now), True
        return current, False
