"""Blank the regions a project's deid recipes name in the pixel data of an instance.

Native (uncompressed) pixel data is edited in place in its own encoding through a numpy view,
every frame and every sample; compressed pixel data is first decoded by pydicom (the output
then carries Explicit VR Little Endian), and when no installed decoder can do it the instance
is refused: burned-in text that cannot be removed must not leave.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID, ImplicitVRLittleEndian

from pixl.anon.leaks import PIXEL_DATA
from pixl.anon.recipes import Recipes, blank_mask

_SUPPORTED_BITS = (8, 16, 32, 64)


def clean_pixels(ds: Dataset, recipes: Recipes) -> str | None:
    """Blank, in place, what `recipes` say for this header; None when done (or nothing to
    do), else why it cannot be done."""
    if PIXEL_DATA not in ds:
        return None
    regions = recipes.regions_for(ds)
    if not regions:
        return None
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    if rows < 1 or columns < 1:
        return "a recipe applies but the instance has no Rows and Columns to blank by"
    mask = blank_mask(regions, ds, rows, columns)
    if not mask.any():
        return None
    meta = getattr(ds, "file_meta", None)
    declared = meta.get("TransferSyntaxUID") if meta is not None else None
    transfer_syntax = UID(declared or ImplicitVRLittleEndian)
    if transfer_syntax.is_compressed:
        try:
            ds.decompress(generate_instance_uid=False)
        except Exception as exc:  # any decoder failure: no handler, bad stream, ...
            return (
                f"compressed pixel data ({transfer_syntax.name}) could not be decoded to blank "
                f"burned-in text ({type(exc).__name__}); install a pydicom decoder plug-in "
                "for it (pylibjpeg, gdcm)"
            )
        transfer_syntax = UID(ds.file_meta.TransferSyntaxUID)
    return _blank_native(ds, mask, transfer_syntax.is_little_endian)


def _blank_native(ds: Dataset, mask: np.ndarray, little_endian: bool) -> str | None:
    bits = int(ds.get("BitsAllocated") or 0)
    samples = int(ds.get("SamplesPerPixel") or 1)
    frames = int(ds.get("NumberOfFrames") or 1)
    rows, columns = mask.shape
    if bits not in _SUPPORTED_BITS:
        return f"pixel data of {bits} bits allocated cannot be blanked"
    if str(ds.get("PhotometricInterpretation", "")).endswith("_422"):
        return "uncompressed YBR_FULL_422 pixel data cannot be blanked"
    elem = ds.get_item(PIXEL_DATA)
    data = elem.value if elem is not None else None
    dtype = np.dtype(f"{'<' if little_endian else '>'}u{bits // 8}")
    count = frames * rows * columns * samples
    if not isinstance(data, bytes) or len(data) < count * dtype.itemsize:
        return "the pixel data is shorter than Rows x Columns x frames x samples"
    buffer = bytearray(data)
    pixels = np.frombuffer(buffer, dtype, count)
    if samples > 1 and int(ds.get("PlanarConfiguration") or 0) == 1:
        pixels.reshape(frames, samples, rows, columns)[:, :, mask] = 0
    else:
        pixels.reshape(frames, rows, columns, samples)[:, mask] = 0
    if isinstance(elem, RawDataElement):
        ds[PIXEL_DATA] = elem._replace(value=bytes(buffer))
    else:
        ds[PIXEL_DATA].value = bytes(buffer)
    return None
