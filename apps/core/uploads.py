"""Limits on uploaded files, in one place: a byte cap on the file and a byte cap on each line.

TASKLLM_UPLOAD_MAX_BYTES and TASKLLM_UPLOAD_MAX_LINE_BYTES (settings, from the environment) bound
what an upload may cost; readers read a line at most that long, so a file of one huge line never
sits in memory whole.
"""

from collections.abc import Iterator

from django.conf import settings

from .exceptions import ApplicationError


class LineTooLong(ApplicationError):
    def __init__(self, line: int, limit: int):
        super().__init__(f"Line {line} is longer than {limit:,} bytes (TASKLLM_UPLOAD_MAX_LINE_BYTES); "
                         "split it or shorten it.")
        self.line = line


def upload_check_size(upload) -> None:
    limit = settings.TASKLLM_UPLOAD_MAX_BYTES
    size = getattr(upload, "size", None) or 0
    if size > limit:
        raise ApplicationError(f"The file is {size:,} bytes; the limit is {limit:,} "
                               "(TASKLLM_UPLOAD_MAX_BYTES).")


def bounded_lines(stream) -> Iterator[bytes]:
    """The lines of a binary file, each read with a bounded readline; a longer line raises LineTooLong."""
    limit = settings.TASKLLM_UPLOAD_MAX_LINE_BYTES
    number = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not (len(line) == limit + 1 and line.endswith(b"\n")):
            raise LineTooLong(number, limit)
        yield line
