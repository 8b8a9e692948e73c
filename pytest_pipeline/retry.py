"""One retry helper for every wait and poll: exponential backoff with full jitter and a deadline.

Full jitter (a uniform draw between zero and the capped exponential delay) is what AWS
recommends for clients competing for the same resource; the deadline bounds the total wait
whatever the number of attempts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

RetryOn = Callable[[BaseException], bool] | tuple[type[BaseException], ...]


class RetryError(TimeoutError):
    """Raised when what was awaited did not happen before the deadline."""

    def __init__(
        self, what: str, attempts: int, elapsed: float, last_error: BaseException | None
    ) -> None:
        self.what = what
        self.attempts = attempts
        self.elapsed = elapsed
        self.last_error = last_error
        last = f"; last error: {type(last_error).__name__}: {last_error}" if last_error else ""
        super().__init__(
            f"gave up waiting for {what} after {attempts} attempt(s) in {elapsed:.1f}s{last}"
        )


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff, full jitter: delay n is uniform in [0, min(cap, base * factor**n)]."""

    base: float = 0.1
    cap: float = 5.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap <= 0 or self.factor < 1:
            raise ValueError(
                f"backoff needs base > 0, cap > 0 and factor >= 1 "
                f"(got base={self.base}, cap={self.cap}, factor={self.factor})"
            )

    def ceiling(self, attempt: int) -> float:
        """The largest delay allowed after the given (0-based) failed attempt."""
        # Bound the exponent so huge attempt counts do not overflow a float.
        exponent = min(attempt, 64)
        return float(min(self.cap, self.base * self.factor**exponent))

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """An endless stream of jittered delays."""
        draw = rng or random.Random()
        attempt = 0
        while True:
            yield draw.uniform(0.0, self.ceiling(attempt))
            attempt += 1


def _should_retry(retry_on: RetryOn, error: BaseException) -> bool:
    if isinstance(retry_on, tuple):
        return isinstance(error, retry_on)
    return retry_on(error)


def retry(
    fn: Callable[[], T],
    *,
    what: str,
    deadline: float,
    retry_on: RetryOn = (Exception,),
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn`` until it returns, retrying errors ``retry_on`` accepts, for ``deadline`` s.

    A non-retryable error propagates at once. When the deadline passes, ``RetryError`` says
    what was awaited, how many attempts were made and the last error.
    """
    if deadline < 0:
        raise ValueError(f"deadline must be >= 0 seconds, got {deadline}")
    start = clock()
    delays = (backoff or Backoff()).delays(rng)
    attempts = 0
    while True:
        attempts += 1
        try:
            return fn()
        except Exception as error:
            if not _should_retry(retry_on, error):
                raise
            last_error: BaseException = error
        elapsed = clock() - start
        remaining = deadline - elapsed
        if remaining <= 0:
            raise RetryError(what, attempts, elapsed, last_error) from last_error
        sleep(min(next(delays), remaining))


class _NotYet(Exception):
    def __init__(self, value: object) -> None:
        super().__init__(f"condition not met (last value: {value!r})")
        self.value = value


def wait_until(
    probe: Callable[[], T | None],
    *,
    what: str,
    deadline: float,
    retry_on: RetryOn = (),
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> T:
    """Poll ``probe`` until it returns a truthy value and return that value.

    Errors accepted by ``retry_on`` count as "not yet"; others propagate at once.
    """

    def attempt() -> T:
        value = probe()
        if not value:
            raise _NotYet(value)
        return value

    def retryable(error: BaseException) -> bool:
        return isinstance(error, _NotYet) or _should_retry(retry_on, error)

    return retry(
        attempt,
        what=what,
        deadline=deadline,
        retry_on=retryable,
        backoff=backoff,
        sleep=sleep,
        clock=clock,
        rng=rng,
    )
