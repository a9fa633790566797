"""The image formats lookalike accepts: one table that decoding and fetching both read.

Each row names a format as Pillow reports it, the file suffixes it is found under, the
magic bytes that open it and the MIME types servers label it with. :mod:`.decode` opens
only these formats and walks only these suffixes; the URL fetcher abandons a download
whose first bytes carry none of these signatures.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FORMATS",
    "IMAGE_SUFFIXES",
    "SNIFF_BYTES",
    "SUPPORTED_FORMATS",
    "VIDEO_FORMATS",
    "VIDEO_SUFFIXES",
    "ImageFormat",
    "sniff_format",
    "sniff_video",
]

#: Byte patterns that must all hold: (offset, bytes).
Signature = tuple[tuple[int, bytes], ...]


@dataclass(frozen=True)
class ImageFormat:
    name: str
    suffixes: tuple[str, ...]
    signatures: tuple[Signature, ...]
    mime_types: tuple[str, ...]
    #: Other names Pillow gives the same files (a multi-picture JPEG opens as MPO).
    aliases: tuple[str, ...] = ()

    def matches(self, head: bytes) -> bool:
        return any(
            all(head[at : at + len(magic)] == magic for at, magic in signature)
            for signature in self.signatures
        )


FORMATS: tuple[ImageFormat, ...] = (
    ImageFormat(
        "JPEG", (".jpg", ".jpeg", ".jpe"), (((0, b"\xff\xd8\xff"),),), ("image/jpeg",), aliases=("MPO",)
    ),
    ImageFormat("PNG", (".png",), (((0, b"\x89PNG\r\n\x1a\n"),),), ("image/png",)),
    ImageFormat("WEBP", (".webp",), (((0, b"RIFF"), (8, b"WEBP")),), ("image/webp",)),
    ImageFormat("GIF", (".gif",), (((0, b"GIF87a"),), ((0, b"GIF89a"),)), ("image/gif",)),
    ImageFormat("BMP", (".bmp",), (((0, b"BM"),),), ("image/bmp", "image/x-ms-bmp")),
    ImageFormat("TIFF", (".tif", ".tiff"), (((0, b"II*\x00"),), ((0, b"MM\x00*"),)), ("image/tiff",)),
)

#: Pillow format names :func:`~lookalike.embed.decode.decode_image` opens.
SUPPORTED_FORMATS = frozenset(name for fmt in FORMATS for name in (fmt.name, *fmt.aliases))
#: File suffixes (lower case, with the dot) that folder walks pick up.
IMAGE_SUFFIXES = frozenset(suffix for fmt in FORMATS for suffix in fmt.suffixes)
#: How many leading bytes :func:`sniff_format` needs to see.
SNIFF_BYTES = max(at + len(magic) for fmt in FORMATS for sig in fmt.signatures for at, magic in sig)


def sniff_format(head: bytes) -> str | None:
    """The name of the format the first bytes announce, or None."""
    return next((fmt.name for fmt in FORMATS if fmt.matches(head)), None)


#: Video containers (decoded by PyAV, :mod:`.video`): the same kind of row, for the URL
#: fetcher's signature check and for the folder walks of ``ingest``.
VIDEO_FORMATS: tuple[ImageFormat, ...] = (
    ImageFormat(
        "MP4",
        (".mp4", ".m4v", ".mov"),
        tuple(((4, box),) for box in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")),
        ("video/mp4", "video/quicktime"),
    ),
    ImageFormat(
        "MATROSKA", (".mkv", ".webm"), (((0, b"\x1aE\xdf\xa3"),),), ("video/webm", "video/x-matroska")
    ),
    ImageFormat("AVI", (".avi",), (((0, b"RIFF"), (8, b"AVI ")),), ("video/x-msvideo",)),
    ImageFormat("MPEG", (".mpg", ".mpeg"), (((0, b"\x00\x00\x01\xba"),),), ("video/mpeg",)),
)
#: File suffixes of videos (lower case, with the dot).
VIDEO_SUFFIXES = frozenset(suffix for fmt in VIDEO_FORMATS for suffix in fmt.suffixes)


def sniff_video(head: bytes) -> str | None:
    """The name of the video container the first bytes announce, or None."""
    return next((fmt.name for fmt in VIDEO_FORMATS if fmt.matches(head)), None)
