"""deid recipes: parsing (errors name file and line) and blanking burned-in text in pixels."""

from __future__ import annotations

import dataclasses
import shutil
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from anon_helpers import BASE_RULES, KEY, SALT, project_yaml, rule, write_yaml
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGLSLossless,
    RLELossless,
)

from pixl.anon.config import load_project_config
from pixl.anon.engine import AnonymisedInstance, Anonymiser, Dropped, DropReason
from pixl.anon.pseudonyms import Pseudonymiser
from pixl.anon.recipes import Recipes, parse_recipe
from pixl.errors import ConfigError
from pixl.synthetic import make_study, random_specs

REPO_RECIPE = Path(__file__).resolve().parents[2] / "projects/image-operations/us-deid.recipe"
US_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.6.1")
US_MULTIFRAME_STORAGE = UID("1.2.840.10008.5.1.4.1.1.3.1")
ROWS, COLUMNS = 120, 160
BANNER = 60  # rows the repo recipe blanks for GE machines
US_RULES = [
    *BASE_RULES,
    ("NumberOfFrames", "keep"),
    ("PlanarConfiguration", "keep"),
]


def _anonymiser(tmp_path: Path, recipe: Path = REPO_RECIPE) -> Anonymiser:
    root = tmp_path / "projects"
    write_yaml(root / "tag-operations" / "base.yaml", [rule(k, op) for k, op in US_RULES])
    (root / "image-operations").mkdir(parents=True, exist_ok=True)
    shutil.copy(recipe, root / "image-operations" / "us-deid.recipe")
    write_yaml(
        root / "us.yaml",
        project_yaml(
            modalities=("US",),
            min_instances_per_series=1,
            image_operation_files={"deid_recipes": ["us-deid.recipe"]},
        ),
    )
    return Anonymiser(load_project_config(root, "us"), Pseudonymiser(KEY, SALT))


def _ultrasound(manufacturer: str = "GE Healthcare", seed: int = 3) -> Dataset:
    """A synthetic single-frame US image with bright 'text' in its top band and below."""
    (spec,) = random_specs(1, seed=seed, modalities=("CT",))
    spec = dataclasses.replace(spec, series_count=1, instances_per_series=1, rows=ROWS)
    spec = dataclasses.replace(spec, columns=COLUMNS, manufacturer=manufacturer)
    (ds,) = make_study(spec)
    ds.Modality = "US"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = US_IMAGE_STORAGE
    pixels = np.frombuffer(ds.PixelData, "<u2").reshape(ROWS, COLUMNS).copy()
    pixels[8:20, 10:150:3] = 4095  # the banner: patient name, date
    pixels[100:110, 20:60:2] = 4095  # a caption below the banner the recipe leaves alone
    ds.PixelData = pixels.tobytes()
    return ds


def _multiframe_rgb(frames: int = 3, planar: int = 0) -> Dataset:
    ds = _ultrasound()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = US_MULTIFRAME_STORAGE
    rng = np.random.default_rng(7)
    pixels = rng.integers(1, 256, (frames, ROWS, COLUMNS, 3), dtype=np.uint8)
    if planar:
        pixels = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 3
    ds.PlanarConfiguration = planar
    ds.PhotometricInterpretation = "RGB"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelData = pixels.tobytes()
    return ds


def _bytes(ds: Dataset) -> bytes:
    buffer = BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _output(result: AnonymisedInstance | Dropped) -> Dataset:
    assert isinstance(result, AnonymisedInstance), result
    return pydicom.dcmread(BytesIO(result.data))


def _grey(ds: Dataset) -> np.ndarray:
    return np.frombuffer(ds.PixelData, "<u2").reshape(ROWS, COLUMNS)


# The repo recipe on synthetic ultrasound


def test_banner_is_blanked_and_the_rest_unchanged(tmp_path: Path) -> None:
    original = _ultrasound("GE Healthcare")
    before = _grey(original).copy()
    assert before[:BANNER].any()
    anonymiser = _anonymiser(tmp_path)
    result = anonymiser.anonymise_study([_bytes(original)], tmp_path / "out")
    assert result.kept == 1 and result.dropped == {}
    after = _grey(pydicom.dcmread(result.files[0]))
    assert not after[:BANNER].any()
    assert np.array_equal(after[BANNER:], before[BANNER:])


def test_other_manufacturer_is_untouched(tmp_path: Path) -> None:
    original = _ultrasound("ACME Medical")
    out = _output(_anonymiser(tmp_path).anonymise_instance(_bytes(original)))
    assert out.PixelData == original.PixelData


