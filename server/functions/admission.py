"""Load shedding for SendMessageToUser: past the rate this instance delivers promptly, a
call is refused at once (429 with Retry-After) rather than accepted and delivered late —
a telephony system would rather route the call elsewhere than ring an agent seconds after
the caller. A token bucket per function instance; the clock is passed in."""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from ..errors import ApiError

SETTING = "MaxNotificationsPerSecond"
# Measured (docs/benchmarks.md, "overload"): offered twice this, one local stack process on
# the 2-core CI machine answered every call within 0.25 s (the refusals cost CPU too); at
# 150/s, offered 300/s, its queue grew past 1.5 s in ten seconds.
DEFAULT_PER_SECOND = 120.0
BURST_SECONDS = 0.25  # a burst may take a quarter second's worth at once


class RateLimit:
    """`per_second` admissions a second on average, up to `per_second * BURST_SECONDS`
    (at least one) at once. `admit()` → 0.0 when admitted, else the seconds until the next
    admission would be. Thread-safe (the WSGI host runs handlers on several threads)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic):
        if not 0 < per_second < math.inf:
            raise ValueError("per_second must be a positive finite number")
        self.per_second, self.clock = per_second, clock
        self.capacity = max(1.0, per_second * BURST_SECONDS)
        self._tokens, self._at = self.capacity, clock()
        self._lock = threading.Lock()

    def admit(self) -> float:
        with self._lock:
            now = self.clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.per_second)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.per_second


def too_many_requests(limit: float, wait: float) -> ApiError:
    """429 naming the setting; Retry-After in whole seconds (at least 1), as HTTP wants it."""
    retry_after = max(1, math.ceil(wait))
    error = ApiError(429, "too_many_requests",
                     f"This instance takes at most {limit:g} notifications a second ({SETTING}); retry after "
                     f"{retry_after} s or route the call elsewhere. Nothing was stored or sent.")
    error.headers["Retry-After"] = str(retry_after)
    return error
