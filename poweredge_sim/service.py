"""Start/stop lifecycle shared by the simulator's threaded servers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Service(ABC):
    """A server on its own thread: ``with`` starts it and always stops it."""

    @abstractmethod
    def start(self) -> Self:
        """Start serving; return self."""

    @abstractmethod
    def stop(self) -> None:
        """Stop serving and join the thread."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
