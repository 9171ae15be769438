"""Commanded vs measured: notice when the fans stop following our commands.

No command reads back manual/auto mode, so the fans themselves are the witness. While
a manual % is in force, the mean fan RPM is recorded once it has settled; it must
then stay near that baseline, and a later change of % must move the RPM the same
way. A mismatch means the iDRAC reverted to automatic, ignores us, or a fan failed.
The first mismatch asks for the command to be written again; a second one in a row
means the BMC is not listening, and the fans go back to Dell automatic.
No Home Assistant imports; time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ResponseVerdict(StrEnum):
    """What the integration should do after this observation."""

    OK = "ok"
    SETTLING = "settling"
    REWRITE = "rewrite"
    """Send manual mode and the % again: the iDRAC may have reverted quietly."""
    IGNORED = "ignored"
    """The fans still do not follow: hand back to Dell automatic and tell the user."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCheckSettings:
    """Thresholds; the defaults leave room for RPM noise and slow fans.

    Attributes:
        settle_seconds: Time after a command before the RPM is judged.
        tolerance: Allowed relative drift of the mean RPM from its baseline.
        min_step_percent: A change of % at least this big must move the RPM.
        min_rpm_change: Relative RPM change that counts as "moved".
    """

    settle_seconds: float = 60.0
    tolerance: float = 0.25
    min_step_percent: int = 10
    min_rpm_change: float = 0.05


@dataclass(slots=True)
class _Baseline:
    percent: int
    rpm: float


class FanResponseCheck:
    """Feed it every poll; it remembers the settled RPM of each commanded %."""

    def __init__(self, settings: ResponseCheckSettings | None = None) -> None:
        self.settings = settings or ResponseCheckSettings()
        self._percent: int | None = None
        self._since = 0.0
        self._baseline: _Baseline | None = None
        self._previous: _Baseline | None = None
        self._mismatched = False

    def reset(self) -> None:
        """Forget everything: Dell auto is in charge, or the link was lost."""
        self._percent = None
        self._baseline = self._previous = None
        self._mismatched = False

    def observe(
        self, now: float, commanded: int | None, rpm: float | None
    ) -> ResponseVerdict:
        """Judge one poll: the manual % in force (None: Dell auto) and the mean fan RPM."""
        if commanded is None or rpm is None:
            if commanded is None:
                self.reset()
            return ResponseVerdict.OK
        if commanded != self._percent:
            self._previous = self._baseline or self._previous
            self._baseline = None
            self._percent = commanded
            self._since = now
        if now - self._since < self.settings.settle_seconds:
            return ResponseVerdict.SETTLING
        if self._baseline is None:
            if self._moved_with_command(commanded, rpm):
                self._baseline = _Baseline(commanded, rpm)
                self._previous = None
                return self._verdict(mismatch=False)
            return self._verdict(mismatch=True)
        drift = abs(rpm - self._baseline.rpm) / self._baseline.rpm
        return self._verdict(mismatch=drift > self.settings.tolerance)

    def _moved_with_command(self, commanded: int, rpm: float) -> bool:
        """A big step must move the RPM its way; the same % must give the same RPM."""
        previous = self._previous
        if previous is None:
            return True
        change = (rpm - previous.rpm) / previous.rpm
        if commanded == previous.percent:
            return abs(change) <= self.settings.tolerance
        if abs(commanded - previous.percent) < self.settings.min_step_percent:
            return True  # too small a step to judge through the noise
        wanted = 1 if commanded > previous.percent else -1
        return change * wanted >= self.settings.min_rpm_change

    def _verdict(self, *, mismatch: bool) -> ResponseVerdict:
        if not mismatch:
            self._mismatched = False
            return ResponseVerdict.OK
        if self._mismatched:
            return ResponseVerdict.IGNORED
        self._mismatched = True
        # Judge the re-sent command afresh, against the same baseline, after a settle.
        self._percent = None
        return ResponseVerdict.REWRITE
