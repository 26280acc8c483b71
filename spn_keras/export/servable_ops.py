"""The check that a SavedModel runs in TF Serving: no op that needs XLA.

Some TensorFlow ops have no ordinary CPU/GPU kernel: the `Xla*` ops (`XlaDynamicUpdateSlice`,
which `keras.ops.slice_update` lowers to on the TensorFlow backend, `XlaGather`, ...) run only
when XLA compiles them, and functions traced with `jit_compile=True` carry the attribute
`_XlaMustCompile`. TensorFlow compiles both on demand; TF Serving does not: its XLA
compilation is off unless the server starts with the experimental
`--xla_cpu_compilation_enabled` flag (tensorflow/serving#1858; on GPUs see #2214), so a
signature that reaches such an op fails in the server. The check reads `saved_model.pb` and
walks every node of each meta graph and of every function in its library (signatures, the
functions they call, `while` loop bodies).
"""

import collections
import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

MUST_COMPILE_ATTR = "_XlaMustCompile"
_TOP_LEVEL = "<graph>"  # the function name given to nodes of a meta graph's own graph


def _read(saved_model_dir):
  """The `SavedModel` proto of `<saved_model_dir>/saved_model.pb`."""
  path = os.path.join(saved_model_dir, "saved_model.pb")
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(f"`saved_model_dir`: no `{path}` (not a SavedModel folder written "
                            f"by tf.saved_model.save).")
  saved = saved_model_pb2.SavedModel()
  with tf.io.gfile.GFile(path, "rb") as f:
    saved.ParseFromString(f.read())
  return saved


def _graphs(graph_def):
  """`(function name, nodes, function attrs or None)` of a GraphDef and its library."""
  yield _TOP_LEVEL, graph_def.node, None
  for function in graph_def.library.function:
    yield function.signature.name, function.node_def, function.attr


def _needs_xla(op_type):
  """Whether `op_type` has no ordinary kernel (`Xla*`, and the internal `_Xla*` ops)."""
  return op_type.lstrip("_").startswith("Xla")


def graph_xla_only_ops(graph_def):
  """`xla_only_ops` of one `GraphDef` (e.g. a traced function's `graph.as_graph_def()`).

  Args:
    graph_def: a `tf.compat.v1.GraphDef`; its function library is walked too.

  Returns:
    list of `(function name, op type)` as in `xla_only_ops`.
  """
  return [(name, node.op) for name, nodes, _ in _graphs(graph_def) for node in nodes
          if _needs_xla(node.op)]


def xla_only_ops(saved_model_dir):
  """The ops of a SavedModel that run only under XLA compilation.

  Args:
    saved_model_dir: a SavedModel folder (local or a bucket path).

  Returns:
    list of `(function name, op type)`, one per node whose op type is `Xla*` (or `_Xla*`),
    in the order of `saved_model.pb`; a node of a meta graph's own graph (not of a library
    function) is named `"<graph>"`. Empty when every op has an ordinary kernel.

  Raises:
    FileNotFoundError: `saved_model_dir` holds no `saved_model.pb`.
  """
  return [found for meta_graph in _read(saved_model_dir).meta_graphs
          for found in graph_xla_only_ops(meta_graph.graph_def)]


def must_compile_functions(saved_model_dir):
  """The functions of a SavedModel that are marked to be compiled by XLA.

  Args:
    saved_model_dir: a SavedModel folder (local or a bucket path).

  Returns:
    sorted list of function names: library functions whose `_XlaMustCompile` attribute is true
    (traced with `jit_compile=True`), and functions called by a node carrying that attribute.

  Raises:
    FileNotFoundError: `saved_model_dir` holds no `saved_model.pb`.
  """
  names = set()
  for name, nodes, attrs in (graph for meta_graph in _read(saved_model_dir).meta_graphs
                             for graph in _graphs(meta_graph.graph_def)):
    if attrs is not None and MUST_COMPILE_ATTR in attrs and attrs[MUST_COMPILE_ATTR].b:
      names.add(name)
    for node in nodes:
      if MUST_COMPILE_ATTR in node.attr and node.attr[MUST_COMPILE_ATTR].b:
        callee = node.attr["f"].func.name if "f" in node.attr else ""
        names.add(callee or f"{node.op} node `{node.name}` in {name}")
  return sorted(names)


def check_servable(saved_model_dir):
  """Raises unless every op of a SavedModel has an ordinary kernel (TF Serving can run it).

  Args:
    saved_model_dir: a SavedModel folder (local or a bucket path).

  Raises:
    ValueError: the SavedModel holds `Xla*` ops or must-compile functions; the message names
      the op types (with counts), the functions they are in and why TF Serving refuses them.
    FileNotFoundError: `saved_model_dir` holds no `saved_model.pb`.
  """
  ops = xla_only_ops(saved_model_dir)
  compiled = must_compile_functions(saved_model_dir)
  if not ops and not compiled:
    return
  problems = []
  if ops:
    functions = collections.defaultdict(set)
    for function, op in ops:
      functions[op].add(function)
    counts = collections.Counter(op for _, op in ops)
    problems += [f"{count} `{op}` op(s), which have no ordinary CPU/GPU kernel, in "
                 f"{', '.join(sorted(functions[op]))}" for op, count in sorted(counts.items())]
  if compiled:
    problems.append(f"function(s) marked `{MUST_COMPILE_ATTR}` (traced with jit_compile=True): "
                    f"{', '.join(compiled)}")
  raise ValueError(
      f"The SavedModel at `{saved_model_dir}` needs XLA compilation: "
      + "; ".join(problems) + ". TensorFlow compiles these on demand, but TF Serving runs XLA "
      "only behind its experimental --xla_cpu_compilation_enabled flag (tensorflow/serving"
      "#1858; GPUs: #2214), so the signatures reaching them would fail in the server. Trace "
      "the served functions with jit_compile=False and ops with ordinary kernels (e.g. "
      "spn_keras.ops.update_slice with portable=True instead of keras.ops.slice_update).")
