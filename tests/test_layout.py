"""The package's layout stays quick to work in: small files, no import cycle, folders that say
what they hold.

- No module of `spn_keras/` is longer than `MAX_LINES` lines: a longer one holds more than one
  thing, and is split along its seams.
- No import cycle among the package's modules. Only the imports that run when a module is
  imported count (its top level, `if`/`try` blocks and class bodies included); an import inside
  a function runs when the function is called, which is how a cycle that cannot be avoided is
  broken (lazily), so it is left out of the graph.
- Every folder of the package is a package whose `__init__.py` docstring says what the folder
  holds (at least `MIN_DOCSTRING_WORDS` words: a title alone does not).

Each check has a test of the checker itself on made-up input, so that a check that can no
longer fail does not pass unnoticed.
"""

import ast
import pathlib

import spn_keras

PACKAGE = pathlib.Path(spn_keras.__file__).parent
MAX_LINES = 450
MIN_DOCSTRING_WORDS = 6


def _sources(package):
  """`{path relative to the package's parent, e.g. "spn_keras/cli/common.py": source}`."""
  return {path.relative_to(package.parent).as_posix(): path.read_text()
          for path in sorted(package.rglob("*.py"))}


def _oversized(sources, max_lines):
  """`"<path>: <n> lines"` for every source longer than `max_lines` lines, longest first."""
  counts = {path: len(source.splitlines()) for path, source in sources.items()}
  return [f"{path}: {count} lines"
          for path, count in sorted(counts.items(), key=lambda item: -item[1])
          if count > max_lines]


def _module_name(path):
  """The dotted name of the module at `path` ("a/b/__init__.py" -> "a.b")."""
  parts = path.removesuffix(".py").split("/")
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_time_imports(tree):
  """The `Import` and `ImportFrom` nodes of a module that run when it is imported: all but those
  inside functions (lazy imports)."""
  found, pending = [], [tree]
  while pending:
    node = pending.pop()
    if isinstance(node, (ast.Import, ast.ImportFrom)):
      found.append(node)
    elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
      pending.extend(ast.iter_child_nodes(node))
  return found


def _imported_modules(node, path, modules):
  """The modules among `modules` that the import `node` of the module at `path` imports.

  `import a.b` imports `a.b`; `from a import b` imports the module `a.b` if there is one, else
  the name `b` of `a` (its `__init__` for a package); relative imports are resolved against
  the package of `path`. The parent packages that Python imports on the way are left out: a
  package's `__init__` importing its own modules is not a cycle.
  """
  if isinstance(node, ast.Import):
    return {alias.name for alias in node.names if alias.name in modules}
  base = node.module or ""
  if node.level:
    package = _module_name(path).split(".")
    if not path.endswith("__init__.py"):
      package = package[:-1]
    base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
  found = set()
  for alias in node.names:
    submodule = f"{base}.{alias.name}"
    if submodule in modules:
      found.add(submodule)
    elif base in modules:
      found.add(base)
  return found


def _import_graph(sources):
  """`{module: the modules of `sources` it imports when it is imported}`."""
  modules = {_module_name(path) for path in sources}
  graph = {}
  for path, source in sources.items():
    imported = set()
    for node in _import_time_imports(ast.parse(source)):
      imported |= _imported_modules(node, path, modules)
    graph[_module_name(path)] = imported
  return graph


def _strongly_connected(graph):
  """Tarjan's strongly connected components of `graph` (`{node: successors}`)."""
  index, low, stack, on_stack, components = {}, {}, [], set(), []

  def visit(node):
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for successor in sorted(graph.get(node, ())):
      if successor not in index:
        visit(successor)
        low[node] = min(low[node], low[successor])
      elif successor in on_stack:
        low[node] = min(low[node], index[successor])
    if low[node] == index[node]:
      component = set()
      while node not in component:
        component.add(stack.pop())
      on_stack.difference_update(component)
      components.append(component)

  for node in sorted(graph):
    if node not in index:
      visit(node)
  return components


def _cycle_in(component, graph):
  """One cycle through the first module of `component`, as a list of modules (first repeated at
  the end): the shortest path back to it within the component."""
  start = min(component)
  paths = {start: [start]}
  frontier = [start]
  while frontier:
    following = []
    for node in frontier:
      for successor in sorted(graph[node] & component):
        if successor == start:
          return paths[node] + [start]
        if successor not in paths:
          paths[successor] = paths[node] + [successor]
          following.append(successor)
    frontier = following
  raise AssertionError(f"{sorted(component)} is not strongly connected")


