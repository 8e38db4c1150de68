"""Packaging: every module folder built with slicerMacroBuildScriptedModule lists exactly the files it has,
and the top-level CMakeLists.txt adds every module and carries the Extensions Index metadata."""
from __future__ import annotations

import re
import struct

import pytest
from cmake_lists import REPO, cmake_commands, cmake_variables, expand, scripted_modules

MODULES = scripted_modules()
TOP = cmake_commands((REPO / "CMakeLists.txt").read_text(encoding="utf-8"))
TOP_VARIABLES = cmake_variables(TOP)


def test_the_module_folders_are_found():
    assert "Sli2VolSegment" in [m.folder.name for m in MODULES]


def test_cmake_parsing_expands_variables_and_lists():
    commands = cmake_commands('set(M Mod) # note\nset(S ${M}.py ${M}Lib/a.py)\nset(T ${S} "b c.png")\nf(${T})')
    variables = cmake_variables(commands)
    assert variables["T"] == ["Mod.py", "ModLib/a.py", "b c.png"]
    assert expand(commands[-1][1], variables) == ["Mod.py", "ModLib/a.py", "b c.png"]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.folder.name)
def test_every_listed_file_exists_and_every_shipped_file_is_listed(module):
    scripts, resources = module.shipped_files()
    assert module.name == module.folder.name
    assert len(set(module.scripts)) == len(module.scripts), "a script is listed twice"
    assert len(set(module.resources)) == len(module.resources), "a resource is listed twice"
    missing = [f for f in module.scripts + module.resources if not (module.folder / f).is_file()]
    assert not missing, f"listed in {module.folder.name}/CMakeLists.txt but absent: {missing}"
    assert all(f.endswith(".py") for f in module.scripts)
    assert scripts - set(module.scripts) == set(), "Python files missing from SCRIPTS"
    assert resources - set(module.resources) == set(), "resources missing from RESOURCES"
    assert f"{module.name}.py" in module.scripts
    assert module.with_generic_tests


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.folder.name)
def test_in_app_tests_are_registered(module):
    assert module.unittest_scripts == [f"{module.name}.py"]
    source = (module.folder / f"{module.name}.py").read_text(encoding="utf-8")
    assert re.search(rf"class {module.name}Test\(ScriptedLoadableModuleTest\)", source)


def test_the_extension_adds_every_module():
    added = sorted(args[0] for name, args in TOP if name == "add_subdirectory")
    assert added == sorted(m.folder.name for m in MODULES)


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def _repository_file(url):
    """The repository file a raw GitHub URL of this project's main branch points to."""
    owner_repo = TOP_VARIABLES["EXTENSION_HOMEPAGE"][0].removeprefix("https://github.com/")
    prefix = f"https://raw.githubusercontent.com/{owner_repo}/main/"
    assert url.startswith(prefix), f"{url} is not a raw URL of {owner_repo}"
    path = REPO / url.removeprefix(prefix)
    assert path.is_file(), f"{url}: {path.relative_to(REPO)} is not in the repository"
    return path


def test_extension_icon_and_screenshots_are_files_of_the_repository():
    icon = TOP_VARIABLES["EXTENSION_ICONURL"]
    assert len(icon) == 1 and _png_size(_repository_file(icon[0])) == (128, 128)
    screenshots = " ".join(TOP_VARIABLES["EXTENSION_SCREENSHOTURLS"]).split()
    assert screenshots, "EXTENSION_SCREENSHOTURLS is empty: the Extensions Index rejects that"
    for url in screenshots:
        width, height = _png_size(_repository_file(url))
        assert 200 <= width <= 2000 and 200 <= height <= 2000
        assert _repository_file(url).stat().st_size < 500_000, "screenshots must stay small"


def test_extension_depends_on_pytorch():
    assert TOP_VARIABLES["EXTENSION_DEPENDS"] == ["PyTorch"]
