"""Getting data in: payload normalisation, file import, and the HTTP collector."""
from core.ingest.normalize import NormalizedRequest, PayloadError, decode_body, normalize

__all__ = ["NormalizedRequest", "PayloadError", "decode_body", "normalize"]
