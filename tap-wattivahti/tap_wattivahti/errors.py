"""The tap's expected failures: each carries a message a user can act on."""

from __future__ import annotations


class TapWattiVahtiError(Exception):
    """An expected failure (bad setting, refused token, API refusal, unusable answer).

    The console entry points print its message as one paragraph and exit non-zero, without a
    traceback. The message says what is wrong and what to do.
    """


class TokenError(TapWattiVahtiError):
    """The refresh token is missing, expired, already used, or could not be exchanged."""


class LoginError(TapWattiVahtiError):
    """The interactive login flow of ``wattivahti-login`` failed."""
