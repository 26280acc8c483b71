import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras.export.servable_ops import graph_xla_only_ops
from spn_keras.layers import CausalSelfAttention


@pytest.mark.parametrize("causal", [True, False])
def test_layer_contract(causal):
  x = np.random.default_rng(0).normal(size=(2, 7, 8)).astype("float32")
  testing.run_layer_test(
      CausalSelfAttention,
      dict(num_heads=2, key_dim=4, causal=causal),
      x,
      expected_output_shape=(2, 7, 8))


def test_output_dim_and_value_dim():
  x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
  testing.run_layer_test(
      CausalSelfAttention,
      dict(num_heads=3, key_dim=4, value_dim=2, output_dim=5, dropout=0.1),
      x,
      expected_output_shape=(2, 5, 5))


def _as_image(layer, length, depth):
  """Views a (1, L, D) sequence as a (1, L, 1, D) "image" so the causality helper applies."""

  def fn(images):
    return layer(tf.reshape(images, (-1, length, depth)))[:, :, None, :]

  return fn


def test_position_sees_itself_and_earlier_positions_only():
  length, depth = 9, 4
  layer = CausalSelfAttention(num_heads=2, key_dim=3)
  x = np.random.default_rng(1).normal(size=(1, length, 1, depth)).astype("float32")
  # Every feature of position p has rank p: inputs at p may reach outputs at p (inclusive).
  input_ranks = np.repeat(np.arange(length)[:, None, None], depth, axis=2)
  changed = testing.assert_causal(_as_image(layer, length, depth), x, input_ranks,
                                  np.arange(length)[:, None, None], inclusive=True)
  # ... and it does use all of them.
  for p in range(length):
    for q in range(p + 1):
      assert changed[q * depth:(q + 1) * depth, p].any(), (p, q)


def test_full_attention_sees_everything():
  length, depth = 6, 4
  layer = CausalSelfAttention(num_heads=2, key_dim=3, causal=False)
  x = np.random.default_rng(2).normal(size=(1, length, 1, depth)).astype("float32")
  changed = testing.dependence(_as_image(layer, length, depth), x)
  assert changed.reshape(length, depth, length, 1, depth).any(axis=(1, 3, 4)).all()


def test_variable_length_inside_tf_function():
  layer = CausalSelfAttention(num_heads=2, key_dim=3)
  fn = tf.function(layer, input_signature=[tf.TensorSpec((None, None, 4), tf.float32)])
  short = np.random.default_rng(3).normal(size=(1, 3, 4)).astype("float32")
  longer = np.concatenate([short, np.ones((1, 2, 4), "float32")], axis=1)
  # Causality: appending positions leaves the earlier outputs unchanged.
  np.testing.assert_allclose(fn(longer)[:, :3], fn(short), atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_heads=0, key_dim=4), "num_heads"),
    (dict(num_heads=2, key_dim=-1), "key_dim"),
    (dict(num_heads=2, key_dim=4, dropout=1.0), "dropout"),
])
def test_bad_arguments(kwargs, message):
  with pytest.raises(ValueError, match=message):
    CausalSelfAttention(**kwargs)


def test_bad_rank():
  with pytest.raises(ValueError, match="rank 3"):
    CausalSelfAttention(2, 2)(np.zeros((1, 2, 2, 2), "float32"))


@pytest.mark.parametrize("use_bias", [True, False])
def test_step_with_cache_matches_the_full_call(use_bias):
  length = 6
  layer = CausalSelfAttention(num_heads=2, key_dim=3, value_dim=2, output_dim=5,
                              use_bias=use_bias)
  x = np.random.default_rng(4).normal(size=(2, length, 4)).astype("float32")
  full = np.asarray(layer(x))
  weights = layer.step_weights()
  cache = layer.init_cache(2, length)
  for p in range(length):
    out, cache = layer.step(x[:, p], cache, p, weights)
    np.testing.assert_allclose(out, full[:, p], atol=1e-5)


