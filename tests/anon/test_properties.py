"""Property-based tests: whatever the config files hold, only `ConfigError` comes out; whatever
the element values, nothing identifying leaks and the output is readable DICOM."""

from __future__ import annotations

import copy
import dataclasses
import warnings
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import yaml
from anon_helpers import BASE_RULES, KEY, SALT, project_yaml, rule, write_yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from pixl.anon.config import load_project_config
from pixl.anon.engine import Anonymiser
from pixl.anon.leaks import STRING_VRS, find_leaks, outside, pixel_range
from pixl.anon.pseudonyms import Pseudonymiser
from pixl.anon.recipes import Criterion, blank_mask
from pixl.anon.tagops import Op
from pixl.errors import ConfigError
from pixl.synthetic import PRIVATE_CREATOR, PRIVATE_GROUP, make_study, random_specs

REPO_PROJECTS = Path(__file__).resolve().parents[2] / "projects"
BOUNDED = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Random config files


_FIELDS = [
    "project", "name", "azure_kv_alias", "modalities", "tag_operation_files", "base",
    "manufacturer_overrides", "series_filters", "allowed_manufacturers", "regex",
    "exclude_series_numbers", "min_instances_per_series", "image_operation_files",
    "deid_recipes", "destination", "dicom", "parquet", "xnat_destination_options",
    "overwrite", "group", "element", "op", "manufacturer", "tags",
]  # fmt: skip
_WORDS = ["base.yaml", "over.yaml", "us.recipe", "none", "folder", "CT", ".*", "(", "0x0010"]
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(_FIELDS + _WORDS + [op.value for op in Op])
)
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=20,
)
_VALID = project_yaml(
    overrides=("over.yaml",),
    allowed_manufacturers=[{"regex": "acme", "exclude_series_numbers": [3]}],
    series_filters=["scout"],
    image_operation_files={"deid_recipes": ["us.recipe"]},
)


@st.composite
def _mutated_config(draw: st.DrawFn) -> Any:
    """The valid config with one to three random changes deep inside it."""
    data = copy.deepcopy(_VALID)
    for _ in range(draw(st.integers(1, 3))):
        node = data
        while isinstance(node, dict | list) and node:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node = child
                continue
            if draw(st.booleans()):
                del node[key]
            else:
                node[key] = draw(_values)
            break
        if isinstance(node, dict) and draw(st.booleans()):
            node[draw(st.text(max_size=8))] = draw(_values)
    return data


_tag_number = st.integers(-5, 0x1FFFF) | st.sampled_from(["0x0010", "0xZZ", "10", "", "0x"])
_tag_entry = st.fixed_dictionaries(
    {},
    optional={
        "name": _values,
        "group": _tag_number | _values,
        "element": _tag_number | _values,
        "op": st.sampled_from([op.value for op in Op] + ["scramble"]) | _values,
    },
)
_tag_file = st.lists(_tag_entry, max_size=5) | _values
_override_file = (
    st.lists(
        st.fixed_dictionaries(
            {}, optional={"manufacturer": st.sampled_from(["acme", "(", ""]), "tags": _tag_file}
        ),
        max_size=3,
    )
    | _values
)
_recipe_line = st.one_of(
    st.sampled_from(
        ["FORMAT dicom", "FORMAT", "%filter graylist", "%filter", "%header", "%nope", "LABEL x"]
    ),
    st.builds(
        "{}{} {} {}".format,
        st.sampled_from(["", "+ ", "|| ", "+", "||"]),
        st.sampled_from([*Criterion, "startswith"]),
        st.sampled_from(["Modality", "Manufacturer", "0x00190010", "(0008,0070)", "Nope", ""]),
        st.text(max_size=8),
    ),
    st.builds(
        "{} {}".format,
        st.sampled_from(["coordinates", "keepcoordinates", "ctpcoordinates", "LABEL"]),
        st.sampled_from(["all", "from:SequenceOfUltrasoundRegions", "from:Nope", "from:"])
        | st.lists(st.integers(-5, 2**70), max_size=5).map(lambda xs: ",".join(map(str, xs)))
        | st.text(max_size=8),
    ),
    st.text(max_size=20),
)
_recipe = st.tuples(st.booleans(), st.lists(_recipe_line, max_size=10)).map(
    lambda t: ("FORMAT dicom\n%filter graylist\nLABEL l\n" if t[0] else "") + "\n".join(t[1])
)
_file_text = st.text(max_size=200) | st.binary(max_size=50)


def _projects(root: Path) -> Path:
    """A valid projects folder (config `p`), files overwritten by each example."""
    write_yaml(root / "tag-operations" / "base.yaml", [rule(k, op) for k, op in BASE_RULES])
    overrides = [{"manufacturer": "acme", "tags": [rule("PatientSex", "delete")]}]
    write_yaml(root / "tag-operations" / "manufacturer-overrides" / "over.yaml", overrides)
    (root / "image-operations").mkdir(parents=True, exist_ok=True)
    (root / "image-operations" / "us.recipe").write_text(
        "FORMAT dicom\n%filter graylist\nLABEL l\ncontains Modality US\ncoordinates 0,0,9,9\n"
    )
    write_yaml(root / "p.yaml", _VALID)
    return root


def _write(path: Path, content: Any) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(yaml.safe_dump(content))


