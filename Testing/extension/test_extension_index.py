"""The Extensions Index entry validates against the catalog schema and agrees with CMakeLists.txt."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from cmake_lists import REPO, cmake_commands, cmake_variables

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "slicer-extension-catalog-entry-schema-v1.0.1.json")
                    .read_text(encoding="utf-8"))
TOP = cmake_commands((REPO / "CMakeLists.txt").read_text(encoding="utf-8"))
VARIABLES = cmake_variables(TOP)
PROJECT = next(args[0] for name, args in TOP if name == "project")
ENTRY_PATH = REPO / "ExtensionsIndex" / f"{PROJECT}.json"


def entry() -> dict:
    return json.loads(ENTRY_PATH.read_text(encoding="utf-8"))


def test_entry_validates_against_the_catalog_schema():
    jsonschema.validate(entry(), SCHEMA)
    assert entry()["$schema"] == SCHEMA["$id"]


@pytest.mark.parametrize("change", [{"name": "Sli2Vol"}, {"tier": 6}, {"build_dependencies": "PyTorch"}])
def test_the_schema_rejects_what_the_index_rejects(change):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**entry(), **change}, SCHEMA)


def test_entry_agrees_with_the_extension_cmake():
    data = entry()
    assert not PROJECT.startswith("Slicer"), "the extension name must not start with 'Slicer'"
    homepage = VARIABLES["EXTENSION_HOMEPAGE"][0]
    assert data["scm_url"] == homepage + ".git"
    assert homepage.rsplit("/", 1)[1].startswith("Slicer"), "the repository name must start with 'Slicer'"
    assert data["build_dependencies"] == VARIABLES["EXTENSION_DEPENDS"]
    assert data["category"] == "Segmentation"