def test_step_ignores_cache_positions_after_the_current_one():
  layer = CausalSelfAttention(num_heads=2, key_dim=3)
  x = np.random.default_rng(5).normal(size=(1, 4, 4)).astype("float32")
  full = np.asarray(layer(x))
  keys, values = layer.init_cache(1, 4)
  garbage = (keys + 1e3, values - 1e3)  # stale entries after position 0
  out, _ = layer.step(x[:, 0], garbage, 0, layer.step_weights())
  np.testing.assert_allclose(out, full[:, 0], atol=1e-5)


def test_step_needs_causal_attention():
  layer = CausalSelfAttention(num_heads=1, key_dim=2, causal=False)
  x = np.zeros((1, 3, 2), "float32")
  layer(x)
  with pytest.raises(ValueError, match="causal=True"):
    layer.step(x[:, 0], layer.init_cache(1, 3), 0, layer.step_weights())


def _cpu_has_bfloat16_arithmetic():
  try:
    with open("/proc/cpuinfo") as cpuinfo:
      flags = set(cpuinfo.read().split())
  except OSError:
    return False
  return bool(flags & {"avx512_bf16", "amx_bf16"})


@pytest.mark.parametrize("causal", [True, False])
def test_mixed_bfloat16_softmax_runs_on_the_bfloat16_scores(causal,
                                                                                monkeypatch):
  """Under mixed_bfloat16 the layer runs the softmax on its bfloat16 scores (no float32 copies
  of the (B, heads, L, L) scores); the docstring's promise: on CPUs with bfloat16 arithmetic
  the weights equal a float32 softmax rounded to bfloat16, elsewhere they are close to it."""
  softmax, calls = tf.nn.softmax, []

  def recording_softmax(logits, axis=-1, name=None):
    calls.append((logits, softmax(logits, axis=axis, name=name)))
    return calls[-1][1]

  monkeypatch.setattr(tf.nn, "softmax", recording_softmax)
  layer = CausalSelfAttention(num_heads=2, key_dim=8, causal=causal, dtype="mixed_bfloat16")
  x = tf.constant(np.random.default_rng(5).normal(size=(2, 64, 16)) * 3, tf.float32)
  assert layer(x).dtype == tf.bfloat16
  (scores, weights), = calls
  assert scores.dtype == weights.dtype == tf.bfloat16 and scores.shape == (2, 2, 64, 64)
  rounded = tf.cast(tf.cast(softmax(tf.cast(scores, tf.float32), axis=-1), tf.bfloat16),
                    tf.float32).numpy()
  weights = tf.cast(weights, tf.float32).numpy()
  assert np.abs(weights - rounded).max() <= 2**-6
  np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=0.02)
  if causal:  # the masked weights are exactly 0
    assert not np.triu(weights, k=1).any()
  if _cpu_has_bfloat16_arithmetic():
    np.testing.assert_array_equal(weights, rounded)


def test_portable_step_writes_the_same_cache_with_ordinary_kernels():
  """`step(portable=True)` (plain graphs, TF Serving) gives the same bits without XLA ops."""
  length = 5
  layer = CausalSelfAttention(num_heads=2, key_dim=3, value_dim=2)
  x = np.random.default_rng(6).normal(size=(2, length, 4)).astype("float32")
  layer(x)
  weights = layer.step_weights()

  def run(portable):
    @tf.function(jit_compile=False)
    def steps(x):
      cache, outputs = layer.init_cache(tf.shape(x)[0], length), []
      for p in range(length):
        out, cache = layer.step(x[:, p], cache, tf.constant(p), weights, portable=portable)
        outputs.append(out)
      return tf.stack(outputs, axis=1), cache

    graph = steps.get_concrete_function(tf.TensorSpec([None, length, 4])).graph
    return steps(x), {op for _, op in graph_xla_only_ops(graph.as_graph_def())}

  (outputs, cache), xla_ops = run(portable=True)
  (expected, expected_cache), expected_xla_ops = run(portable=False)
  assert xla_ops == set() and expected_xla_ops == {"XlaDynamicUpdateSlice"}
  np.testing.assert_array_equal(outputs, expected)
  for a, b in zip(cache, expected_cache):
    np.testing.assert_array_equal(a, b)
  assert "portable" not in layer.get_config()
