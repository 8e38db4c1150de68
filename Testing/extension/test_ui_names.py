"""Every widget the Python code of a module looks up exists in the .ui file it loads."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from cmake_lists import scripted_modules

MODULES = scripted_modules()
QT_CLASS = re.compile(r"Q[A-Z]\w*$")


def ui_widgets(path) -> dict[str, str]:
    """{object name: class} of the widgets (and layouts) in a Qt Designer file."""
    root = ET.parse(path).getroot()
    names = [(w.get("name"), w.get("class")) for w in root.iter() if w.tag in ("widget", "layout")]
    assert len({n for n, _ in names}) == len(names), f"{path.name}: a widget name is used twice"
    return dict(names)


def python_files(module):
    return [module.folder / f for f in module.scripts
            if not f.startswith("sli2vol/") and (module.folder / f).is_file()]


def loaded_ui_files(source: str) -> set[str]:
    """Names of the .ui files a Python file loads (string literals ending in .ui)."""
    return set(re.findall(r"[\"'](?:UI/)?(\w+\.ui)[\"']", source))


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.folder.name)
def test_widget_names_looked_up_exist_in_the_ui(module):
    ui_folder = module.folder / "Resources" / "UI"
    all_ui = {p.name: ui_widgets(p) for p in ui_folder.glob("*.ui")}
    loaded_somewhere = set()
    for path in python_files(module):
        source = path.read_text(encoding="utf-8")
        own = loaded_ui_files(source)
        loaded_somewhere |= own
        assert own <= set(all_ui), f"{path.name} loads a .ui that is not in Resources/UI: {own - set(all_ui)}"
        own_names = set().union(*(all_ui[u] for u in own)) if own else set()
        any_names = set().union(*all_ui.values()) if all_ui else set()
        for name in re.findall(r"\bself\.ui\.(\w+)", source):
            assert name in own_names, f"{path.name}: self.ui.{name} is not a widget of {sorted(own)}"
        for name in re.findall(r"\w\.ui\.(\w+)", source.replace("self.ui.", "")):
            assert name in any_names, f"{path.name}: ui.{name} is not a widget of any .ui of {module.name}"
        for name in re.findall(r"findChild\([^,]+,\s*[\"'](\w+)[\"']", source):
            assert name in any_names, f"{path.name}: findChild {name!r} is not in any .ui of {module.name}"
    assert set(all_ui) <= loaded_somewhere, f"{sorted(set(all_ui) - loaded_somewhere)} is loaded by no Python file"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.folder.name)
def test_custom_widgets_are_declared(module):
    for path in (module.folder / "Resources" / "UI").glob("*.ui"):
        root = ET.parse(path).getroot()
        declared = {c.findtext("class") for c in root.iter("customwidget")}
        used = {w.get("class") for w in root.iter("widget")}
        undeclared = {c for c in used if not QT_CLASS.match(c)} - declared
        assert not undeclared, f"{path.name}: custom widgets used without a <customwidget> entry: {undeclared}"


def test_the_check_catches_a_missing_widget(tmp_path):
    """The lookup pattern this test relies on finds names the way the module code writes them."""
    source = 'ui = slicer.util.loadUI(self.resourcePath("UI/X.ui"))\nself.ui.applyButton.enabled = True\n'
    assert loaded_ui_files(source) == {"X.ui"}
    assert re.findall(r"\bself\.ui\.(\w+)", source) == ["applyButton"]
