"""`fleet faces`: photos are read and checked, and names refused, before any AWS call; what the
search prints."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from cli.faces import app, read_photo, search_line
from cloud.errors import InvalidInputError
from cloud.faces.checks import MAX_IMAGE_BYTES, ImageFormat
from cloud.faces.gallery import PhotoSearch
from cloud.faces.models import FaceStatus


def _jpeg(path: Path) -> Path:
    out = io.BytesIO()
    Image.new("RGB", (100, 100), (1, 2, 3)).save(out, format="JPEG")
    path.write_bytes(out.getvalue())
    return path


def test_a_photo_file_is_read_and_checked(tmp_path: Path) -> None:
    photo = read_photo(_jpeg(tmp_path / "alice.jpg"))
    assert (photo.label, photo.format) == (str(tmp_path / "alice.jpg"), ImageFormat.JPEG)


def test_a_missing_file_or_a_folder_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"nope\.jpg: no such file"):
        read_photo(tmp_path / "nope.jpg")
    with pytest.raises(InvalidInputError, match="a directory, not a photo"):
        read_photo(tmp_path)


def test_a_file_over_the_limit_is_refused_with_its_size_without_reading_it_all(
    tmp_path: Path,
) -> None:
    big = _jpeg(tmp_path / "big.jpg")
    with big.open("r+b") as file:
        file.truncate(50 * MAX_IMAGE_BYTES)  # sparse: 250 MB on paper
    with pytest.raises(InvalidInputError, match=r"big\.jpg: 262,144,000 bytes, more than"):
        read_photo(big)


def test_a_file_that_is_no_photo_is_refused(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("alice")
    with pytest.raises(InvalidInputError, match=r"notes\.txt: not a JPEG or PNG"):
        read_photo(notes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "Alice", "a.jpg"], "person name 'Alice' is not valid"),
        (["add", "alice", "missing.jpg"], "missing.jpg: no such file"),
        (["search", "missing.jpg"], "missing.jpg: no such file"),
    ],
)
def test_bad_input_is_refused_before_any_aws_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    """The local stack is not running here: reaching AWS would exit with 8 (unavailable)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLEET_HOME", str(tmp_path / "home"))
    _jpeg(tmp_path / "a.jpg")

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 2, result.output
    assert message in result.output


def _search(status: FaceStatus, faces: int, **found: object) -> PhotoSearch:
    return PhotoSearch(photo="door.jpg", status=status, faces=faces, threshold=95.0, **found)


@pytest.mark.parametrize(
    ("result", "line"),
    [
        (_search(FaceStatus.NAMED, 1, name="alice", similarity=99.234), "alice, 99.2%"),
        (
            _search(FaceStatus.NAMED, 3, name="bob", similarity=96.0),
            "bob, 96.0% (the largest of 3 faces)",
        ),
        (_search(FaceStatus.UNKNOWN, 1), "unknown: no known face at 95% or more"),
        (_search(FaceStatus.NO_FACE, 0), "no face in door.jpg"),
    ],
)
def test_what_a_search_prints(result: PhotoSearch, line: str) -> None:
    assert search_line(result) == line
