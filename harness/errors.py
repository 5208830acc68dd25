"""The one exception type the CLI turns into a one-line error and a non-zero exit."""


class StudyError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""
