#!/usr/bin/env python3
"""The size and reach rules of docs/architecture.md, checked on the source tree (reads files, changes nothing):

- files over 400 lines (the sampler is allowed more) and classes over 300 lines;
- private members reached across modules: `x._name` (x not self/cls) where this module defines no `_name`, and
  `self._name` that the module never defines (private state inherited from another module).

    .venv/bin/python scripts/structure.py [folder ...]      # default: ishowtts_studio; exits 1 on findings
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_FILE_LINES = 400
MAX_CLASS_LINES = 300
FILE_EXCEPTIONS = {"f5_sampler.py"}  # the sampler: one hot loop kept in one place (issue 11)
CLASS_EXCEPTIONS = {"F5Sampler"}  # ... and its class


def _self_defined(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)  # class-level assignments
    return names


def _root(node: ast.expr) -> str:
    """The name an attribute chain starts from (`torch` for `torch.ops.aten`), or "" when it is not a name."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def findings(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, str(path))
    out = []
    lines = text.count("\n")
    if lines > MAX_FILE_LINES and path.name not in FILE_EXCEPTIONS:
        out.append(f"{path}: {lines} lines (over {MAX_FILE_LINES})")
    defined = _self_defined(tree)
    for node in ast.walk(tree):
        if (isinstance(node, ast.ClassDef) and node.name not in CLASS_EXCEPTIONS
                and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES):
            out.append(f"{path}:{node.lineno}: class {node.name} has {node.end_lineno - node.lineno + 1} lines "
                       f"(over {MAX_CLASS_LINES})")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                if node.attr not in defined:
                    out.append(f"{path}:{node.lineno}: self.{node.attr} is defined in another module")
            elif node.attr not in defined and _root(owner) != "torch":
                # a private of an object whose class lives elsewhere (torch's own private API is its business)
                out.append(f"{path}:{node.lineno}: {ast.unparse(node)} reaches another module's private member")
    return out


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path("ishowtts_studio")]
    found = [f for root in roots for p in sorted(root.rglob("*.py") if root.is_dir() else [root]) for f in findings(p)]
    print("\n".join(found) if found else "no findings")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
