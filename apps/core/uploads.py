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


def stream_percent(stream, size_bytes: int) -> int:
    """How far into a stored upload of `size_bytes` its reader is, 0–99 (100 is for the job that finished)."""
    try:
        position = stream.tell()
    except (OSError, AttributeError):
        position = 0
    return min(99, int(100 * position / max(size_bytes, 1)))


def stored_upload_discard(job) -> None:
    """Delete a finished job's stored upload (its `file`): what the job made, or its problems, are what stay."""
    if job.is_finished and job.file:
        job.file.delete(save=True)
