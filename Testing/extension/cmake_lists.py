"""Read what the extension's CMakeLists.txt files declare (the few CMake commands the packaging uses)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_MACRO = "slicerMacroBuildScriptedModule"


def cmake_commands(text: str) -> list[tuple[str, list[str]]]:
    """(command name, arguments) of every command in a CMake file, comments removed, quotes kept off."""
    text = re.sub(r"#[^\n]*", "", text)
    commands = []
    for match in re.finditer(r"(\w+)\s*\(((?:[^()]|\([^()]*\))*)\)", text):
        arguments = re.findall(r'"([^"]*)"|(\S+)', match.group(2))
        commands.append((match.group(1), [quoted or bare for quoted, bare in arguments]))
    return commands


def expand(arguments: list[str], variables: dict[str, list[str]]) -> list[str]:
    """Substitute ``${NAME}`` references; a reference that is a whole argument expands to a list."""
    result = []
    for argument in arguments:
        whole = re.fullmatch(r"\$\{(\w+)\}", argument)
        if whole:
            result.extend(variables.get(whole.group(1), []))
        else:
            result.append(re.sub(r"\$\{(\w+)\}", lambda m: " ".join(variables.get(m.group(1), [])), argument))
    return result


def cmake_variables(commands) -> dict[str, list[str]]:
    """Values of the ``set(NAME values...)`` commands, in order."""
    variables: dict[str, list[str]] = {}
    for name, arguments in commands:
        if name == "set" and arguments:
            variables[arguments[0]] = expand(arguments[1:], variables)
    return variables


@dataclass
class ScriptedModule:
    """A module folder whose CMakeLists.txt calls slicerMacroBuildScriptedModule."""

    folder: Path
    name: str
    scripts: list[str]
    resources: list[str]
    unittest_scripts: list[str]
    with_generic_tests: bool

    @classmethod
    def read(cls, folder: Path) -> ScriptedModule:
        commands = cmake_commands((folder / "CMakeLists.txt").read_text(encoding="utf-8"))
        variables = cmake_variables(commands)
        build = [expand(args, variables) for name, args in commands if name == BUILD_MACRO]
        assert len(build) == 1, f"{folder}: {BUILD_MACRO} must be called once"
        sections, key = {}, None
        for argument in build[0]:
            if argument in ("NAME", "SCRIPTS", "RESOURCES"):
                key = argument
                sections.setdefault(key, [])
            elif argument == "WITH_GENERIC_TESTS":
                key = None
            elif key:
                sections[key].append(argument)
        unittests = [expand(args, variables)[1] for name, args in commands
                     if name == "slicer_add_python_unittest" and args and args[0] == "SCRIPT"]
        return cls(folder, sections["NAME"][0], sections.get("SCRIPTS", []), sections.get("RESOURCES", []),
                   unittests, "WITH_GENERIC_TESTS" in build[0])

    def shipped_files(self) -> tuple[set[str], set[str]]:
        """Python files and resources present in the folder, relative to it: every ``.py`` outside
        ``Testing/``, and every other file under ``Resources/`` or inside a Python package."""
        scripts, resources = set(), set()
        for path in self.folder.rglob("*"):
            relative = path.relative_to(self.folder)
            if not path.is_file() or "__pycache__" in relative.parts or relative.parts[0] == "Testing":
                continue
            if path.suffix == ".py":
                scripts.add(relative.as_posix())
            elif path.suffix != ".pyc" and (relative.parts[0] == "Resources"
                                            or (self.folder / relative.parts[0] / "__init__.py").is_file()):
                resources.add(relative.as_posix())
        return scripts, resources


def scripted_modules() -> list[ScriptedModule]:
    """Every module folder of the repository built with slicerMacroBuildScriptedModule."""
    folders = sorted(p.parent for p in REPO.glob("*/CMakeLists.txt")
                     if BUILD_MACRO in p.read_text(encoding="utf-8"))
    return [ScriptedModule.read(folder) for folder in folders]
