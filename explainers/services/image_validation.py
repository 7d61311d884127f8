"""Validation of uploaded image files: real formats only, bounded size and pixel count.

Pure functions over bytes (no database), so that every rule is tested on its own. A file is
accepted only when Pillow can decode it completely as one of :data:`ALLOWED_FORMATS`; its
extension is never trusted.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image as PILImage

ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "GIF": "gif"}
MAX_FILE_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 40_000_000
MIN_SIDE = 16


class ImageRejected(ValueError):
    """A file that is not an acceptable image; the message says why."""


@dataclass(frozen=True)
class ValidImage:
    data: bytes
    sha256: str
    format: str
    extension: str
    width: int
    height: int


def validate_image_bytes(data: bytes) -> ValidImage:
    """Decode ``data`` fully and check format, size and pixel count, or raise ImageRejected."""
    if not data:
        raise ImageRejected("the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ImageRejected(
            f"the file is {len(data) / 1e6:.1f} MB, more than the limit of "
            f"{MAX_FILE_BYTES / 1e6:.0f} MB"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data)) as probe:
                image_format = probe.format or ""
                width, height = probe.size
                if image_format not in ALLOWED_FORMATS:
                    raise ImageRejected(
                        f"format {image_format or 'unknown'} is not accepted "
                        f"(accepted: {', '.join(sorted(ALLOWED_FORMATS))})"
                    )
                if width * height > MAX_PIXELS:
                    raise ImageRejected(
                        f"the image has {width}×{height} pixels, more than the limit of "
                        f"{MAX_PIXELS:,} (decompression bomb?)"
                    )
                probe.load()  # decodes every byte: truncated files fail here
    except ImageRejected:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise ImageRejected(
            "the image is too large to decode safely (decompression bomb)"
        ) from None
    except PILImage.UnidentifiedImageError:
        raise ImageRejected("not an image file that can be read") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageRejected(f"the image data is damaged or truncated ({error})") from None
    if min(width, height) < MIN_SIDE:
        raise ImageRejected(f"the image is {width}×{height}, smaller than {MIN_SIDE} pixels a side")
    return ValidImage(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        format=image_format,
        extension=ALLOWED_FORMATS[image_format],
        width=width,
        height=height,
    )
