"""`CodecError`: a compressed file that cannot be decoded, and why."""


class CodecError(ValueError):
  """A file that is not an spn-keras image file, belongs to another model, or is damaged.

  Raised by `spn_keras.codec.decompress` (and the header reader) with a message that says
  which: not a file of this format, a truncated header or one that fails its own CRC
  (damaged), another pipeline's file, or pixels that fail their CRC (a corrupt or truncated
  payload, or a file made in another environment; the message compares the environments).

  Args:
    message: what went wrong.
    file_index: the index of the file in the `decompress` call, or None.
  """

  def __init__(self, message, file_index=None):
    super().__init__(message)
    self.file_index = file_index
