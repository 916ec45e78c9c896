import os

import pytest

from runyard import snapshot
from runyard.errors import SnapshotTooLargeError
from runyard.snapshot import BlobStore, SnapshotLimits


def test_same_content_is_stored_once(tmp_path, project):
    src = project("a.py", "same\n", "b/c.py", "same\n", "d.txt", "other\n")
    blobs = BlobStore(tmp_path / "blobs")
    manifest, sources = snapshot.scan(src)
    assert snapshot.store(manifest, sources, blobs) == 2  # two distinct contents
    assert snapshot.store(manifest, sources, blobs) == 0  # nothing new the second time
    (src / "d.txt").write_text("changed\n")
    manifest2, sources2 = snapshot.scan(src)
    assert manifest2.digest != manifest.digest
    assert snapshot.store(manifest2, sources2, blobs) == 1  # only the changed file


def test_digest_is_stable_and_materialize_restores_files(tmp_path, project):
    src = project("train.py", "print(1)\n", "pkg/util.py", "X = 1\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    blobs = BlobStore(tmp_path / "blobs")
    manifest, sources = snapshot.scan(src)
    assert snapshot.scan(src)[0].digest == manifest.digest
    snapshot.store(manifest, sources, blobs)
    out = tmp_path / "out"
    snapshot.materialize(snapshot.load_manifest(blobs, manifest.digest), blobs, out)
    assert (out / "pkg/util.py").read_text() == "X = 1\n"
    assert os.access(out / "run.sh", os.X_OK)
    (out / "train.py").write_text("edited")  # a script editing its copy must not touch the blob
    assert blobs.path_of(manifest.files[-1].digest).read_text() in ("print(1)\n", "#!/bin/sh\n", "X = 1\n")


@pytest.mark.parametrize("files,expected", [
    ({".gitignore": "*.log\n"}, {"keep.py", "data/big.bin"}),
    ({".gitignore": "*.log\n", ".amlignore": "data/\n"}, {"keep.py", "x.log"}),  # amlignore wins
    ({".amlignore": "data/\n", ".runyardignore": "*.log\n"}, {"keep.py", "data/big.bin"}),  # runyardignore wins
])
def test_ignore_file_precedence(project, files, expected):
    contents = ["keep.py", "1", "x.log", "log", "data/big.bin", "bin"]
    for name, text in files.items():
        contents += [name, text]
    src = project(*contents)
    names = {f.path for f in snapshot.scan(src)[0].files} - set(files)
    assert names == expected


def test_git_and_cache_folders_never_travel(project):
    src = project("train.py", "x", ".git/HEAD", "ref", "__pycache__/m.pyc", "b", ".runyard/config.json", "{}")
    assert {f.path for f in snapshot.scan(src)[0].files} == {"train.py"}


def test_limit_error_lists_largest_folders(project):
    src = project("train.py", "x", "big/a.bin", "y" * 5000, "big/b.bin", "y" * 5000, "small/c.txt", "z")
    with pytest.raises(SnapshotTooLargeError) as info:
        snapshot.scan(src, SnapshotLimits(max_bytes=6000, max_files=100))
    message = str(info.value)
    assert "big/ 0.0 MB in 2 files" in message and "source_directory" in message and ".runyardignore" in message
    assert "your total snapshot size exceeds the limit of 0.0 MB" in message  # the service's words
    with pytest.raises(SnapshotTooLargeError, match="your snapshot exceeds the limit of 2 files"):
        snapshot.scan(src, SnapshotLimits(max_bytes=10**9, max_files=2))


@pytest.mark.parametrize("path", ["../escape.py", "/etc/passwd", "a/../../b.py", ""])
def test_a_manifest_cannot_point_outside_its_folder(path):
    import json

    from runyard.errors import InvalidValueError
    from runyard.snapshot import Manifest

    with pytest.raises(InvalidValueError, match="manifest path"):
        Manifest.from_json(json.dumps([[path, "a" * 64, 1, False]]))