def _import_cycles(sources):
  """`"a -> b -> a"` for one cycle of every group of modules that import each other."""
  graph = _import_graph(sources)
  cyclic = [component for component in _strongly_connected(graph)
            if len(component) > 1 or any(node in graph[node] for node in component)]
  return sorted(" -> ".join(_cycle_in(component, graph)) for component in cyclic)


def _undescribed_folders(sources, min_words):
  """`"<folder>: <what is wrong>"` for every folder of `sources` whose `__init__.py` is missing
  or has no docstring of at least `min_words` words."""
  folders = sorted({path.rpartition("/")[0] for path in sources})
  problems = []
  for folder in folders:
    init = f"{folder}/__init__.py"
    if init not in sources:
      problems.append(f"{folder}: no __init__.py")
      continue
    docstring = ast.get_docstring(ast.parse(sources[init])) or ""
    words = len(docstring.split())
    if words < min_words:
      problems.append(f"{folder}: the __init__.py docstring is too short ({words} of at least "
                      f"{min_words} words): say what the folder holds")
  return problems


def test_no_module_is_longer_than_max_lines():
  offenders = _oversized(_sources(PACKAGE), MAX_LINES)
  assert not offenders, (f"Modules above {MAX_LINES} lines (split them along their seams):\n"
                         + "\n".join(offenders))


def test_no_import_cycle_among_the_package_modules():
  cycles = _import_cycles(_sources(PACKAGE))
  assert not cycles, ("Import cycles (break them by moving what both need into a module of "
                      "its own; import lazily inside a function only if that is impossible):\n"
                      + "\n".join(cycles))


def test_every_folder_says_what_it_holds():
  problems = _undescribed_folders(_sources(PACKAGE), MIN_DOCSTRING_WORDS)
  assert not problems, "\n".join(problems)


def test_the_size_check_lists_longer_modules_longest_first():
  sources = {"p/a.py": "x\n" * 3, "p/b.py": "x\n" * 5, "p/c.py": "x\n" * 4}
  assert _oversized(sources, 3) == ["p/b.py: 5 lines", "p/c.py: 4 lines"]
  assert _oversized(sources, 5) == []


def test_the_cycle_check_finds_a_cycle_through_modules_names_and_packages():
  sources = {
      "p/__init__.py": "",
      "p/a.py": "from p import b\n",  # the module p.b
      "p/b.py": "import p.c.d\n",
      "p/c/__init__.py": "from p.c import d\n",  # a package importing its own module
      "p/c/d.py": "if True:\n  from p.a import name\n",  # a name of p.a
  }
  assert _import_cycles(sources) == ["p.a -> p.b -> p.c.d -> p.a"]
  sources["p/c/d.py"] = "from .. import a\n"  # relative: the module p.a
  assert _import_cycles(sources) == ["p.a -> p.b -> p.c.d -> p.a"]
  sources["p/c/d.py"] = "from p.c import e\n"  # p.c.e: a name of p/c/__init__.py
  assert _import_cycles(sources) == ["p.c -> p.c.d -> p.c"]
  sources["p/self.py"] = "class C:\n  from p import self\n"
  assert "p.self -> p.self" in _import_cycles(sources)


def test_the_cycle_check_leaves_out_lazy_imports():
  sources = {"p/__init__.py": "", "p/a.py": "from p import b\n",
             "p/b.py": "def f():\n  from p import a\n  return a\n"}
  assert _import_cycles(sources) == []


def test_the_folder_check_wants_an_init_that_describes_the_folder():
  sources = {
      "p/__init__.py": '"""Widgets: the parts that a frobnicator is made of."""\n',
      "p/a/__init__.py": '"""Widgets."""\n',
      "p/b/__init__.py": "import os\n",
      "p/c/d.py": "",
  }
  assert _undescribed_folders(sources, 6) == [
      "p/a: the __init__.py docstring is too short (1 of at least 6 words): say what the "
      "folder holds",
      "p/b: the __init__.py docstring is too short (0 of at least 6 words): say what the "
      "folder holds",
      "p/c: no __init__.py",
  ]
