"""The ways a run ends early, and the one place that turns them into a paragraph and an exit status.

Both console scripts (``tap-wattivahti`` and ``wattivahti-login``) run inside :func:`reported`:
an expected failure prints one paragraph on stderr, without a traceback, and exits non-zero.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Generator


class TapWattiVahtiError(Exception):
    """An expected failure (bad setting, refused token, API refusal, unusable answer).

    Its message says what is wrong and what to do; it ends the program with status 1.
    """


class TokenError(TapWattiVahtiError):
    """The refresh token is missing, expired, already used, or could not be exchanged."""


class LoginError(TapWattiVahtiError):
    """The interactive login flow of ``wattivahti-login`` failed."""


class StateError(TapWattiVahtiError):
    """The state given to the tap has a shape it cannot read (a corrupt or hand-edited state)."""


class Stopped(SystemExit):
    """A signal (SIGTERM, SIGINT) stopped the run before it finished: exit status 128 + its number.

    A ``SystemExit``, so nothing on the way out mistakes it for a failure to handle, and the
    status holds even outside :func:`reported`.
    """

    def __init__(self, message: str, signum: int) -> None:
        """Stop with ``message`` and status 128 + ``signum``."""
        super().__init__(128 + signum)
        self.message = message
        self.status = 128 + signum


PIPE_CLOSED = (
    "The program reading the tap's output (usually the target) closed it, so the tap stopped. "
    "That program's own messages say why. Nothing after the last bookmark is lost: the next run "
    "repeats from there."
)


@contextlib.contextmanager
def reported(program: str, *, interrupted: str) -> Generator[None]:
    """Run the block; an expected way to end it becomes one paragraph on stderr and an exit.

    :class:`TapWattiVahtiError` → ``PROGRAM: error: MESSAGE``, status 1; a closed standard output
    → :data:`PIPE_CLOSED`, status 1; :class:`Stopped` → its message and status; Ctrl-C (when no
    signal handler turned it into :class:`Stopped`) → ``interrupted``, status 130.
    """
    try:
        yield
    except TapWattiVahtiError as exc:
        _leave(f"{program}: error: {exc}", 1)
    except BrokenPipeError:
        # Python would meet the closed pipe again when it flushes stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _leave(f"{program}: error: {PIPE_CLOSED}", 1)
    except Stopped as stop:
        _leave(f"{program}: {stop.message}", stop.status)
    except KeyboardInterrupt:
        _leave(f"{program}: {interrupted}", 130)


def _leave(paragraph: str, status: int) -> t.NoReturn:
    print(paragraph, file=sys.stderr, flush=True)
    sys.exit(status)