def test_ctp_coordinates_blank_the_side_panel(tmp_path: Path) -> None:
    original = _ultrasound("Philips Medical Systems")
    before = _grey(original).copy()
    after = _grey(_output(_anonymiser(tmp_path).anonymise_instance(_bytes(original))))
    blanked = np.zeros((ROWS, COLUMNS), dtype=bool)
    blanked[:48] = True
    blanked[48:, :170] = True  # ctpcoordinates 0,48,170,260 (clipped to the image)
    assert not after[blanked].any()
    assert np.array_equal(after[~blanked], before[~blanked])


@pytest.mark.parametrize("planar", [0, 1])
def test_every_frame_and_sample_is_blanked(tmp_path: Path, planar: int) -> None:
    original = _multiframe_rgb(frames=3, planar=planar)
    out = _output(_anonymiser(tmp_path).anonymise_instance(_bytes(original)))
    after = out.pixel_array  # (frames, rows, columns, samples) whatever the planar layout
    before = original.pixel_array
    assert after.shape == (3, ROWS, COLUMNS, 3)
    assert not after[:, :BANNER].any()
    assert np.array_equal(after[:, BANNER:], before[:, BANNER:])


def test_outside_the_ultrasound_regions_is_blanked(tmp_path: Path) -> None:
    original = _ultrasound("ACME Medical")  # no banner label: only the regions apply
    region = Dataset()
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 30, 25
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = 129, 94  # inclusive (PS3.3)
    original.SequenceOfUltrasoundRegions = [region]
    before = _grey(original).copy()
    after = _grey(_output(_anonymiser(tmp_path).anonymise_instance(_bytes(original))))
    inside = np.zeros((ROWS, COLUMNS), dtype=bool)
    inside[25:95, 30:130] = True
    assert np.array_equal(after[inside], before[inside])
    assert not after[~inside].any()


def test_implicit_vr_pixel_data_is_blanked_in_place(tmp_path: Path) -> None:
    original = _ultrasound()
    original.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    out = _output(_anonymiser(tmp_path).anonymise_instance(_bytes(original)))
    assert out.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert not _grey(out)[:BANNER].any()


def test_compressed_pixel_data_is_decoded_then_blanked(tmp_path: Path) -> None:
    original = _ultrasound()
    before = _grey(original).copy()
    original.compress(RLELossless, generate_instance_uid=False)
    out = _output(_anonymiser(tmp_path).anonymise_instance(_bytes(original)))
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    after = _grey(out)
    assert not after[:BANNER].any()
    assert np.array_equal(after[BANNER:], before[BANNER:])


def test_undecodable_compressed_pixels_drop_only_that_instance(tmp_path: Path) -> None:
    broken = _ultrasound(seed=4)
    broken.file_meta.TransferSyntaxUID = JPEGLSLossless
    broken.PixelData = encapsulate([b"\xff\xd8 not a JPEG-LS stream \xff\xd9"])
    good = _ultrasound(seed=5)
    anonymiser = _anonymiser(tmp_path)
    dropped = anonymiser.anonymise_instance(_bytes(broken))
    assert dropped == Dropped(DropReason.PIXELS_NOT_CLEANABLE.value)
    assert isinstance(dropped, Dropped) and "JPEG-LS" in dropped.detail
    result = anonymiser.anonymise_study([_bytes(broken), _bytes(good)], tmp_path / "out")
    assert result.kept == 1
    assert result.dropped == {DropReason.PIXELS_NOT_CLEANABLE.value: 1}


def test_matching_instance_without_rows_is_refused(tmp_path: Path) -> None:
    original = _ultrasound()
    del original.Rows
    result = _anonymiser(tmp_path).anonymise_instance(_bytes(original))
    assert result == Dropped(DropReason.PIXELS_NOT_CLEANABLE.value)


def test_recipes_are_parsed_when_the_config_loads(tmp_path: Path) -> None:
    config = _anonymiser(tmp_path).config
    assert isinstance(config.recipes, Recipes)
    assert [label.name for label in config.recipes.labels][:2] == [
        "Ultrasound outside its declared regions",
        "GE ultrasound, patient and study banner",
    ]


# Conditions


def _label_matches(tmp_path: Path, conditions: str, **values: Any) -> bool:
    path = tmp_path / "t.recipe"
    path.write_text(f"FORMAT dicom\n%filter graylist\nLABEL t\n{conditions}\ncoordinates all\n")
    ((_, label),) = parse_recipe(path)
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return label.matches(ds)


