"""The built-in tools a server runs: file_search, code_interpreter, and plug-ins.

Adding a built-in tool is one module with a `BuiltinTool` subclass (`tools/base.py`) and one
line in `BUILTIN`. Tools from outside the package load by import path from the setting
`THREADLINE_TOOLS` (`package.module:Class`, comma-separated); their types are then accepted
in `tools` of assistants and runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator

from threadline.tools import schemas
from threadline.tools.base import BuiltinTool, ToolParts
from threadline.tools.code_interpreter.plugin import CodeInterpreterTool
from threadline.tools.file_search import FileSearchTool

BUILTIN: tuple[type[BuiltinTool], ...] = (FileSearchTool, CodeInterpreterTool)


class ToolRegistryError(ValueError):
    pass


class ToolRegistry:
    def __init__(self, tools: Iterable[BuiltinTool]) -> None:
        self._by_type: dict[str, BuiltinTool] = {}
        self._by_name: dict[str, BuiltinTool] = {}
        for tool in tools:
            if tool.type in self._by_type or tool.type == "function":
                raise ToolRegistryError(f"a tool of type '{tool.type}' is already registered")
            if tool.name in self._by_name:
                raise ToolRegistryError(f"a tool named '{tool.name}' is already registered")
            self._by_type[tool.type] = tool
            self._by_name[tool.name] = tool

    def __iter__(self) -> Iterator[BuiltinTool]:
        return iter(self._by_type.values())

    def by_type(self, tool_type: str) -> BuiltinTool | None:
        return self._by_type.get(tool_type)

    def by_name(self, name: str) -> BuiltinTool | None:
        """The tool whose function the model calls by `name`."""
        return self._by_name.get(name)

    async def aclose(self) -> None:
        for tool in self._by_type.values():
            await tool.aclose()


def load_class(path: str) -> type[BuiltinTool]:
    """A tool class named `package.module:Class`."""
    module_name, _, class_name = path.strip().partition(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ToolRegistryError(f"cannot load the tool '{path}': {error}") from error
    if not (isinstance(found, type) and issubclass(found, BuiltinTool)):
        raise ToolRegistryError(f"'{path}' is not a BuiltinTool subclass")
    return found


def build_tools(parts: ToolParts, plugins: str = "") -> ToolRegistry:
    """The built-in tools and the plug-ins named in `plugins` (comma-separated), made from
    the server's parts. Plug-in types become valid in requests from now on."""
    classes = [*BUILTIN, *(load_class(path) for path in plugins.split(",") if path.strip())]
    registry = ToolRegistry(cls.create(parts) for cls in classes)
    for cls in classes[len(BUILTIN) :]:
        schemas.accept_plugin_type(cls.type)
    return registry