def _load_or_config_error(root: Path) -> None:
    """Load `p`; anything but a config or a `ConfigError` fails the test. A loaded config's
    recipes are applied to a header, which must not fail either."""
    try:
        config = load_project_config(root, "p")
    except ConfigError:
        return
    if config.recipes is not None:
        ds = Dataset()
        ds.Modality, ds.Manufacturer = "US", "GE"
        region = Dataset()
        region.RegionLocationMinX0 = region.RegionLocationMinY0 = 1
        region.RegionLocationMaxX1 = region.RegionLocationMaxY1 = 5
        ds.SequenceOfUltrasoundRegions = [region]
        blank_mask(config.recipes.regions_for(ds), ds, 16, 16)


@BOUNDED
@given(config=_mutated_config() | _values | _file_text)
def test_random_project_config_only_raises_config_error(tmp_path: Path, config: Any) -> None:
    root = _projects(tmp_path / "projects")
    _write(root / "p.yaml", config)
    _load_or_config_error(root)


@BOUNDED
@given(
    which=st.sampled_from(["base", "override", "recipe"]),
    content=_tag_file | _override_file | _recipe | _file_text,
)
def test_random_tag_and_recipe_files_only_raise_config_error(
    tmp_path: Path, which: str, content: Any
) -> None:
    root = _projects(tmp_path / "projects")
    target = {
        "base": root / "tag-operations" / "base.yaml",
        "override": root / "tag-operations" / "manufacturer-overrides" / "over.yaml",
        "recipe": root / "image-operations" / "us.recipe",
    }[which]
    _write(target, content)
    _load_or_config_error(root)


# Random element values

# Every identifying token holds one of these; nothing pixl writes or keeps does.
_MARKERS = "éßøñÅÆðü"
_KEPT_MARKER = "Þ"  # in kept values only
_EXCLUDED = "\\^=\x00" + _MARKERS + _KEPT_MARKER


def _token(codec: str, marker: str) -> st.SearchStrategy[str]:
    chars = st.characters(
        codec=codec, exclude_categories=("Cs", "Zl", "Zp"), exclude_characters=_EXCLUDED
    )
    part = st.text(chars, max_size=12).map(lambda s: "".join(s.split()))
    return st.builds("{}{}{}".format, part, st.sampled_from(marker), part)


@st.composite
def _values_for_a_study(draw: st.DrawFn) -> tuple[str, dict[str, Any], set[str]]:
    """A character set, element values by keyword and the identifying tokens among them."""
    charset = draw(st.sampled_from(["ISO_IR 192", "ISO_IR 100"]))
    codec = "utf-8" if charset == "ISO_IR 192" else "latin-1"
    token = _token(codec, _MARKERS)
    tokens: set[str] = set()

    def words(separator: str, max_size: int = 4) -> str:
        chosen = draw(st.lists(token, max_size=max_size))
        tokens.update(chosen)
        return separator.join(chosen)

    def multi(separator: str) -> str | list[str]:
        values = [words(separator) for _ in range(draw(st.integers(1, 3)))]
        return values[0] if len(values) == 1 else values

    long_text = words(" ", max_size=400)
    values: dict[str, Any] = {
        "PatientName": multi("^"),
        "PatientID": multi(" "),
        "OtherPatientIDs": multi(" "),
        "AccessionNumber": words(""),
        "ReferringPhysicianName": words("="),
        "InstitutionName": words(" "),
        "StudyComments": long_text,
        "ImageComments": words(" ", max_size=30),
        "StudyDescription": draw(_token(codec, _KEPT_MARKER)),
    }
    return charset, values, tokens


def _study(charset: str, values: dict[str, Any]) -> list[bytes]:
    (spec,) = random_specs(1, seed=31, modalities=("CT",))
    spec = dataclasses.replace(spec, series_count=1, instances_per_series=2, rows=8, columns=8)
    sources = []
    for ds in make_study(spec):
        ds.SpecificCharacterSet = charset
        for keyword, value in values.items():
            setattr(ds, keyword, value)
        ds.RequestAttributesSequence[0].AccessionNumber = values["AccessionNumber"]
        block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
        block.add_new(0x03, "LO", values["PatientID"])
        buffer = BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        sources.append(buffer.getvalue())
    return sources


def _texts(ds: Dataset) -> list[str]:
    """Every text value at every depth, decoded (which must work for every element)."""
    texts = []
    for elem in ds.iterall():
        value = elem.value
        if elem.VR in STRING_VRS and value is not None:
            texts += [str(v) for v in (value if isinstance(value, MultiValue) else [value])]
    return texts


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(study=_values_for_a_study())
def test_random_values_never_leak_and_stay_readable(
    tmp_path_factory: Any, study: tuple[str, dict[str, Any], set[str]]
) -> None:
    charset, values, tokens = study
    anonymiser = Anonymiser(
        load_project_config(REPO_PROJECTS, "demo-ct-mr"), Pseudonymiser(KEY, SALT)
    )
    out = tmp_path_factory.mktemp("out")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # values longer than their VR allows, on purpose
        result = anonymiser.anonymise_study(_study(charset, values), out)
        assert result.kept == 2, result.dropped
        for path in result.files:
            data = path.read_bytes()
            ds = pydicom.dcmread(BytesIO(data))
            texts = _texts(ds)
            assert ds.StudyDescription == values["StudyDescription"]
            assert not [t for t in tokens if any(t in text for text in texts)]
            # The bytes too, for tokens long enough not to occur in binary values by chance.
            rest = b"".join(part for part, _ in outside(data, pixel_range(ds)))
            codec = "utf-8" if charset == "ISO_IR 192" else "latin-1"
            encoded = [t.encode(codec) for t in tokens]
            assert not [t for t in encoded if len(t) >= 4 and t in rest]
        assert not find_leaks(result.files, tokens)
