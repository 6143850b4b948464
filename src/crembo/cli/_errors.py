"""The one error type of the command line, and how its messages are printed."""


class CLIError(Exception):
    """Bad input or usage: reported as one line on stderr, exit code 2."""


def one_line(msg):
    """A message on one line (exceptions from libraries may span several)."""
    return " ".join(str(msg).split())
