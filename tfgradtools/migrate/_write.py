"""Replaces a file's content atomically, or leaves the file as it was.

The new content goes to a temporary file beside the original (same
directory, so same file system), is flushed and synced to disk, takes the
original's permission bits (and owner, where the process may set it), and
then `os.replace` puts it in the original's place in one step. Whatever
fails or interrupts the write, the original is either entirely old or
entirely new; at worst, a process killed outright leaves a stray
`.*.tfgradtools-migrate` temporary file beside it.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import stat
import tempfile
from typing import BinaryIO, Iterator

SUFFIX = '.tfgradtools-migrate'


class WriteError(Exception):
  """The file could not be written and was left unchanged; str() says why."""


def replace(path: pathlib.Path, data: bytes, expected: bytes) -> None:
  """Writes `data` to `path` if the file still holds `expected`.

  Example:

  >>> import tempfile
  >>> path = pathlib.Path(tempfile.mkdtemp()) / 'a.py'
  >>> _ = path.write_bytes(b'old\\n')
  >>> replace(path, b'new\\n', expected=b'old\\n')
  >>> path.read_bytes()
  b'new\\n'
  >>> try:   # The file holds 'new' now.
  ...   replace(path, b'newer\\n', expected=b'old\\n')
  ... except WriteError as error:
  ...   print(error)
  the file changed on disk since it was read

  Args:
    path: the file; a symbolic link is followed and its target replaced.
    data: the new content.
    expected: the content the new one was made from. If the file holds
      anything else by the time it would be replaced (an editor saved it
      meanwhile), it is left alone.

  Raises:
    WriteError: the file was not written (read-only, permission denied,
      disk full, changed on disk, ...); it is unchanged.
  """
  target = pathlib.Path(os.path.realpath(path))
  try:
    status = target.stat()
    if not stat.S_ISREG(status.st_mode):
      raise WriteError('not a regular file any more')
    if not status.st_mode & 0o222 or not os.access(target, os.W_OK):
      raise WriteError('the file is read-only')
    _check_unchanged(target, expected)
    with _temporary_beside(target) as (temporary, stream):
      stream.write(data)
      stream.flush()
      os.fsync(stream.fileno())
      os.chmod(temporary, stat.S_IMODE(status.st_mode))
      with contextlib.suppress(OSError):  # Only root may give files away.
        os.chown(temporary, status.st_uid, status.st_gid)
      _check_unchanged(target, expected)
      os.replace(temporary, target)
    _sync_directory(target.parent)
  except OSError as error:
    raise WriteError(error.strerror or str(error)) from error


def _check_unchanged(path: pathlib.Path, expected: bytes) -> None:
  if path.read_bytes() != expected:
    raise WriteError('the file changed on disk since it was read')


@contextlib.contextmanager
def _temporary_beside(
  path: pathlib.Path,
) -> Iterator[tuple[str, BinaryIO]]:
  """A new temporary file in `path`'s directory, removed unless replaced."""
  descriptor, name = tempfile.mkstemp(
    prefix=f'.{path.name}.', suffix=SUFFIX, dir=path.parent
  )
  try:
    with os.fdopen(descriptor, 'wb') as stream:
      yield name, stream
  except BaseException:  # Interrupts too: never leave a half-written file.
    with contextlib.suppress(OSError):
      os.unlink(name)
    raise


def _sync_directory(directory: pathlib.Path) -> None:
  """Makes the rename itself durable (where the system allows it)."""
  with contextlib.suppress(OSError):
    descriptor = os.open(directory, os.O_RDONLY)
    try:
      os.fsync(descriptor)
    finally:
      os.close(descriptor)
