"""The threshold machine of one member: consecutive probe outcomes -> healthy / unhealthy."""

from __future__ import annotations


class MemberHealth:
    """Counts consecutive failures and successes of one member's probes.

    - A member becomes unhealthy after `max_retries` consecutive failures and healthy
      again after `healthy_threshold` consecutive successes; any outcome of the other
      kind resets the count.
    - The state starts unknown (None) unless a known last state is given. From unknown,
      the first decision takes the same counts: `max_retries` failures -> unhealthy, or
      `healthy_threshold` successes -> healthy. One lucky or unlucky probe decides nothing.
    - Passing `state` (e.g. the last status the control plane recorded) lets a worker that
      takes a member over from another continue from it: a healthy member stays healthy
      through fewer than `max_retries` failures, so nothing flaps on a hand-over.

    `observe` returns the new state only on a transition, else None.
    """

    __slots__ = ("failures", "healthy_threshold", "max_retries", "state", "successes")

    def __init__(self, max_retries: int, healthy_threshold: int, state: bool | None = None) -> None:
        if max_retries < 1 or healthy_threshold < 1:
            raise ValueError("max_retries and healthy_threshold must be at least 1")
        self.max_retries = max_retries
        self.healthy_threshold = healthy_threshold
        self.state = state
        self.failures = 0
        self.successes = 0

    def observe(self, ok: bool) -> bool | None:
        if ok:
            self.failures = 0
            # Capped: only "reached the threshold" matters, and the count stays small.
            self.successes = min(self.successes + 1, self.healthy_threshold)
            if self.state is not True and self.successes >= self.healthy_threshold:
                self.state = True
                return True
        else:
            self.successes = 0
            self.failures = min(self.failures + 1, self.max_retries)
            if self.state is not False and self.failures >= self.max_retries:
                self.state = False
                return False
        return None

    def reconfigure(self, max_retries: int, healthy_threshold: int) -> None:
        """New thresholds (the monitor was edited); the state and the counts so far are kept
        and the new thresholds apply from the next observation."""
        if max_retries < 1 or healthy_threshold < 1:
            raise ValueError("max_retries and healthy_threshold must be at least 1")
        self.max_retries = max_retries
        self.healthy_threshold = healthy_threshold
        self.failures = min(self.failures, max_retries)
        self.successes = min(self.successes, healthy_threshold)

    def __repr__(self) -> str:
        return (
            f"MemberHealth(state={self.state}, failures={self.failures}/{self.max_retries}, "
            f"successes={self.successes}/{self.healthy_threshold})"
        )
