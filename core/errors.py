"""Every error lookalike raises, in one tree.

Library errors (PIL, FAISS, ONNX Runtime, SQLite, httpx) are translated into these at the
boundary where they happen, so callers catch ``LookalikeError`` and nothing else. Each class
carries a stable ``code`` and the HTTP status the service answers with::

    LookalikeError                      500 internal
    ├── InputError                      400 bad_input
    │   ├── DecodeError                 400 undecodable_image
    │   │   ├── EmptyImageError         400 empty_image
    │   │   ├── NotAnImageError         400 not_an_image
    │   │   └── TruncatedImageError     400 truncated_image
    │   ├── VideoDecodeError            400 undecodable_video (a corrupt container or stream)
    │   │   ├── TruncatedVideoError     400 truncated_video
    │   │   ├── NoVideoStreamError      400 no_video_stream (audio only, or no stream at all)
    │   │   ├── NotAVideoError          400 not_a_video (an image sent as a video)
    │   │   └── EmptyVideoError         400 empty_video (no frame decodes)
    │   ├── VideoTooLargeError          413 video_too_large (bytes, duration, frame size)
    │   ├── UnsupportedFormatError      415 unsupported_format
    │   ├── ImageTooLargeError          413 image_too_large  (bytes, pixels, decompression bombs)
    │   ├── RequestTooLargeError        413 request_too_large (an HTTP request body over the cap)
    │   └── UnsupportedMediaTypeError   415 unsupported_media_type (an HTTP body neither JSON nor multipart)
    ├── AuthError                       401 unauthorized
    │   ├── MissingAPIKeyError          401 missing_api_key
    │   ├── InvalidAPIKeyError          401 invalid_api_key
    │   └── TokenExpiredError           401 token_expired (a playground token past its time)
    ├── ForbiddenError                  403 forbidden (a playground token off its routes or origin)
    ├── RateLimitedError                429 rate_limited
    ├── ModelError                      500 model_error
    │   ├── ModelUnavailableError       503 model_unavailable (weights missing or not downloadable)
    │   └── InferenceError              500 inference_failed
    ├── IndexStoreError                 500 index_error
    │   ├── IndexNotFoundError          404 index_not_found
    │   ├── IndexCorruptError           500 index_corrupt
    │   ├── EmbedderMismatchError       409 embedder_mismatch
    │   ├── IndexLockedError            409 index_locked
    │   ├── ItemNotFoundError           404 not_found
    │   └── StoreUnavailableError       503 store_unavailable (the shared store's server is unreachable)
    ├── FetchError                      502 fetch_failed
    │   ├── UnsafeURLError              400 unsafe_url
    │   ├── FetchTimeoutError           504 fetch_timeout
    │   └── RemoteTooLargeError         413 image_too_large
    └── ConfigError                     500 config_error
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "DecodeError",
    "EmbedderMismatchError",
    "EmptyImageError",
    "EmptyVideoError",
    "FetchError",
    "FetchTimeoutError",
    "ForbiddenError",
    "ImageTooLargeError",
    "IndexCorruptError",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexStoreError",
    "InferenceError",
    "InputError",
    "InvalidAPIKeyError",
    "ItemNotFoundError",
    "LookalikeError",
    "MissingAPIKeyError",
    "ModelError",
    "ModelUnavailableError",
    "NoVideoStreamError",
    "NotAVideoError",
    "NotAnImageError",
    "RateLimitedError",
    "RemoteTooLargeError",
    "RequestTooLargeError",
    "StoreUnavailableError",
    "TokenExpiredError",
    "TruncatedImageError",
    "TruncatedVideoError",
    "UnsafeURLError",
    "UnsupportedFormatError",
    "UnsupportedMediaTypeError",
    "VideoDecodeError",
    "VideoTooLargeError",
]


class LookalikeError(Exception):
    """Base of every lookalike error."""

    code = "internal"
    http_status = 500


class InputError(LookalikeError):
    code = "bad_input"
    http_status = 400


class DecodeError(InputError):
    code = "undecodable_image"


class EmptyImageError(DecodeError):
    code = "empty_image"


class NotAnImageError(DecodeError):
    code = "not_an_image"


class TruncatedImageError(DecodeError):
    code = "truncated_image"


class VideoDecodeError(InputError):
    code = "undecodable_video"


class TruncatedVideoError(VideoDecodeError):
    code = "truncated_video"


class NoVideoStreamError(VideoDecodeError):
    code = "no_video_stream"


class NotAVideoError(VideoDecodeError):
    code = "not_a_video"


class EmptyVideoError(VideoDecodeError):
    code = "empty_video"


class VideoTooLargeError(InputError):
    code = "video_too_large"
    http_status = 413


class UnsupportedFormatError(InputError):
    code = "unsupported_format"
    http_status = 415


class ImageTooLargeError(InputError):
    code = "image_too_large"
    http_status = 413


class RequestTooLargeError(InputError):
    code = "request_too_large"
    http_status = 413


class UnsupportedMediaTypeError(InputError):
    code = "unsupported_media_type"
    http_status = 415


class AuthError(LookalikeError):
    """A request without a valid API key. Messages never repeat the key that was sent."""

    code = "unauthorized"
    http_status = 401


class MissingAPIKeyError(AuthError):
    code = "missing_api_key"


class InvalidAPIKeyError(AuthError):
    code = "invalid_api_key"


class TokenExpiredError(AuthError):
    code = "token_expired"


class ForbiddenError(LookalikeError):
    """A credential that is valid but not for this request (a playground token sent to a
    route it does not open, or from another origin)."""

    code = "forbidden"
    http_status = 403


class RateLimitedError(LookalikeError):
    code = "rate_limited"
    http_status = 429


class ModelError(LookalikeError):
    code = "model_error"


class ModelUnavailableError(ModelError):
    code = "model_unavailable"
    http_status = 503


class InferenceError(ModelError):
    code = "inference_failed"


class IndexStoreError(LookalikeError):
    code = "index_error"


class IndexNotFoundError(IndexStoreError):
    code = "index_not_found"
    http_status = 404


class IndexCorruptError(IndexStoreError):
    code = "index_corrupt"


class EmbedderMismatchError(IndexStoreError):
    code = "embedder_mismatch"
    http_status = 409


class IndexLockedError(IndexStoreError):
    code = "index_locked"
    http_status = 409


class ItemNotFoundError(IndexStoreError):
    code = "not_found"
    http_status = 404


class StoreUnavailableError(IndexStoreError):
    """The server holding the shared catalog did not answer after bounded retries: the
    request may succeed later (the replica keeps reconnecting), so 503, not 500."""

    code = "store_unavailable"
    http_status = 503


class FetchError(LookalikeError):
    code = "fetch_failed"
    http_status = 502


class UnsafeURLError(FetchError):
    code = "unsafe_url"
    http_status = 400


class FetchTimeoutError(FetchError):
    code = "fetch_timeout"
    http_status = 504


class RemoteTooLargeError(FetchError):
    code = "image_too_large"
    http_status = 413


class ConfigError(LookalikeError):
    code = "config_error"