@pytest.mark.parametrize(
    ("conditions", "values", "expected"),
    [
        ("contains Manufacturer ge", {"Manufacturer": "GE Healthcare"}, True),
        ("contains Manufacturer ^ge$", {"Manufacturer": "GE Healthcare"}, False),
        ("contains Manufacturer A400|A500", {"Manufacturer": "x a500"}, True),
        ("notcontains Manufacturer ge", {"Manufacturer": "Philips"}, True),
        ("notcontains Manufacturer ge", {}, True),
        ("equals Modality us", {"Modality": "US"}, True),
        ("equals Modality U", {"Modality": "US"}, False),
        ("notequals Modality US", {"Modality": "CT"}, True),
        ("present SequenceOfUltrasoundRegions", {"SequenceOfUltrasoundRegions": []}, True),
        ("missing SequenceOfUltrasoundRegions", {}, True),
        ("missing Manufacturer", {"Manufacturer": ""}, False),
        ("empty Manufacturer", {"Manufacturer": ""}, True),
        ("empty Manufacturer", {}, False),
        ("contains ImageType SECONDARY", {"ImageType": ["DERIVED", "SECONDARY"]}, True),
        ("contains 0x00080070 ge", {"Manufacturer": "GE"}, True),
        ("contains (0008,0070) ge", {"Manufacturer": "GE"}, True),
        ("equals Modality US\n+ contains Manufacturer ge", {"Modality": "US"}, False),
        ("equals Modality US\n|| contains Manufacturer ge", {"Modality": "US"}, True),
        ("equals Modality CT\n|| contains Manufacturer ge", {"Manufacturer": "GE"}, True),
        (
            "equals Modality US\n+ equals Rows 1 || contains Manufacturer ge",
            {"Modality": "US", "Manufacturer": "GE"},
            True,
        ),
        ("equals Modality US + contains Manufacturer ge", {"Modality": "US"}, False),
        ("equals Rows 480", {"Rows": 480}, True),
    ],
)
def test_conditions(
    tmp_path: Path, conditions: str, values: dict[str, Any], expected: bool
) -> None:
    assert _label_matches(tmp_path, conditions, **values) is expected


def test_a_label_without_conditions_applies_to_every_instance(tmp_path: Path) -> None:
    assert _label_matches(tmp_path, "") is True


def test_header_section_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "t.recipe"
    path.write_text("FORMAT dicom\n%header\nREPLACE PatientID var:id\nNONSENSE here\n")
    assert parse_recipe(path) == []


# Errors name the file and the line


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("%filter graylist\n", "line 1", "FORMAT dicom"),
        ("FORMAT nifti\n", "line 1", "FORMAT dicom"),
        ("FORMAT dicom\n%filters graylist\n", "line 2", "unknown section"),
        ("FORMAT dicom\n%filter\n", "line 2", "needs a name"),
        ("FORMAT dicom\nLABEL x\n", "line 2", "expected a section"),
        ("FORMAT dicom\n%filter g\ncontains Modality US\n", "line 3", "LABEL"),
        ("FORMAT dicom\n%filter g\nLABEL x\n\n  startswith Modality U\n", "line 5", "unknown"),
        ("FORMAT dicom\n%filter g\nLABEL x\ncontains Modality\n", "line 4", "a field and"),
        ("FORMAT dicom\n%filter g\nLABEL x\npresent\n", "line 4", "one field"),
        ("FORMAT dicom\n%filter g\nLABEL x\ncontains Manufactory GE\n", "line 4", "unknown field"),
        ("FORMAT dicom\n%filter g\nLABEL x\ncontains Manufacturer (ge\n", "line 4", "regular"),
        ("FORMAT dicom\n%filter g\nLABEL x\ncoordinates 0,0,10\n", "line 4", "four whole"),
        ("FORMAT dicom\n%filter g\nLABEL x\ncoordinates 0,0,-1,5\n", "line 4", "four whole"),
        ("FORMAT dicom\n%filter g\nLABEL x\ncoordinates 9,9,1,1\n", "line 4", "smaller"),
        ("FORMAT dicom\n%filter g\nLABEL x\nkeepcoordinates from:Nothing\n", "line 4", "field"),
        ("", None, "FORMAT dicom"),
    ],
)
def test_malformed_recipe_names_file_and_line(
    tmp_path: Path, text: str, line: str | None, problem: str
) -> None:
    path = tmp_path / "bad.recipe"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        parse_recipe(path)
    assert caught.value.source == str(path)
    assert caught.value.field == line
    assert problem in caught.value.problem


def test_malformed_recipe_fails_the_config_load(tmp_path: Path) -> None:
    bad = tmp_path / "bad.recipe"
    bad.write_text("FORMAT dicom\n%filter graylist\nLABEL x\ncoordinates top\n")
    with pytest.raises(ConfigError) as caught:
        _anonymiser(tmp_path, recipe=bad)
    assert caught.value.source.endswith("us-deid.recipe")
    assert caught.value.field == "line 4"
