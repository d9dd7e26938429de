"""The "did you mean" hint added to a message about a misspelt name."""

from __future__ import annotations

from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str:
    """
    Return ``"; did you mean 'x'?"`` for the choice closest to ``word``, or "" if none is close enough.

    :param word: what was written
    :param choices: the names that would have been accepted
    :param cutoff: how alike (0–1, :func:`difflib.get_close_matches`) a choice must be to be offered
    """
    # Only a broken recipe needs a hint; every recipe parse (a new process each time, in the DAG
    # processor) would otherwise pay for importing difflib.
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f"; did you mean {close[0]!r}?" if close else ""
