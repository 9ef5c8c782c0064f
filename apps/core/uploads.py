"""Limits on uploaded files, in one place: a byte cap on the file, a byte cap on each line, and text only.

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


# The first bytes of common non-text files, and what a person would call them.
SIGNATURES = [
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a zip archive (or an Excel or Word file)"),
    (b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"Rar!", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"), (b"\xd0\xcf\x11\xe0", "an old Excel or Word file"),
    (b"\x7fELF", "a program"),
]
SNIFF_BYTES = 8192


def upload_check_text(upload, *, formats: str) -> None:
    """Refuse, in words, a file that is not text (an image, an archive, a spreadsheet) before reading it by lines.

    `formats` names what to upload instead ("CSV, JSONL or CoNLL"). Text in another encoding than UTF-8 passes
    here: the readers name its bad lines.
    """
    head = _head(upload)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ApplicationError(f"This file is UTF-16 text; save it as UTF-8 and upload the {formats} file again.")
    looks_like = next((name for magic, name in SIGNATURES if head.startswith(magic)), None)
    if looks_like is None and b"\x00" in head:
        looks_like = "binary data"
    if looks_like:
        raise ApplicationError(f"This file is not text (it looks like {looks_like}); "
                               f"upload a UTF-8 {formats} file.")


def _head(upload) -> bytes:
    """The file's first bytes, leaving it where it was."""
    stream = getattr(upload, "file", upload)
    position = stream.tell()
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    stream.seek(position)
    return head if isinstance(head, bytes) else head.encode()
