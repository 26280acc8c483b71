"""`Trainer`: a custom training loop for one stage under any `tf.distribute` strategy.

Keras 3.15's `model.fit` fails under `MultiWorkerMirroredStrategy` (Keras issue 20585, TF
issue 72388), so training runs `strategy.run` inside a `tf.function`, with the per-example
loss summed and divided by the global batch size (TF Model Garden's task/strategy split).
"""

import contextlib
import math
import os
import time

import keras
import tensorflow as tf

from spn_keras.ops.likelihood import check_images
from spn_keras.ops.likelihood import nats_to_bits_per_dim
from spn_keras.ops.random_streams import replica_target_slices
from spn_keras.training.progress_log import ProgressLog
from spn_keras.visualization import image_grid


class Trainer:
  """Trains one stage with a custom loop, checkpoints that survive a kill, and TensorBoard.

  Args:
    model_fn: builds the stage (a `SliceDecoder` or `SubscalePixelNetwork`); called inside
      `strategy.scope()` under the configured precision.
    dataset_fn: `dataset_fn(input_context)` -> a `tf.data.Dataset` of per-replica batches of
      dicts `{"images": int (B, H, W, C)}` (plus `"conditioning"` for depth upscalers),
      repeated forever and deterministic for a fixed seed (resuming skips the batches already
      consumed, so the data order continues).
    config: a `TrainerConfig`.
    strategy: a `tf.distribute.Strategy` (see `strategies.get_strategy`).
    eval_fn: optional `eval_fn(model)` -> `{name: float}` (e.g. test bits/dim), logged to
      TensorBoard under `eval/`; runs with the averaged weights.
    sample_fn: optional `sample_fn(model)` -> uint8 images `(N, H, W, C)` for a TensorBoard
      image summary; runs with the averaged weights.
    dims_per_example: dimensions that the stage's bits/dim is divided by (SPN_SPEC section 1:
      the full image's, so stages add up); default the stage's own `H * W * C`.
    progress: None (quiet: the default), or a callable that receives the progress lines of
      `train` (each a str without its newline; `ProgressLog`): `step 40/2000  train 1.234
      bits/dim  12.3 examples/s  ETA 1:02:03` every `config.log_every` steps, at the last
      step and at least every 30 s, `step 2000 eval 1.111 bits/dim` after each evaluation and
      `resumed from step N` when a checkpoint is restored. Only the chief writes them.
      `spn_train` passes a writer to stderr.
  """

  def __init__(self, model_fn, dataset_fn, config, strategy=None, eval_fn=None, sample_fn=None,
               dims_per_example=None, progress=None):
    self.config = config
    self.progress = progress
    self.strategy = strategy or tf.distribute.get_strategy()
    self.eval_fn = eval_fn
    self.sample_fn = sample_fn
    # The model is built under the configured precision with the seeded initial weights; the
    # process-wide dtype policy is put back afterwards (the layers keep theirs).
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)
    keras.utils.set_random_seed(config.seed)
    try:
      self._build(model_fn)
    finally:
      keras.config.set_dtype_policy(policy)
    self.dims = dims_per_example or self.model.num_dims
    self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                          step=self.step)
    # Every worker must take part in saving (it runs collective ops), but only the chief
    # writes to `model_dir`; the others write to a folder of their own (the TF recipe).
    checkpoint_dir = os.path.join(config.model_dir, "checkpoints")
    if not self.is_chief:
      checkpoint_dir = os.path.join(config.model_dir, "workers",
                                    f"worker_{self.strategy.cluster_resolver.task_id}")
    self.manager = tf.train.CheckpointManager(self.checkpoint, checkpoint_dir,
                                              max_to_keep=config.keep_checkpoints)
    self._dataset_fn = dataset_fn
    self.history = []  # (step, training bits/dim) of every step run by `train`
    self.start_step = None  # the step `train` resumed from
    self.eval_results = None  # the latest `eval_fn` results (averaged weights)
    # Seconds of the latest `train` call from its first step (tracing included) to the end of
    # its last step: the time that `max_train_seconds` budgets (0.0 when nothing was left).
    self.train_seconds = None

  def _build(self, model_fn):
    """Builds the model, its optimizer and the step counter inside the strategy's scope."""
    config = self.config
    with self.strategy.scope():
      self.model = model_fn()
      if not self.model.built:
        self.model.build()
      # The rate is a variable set from the schedule at every step (rather than a schedule
      # object inside the optimizer), so a checkpoint holds the same variables whatever the
      # schedule: a run can resume with a new schedule (e.g. a decay appended to a long run).
      optimizer = keras.optimizers.RMSprop(
          learning_rate=config.learning_rate, rho=0.95, momentum=0.9, epsilon=1e-8,
          use_ema=config.ema_momentum is not None,
          ema_momentum=config.ema_momentum if config.ema_momentum is not None else 0.99,
          global_clipnorm=config.clip_norm)
      if config.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
      self.optimizer = optimizer
      self.optimizer.build(self.model.trainable_variables)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

  @property
  def is_chief(self):
    """False only for the non-chief workers of a multi-worker strategy."""
    resolver = getattr(self.strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
      return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())

  @property
  def _base_optimizer(self):
    return getattr(self.optimizer, "inner_optimizer", self.optimizer)

  def restore(self):
    """Restores the latest checkpoint, if any; returns the step it restored (0 if none)."""
    path = self.manager.latest_checkpoint
    if path:
      self.checkpoint.restore(path).assert_existing_objects_matched()
    return int(self.step.numpy())

  @contextlib.contextmanager
  def averaged_weights(self):
    """Swaps the Polyak-averaged weights into the model for the duration of the block."""
    optimizer = self._base_optimizer
    if not optimizer.use_ema:
      yield
      return
    variables = self.model.trainable_variables
    backup = [v.numpy() for v in variables]
    optimizer.finalize_variable_values(variables)  # Keras's public swap-in of the averages
    try:
      yield
    finally:
      for variable, value in zip(variables, backup):
        variable.assign(value)

  @contextlib.contextmanager
  def _ema_warmup(self, step):
    """While tracing the update of `step`, the averaging momentum is the warmed-up tensor.

    Keras reads `ema_momentum` when it traces `apply_gradients`; the float goes back after, so
    nothing outside the traced step sees the tensor.
    """
    optimizer = self._base_optimizer
    if not optimizer.use_ema:
      yield
      return
    momentum = self.config.ema_momentum
    step = tf.cast(step, tf.float32)
    optimizer.ema_momentum = tf.minimum(momentum, (1.0 + step) / (10.0 + step))
    try:
      yield
    finally:
      optimizer.ema_momentum = momentum

  def make_train_step(self):
    """The compiled training step that `train` runs.

    Returns:
      `train_step(iterator, step)`, a `tf.function`: draws the batch's target slices from
      `(config.seed, step)` (slices `1 ..` with `config.first_slice_given`), takes the next
      batch of `iterator` (from
      `strategy.distribute_datasets_from_function(dataset_fn)`), applies one optimizer update
      and returns float32 `[training bits/dim of the batch, replicas whose weights or optimizer
      state are not finite after the update]`. It does not advance `self.step`. With
      `config.jit_compile` each replica's step (one replica), or its forward and backward pass
      (several: the gradient all-reduce stays outside), is one XLA program; the batch's values
      are checked before it (an assert inside XLA compiles to nothing: `check_images`).
    """
    strategy, config = self.strategy, self.config
    model, optimizer = self.model, self.optimizer

    num_slices = model.scale**2
    first = int(config.first_slice_given)

    def gradients(batch, step):
      """This replica's loss and gradients (zeros when the loss is not finite)."""
      targets = replica_target_slices(config.seed, step, config.global_batch_size,
                                      tf.shape(batch["images"])[0], first, num_slices)
      with tf.GradientTape() as tape:
        nats = model.training_loss(batch["images"], batch.get("conditioning"),
                                   target_slice=targets,
                                   first_slice_given=config.first_slice_given)
        loss = tf.reduce_sum(nats) / config.global_batch_size
        scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
      grads = tape.gradient(scaled, model.trainable_variables)
      # A non-finite loss must not reach the optimizer (its sparse updates fail on NaN): the
      # step applies zero gradients instead, and `train` stops before the next checkpoint.
      finite = tf.math.is_finite(loss)
      return loss, [tf.where(finite, tf.convert_to_tensor(g), tf.zeros_like(v))
                    for g, v in zip(grads, model.trainable_variables)]

    state = [v for v in model.trainable_variables + optimizer.variables
             if keras.backend.is_float_dtype(v.dtype)]

    def update(loss, grads, step):
      """Applies the gradients (all-reduced over replicas); this replica's `[bits/dim share,
      1.0 if its weights or optimizer state are no longer finite else 0.0]`."""
      with self._ema_warmup(step):
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
      finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in state])
      return tf.stack([tf.cast(nats_to_bits_per_dim(-loss, self.dims), tf.float32),
                       1.0 - tf.cast(finite, tf.float32)])

    def replica_step(batch, step):
      return update(*gradients(batch, step), step)

    schedule = config.learning_rate_schedule()
    if config.jit_compile:
      if strategy.num_replicas_in_sync == 1:
        compiled_step = self._on_replica_device(
            tf.function(replica_step, jit_compile=True, autograph=False))

        def replica_step(batch, step):  # noqa: F811
          return compiled_step(self._checked_batch(batch), step)
      else:
        # The optimizer all-reduces the gradients over replicas (a `merge_call`), which cannot
        # run inside an XLA program: each replica compiles its forward and backward pass.
        compiled_gradients = self._on_replica_device(
            tf.function(gradients, jit_compile=True, autograph=False))

        def replica_step(batch, step):  # noqa: F811
          return update(*compiled_gradients(self._checked_batch(batch), step), step)

    # No AutoGraph (the step has no Python control flow on tensors): converting the model's
    # code took about 40% of tracing a step.
    @tf.function(autograph=False)
    def train_step(iterator, step):
      # Set at every step, also when constant: the rate a checkpoint restored with the optimizer
      # must not replace the configured one (a rerun with a lower rate resumes with it).
      optimizer.learning_rate = schedule(step) if callable(schedule) else schedule
      per_replica = strategy.run(replica_step, args=(next(iterator), step))
      return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return train_step

  def _checked_batch(self, batch):
    """`batch` with its values checked in range (in a graph: by asserts), as int32."""
    model = self.model
    checked = dict(batch, images=check_images("images", batch["images"], model.bits,
                                              model.image_shape))
    if model.conditioning_bits and "conditioning" in batch:
      checked["conditioning"] = check_images("conditioning", batch["conditioning"],
                                             model.conditioning_bits, model.image_shape)
    return checked

  def _on_replica_device(self, function):
    """`function` called on the device of the replica that calls it.

    A compiled function called from a replica runs as one XLA program; under a
    `MirroredStrategy` of logical CPUs it must be placed on the replica's device explicitly,
    or XLA runs it on the first device, away from that replica's variables.
    """
    devices = self.strategy.extended.worker_devices

    def on_device(*args):
      replica = tf.get_static_value(
          tf.distribute.get_replica_context().replica_id_in_sync_group)
      if replica is None:  # a TPU replica: the TPU program places itself
        return function(*args)
      with tf.device(devices[replica]):
        return function(*args)

    return on_device

  def _learning_rate(self):
    return float(keras.ops.convert_to_numpy(self._base_optimizer.learning_rate))

  def train(self):
    """Trains until `config.train_steps`, resuming from the latest checkpoint.

    With `config.max_train_seconds`, the call also ends after the step that exhausts the
    budget (measured from the first step, graph tracing included). Each process measures its
    own clock, so use it with single-process strategies, not `multi_worker_mirrored`.

    Returns:
      The last training bits/dim (a float), or None when there was nothing left to do.

    Raises:
      FloatingPointError: the loss became NaN or infinite, or the weights or the optimizer's
        state did after an update; the step is not counted and nothing more is saved: the
        latest checkpoint (written before it), if any, is left intact.
    """
    config = self.config
    start = self.restore()
    self.start_step = start
    self.train_seconds = 0.0
    log = ProgressLog(self.progress if self.is_chief else None, config.train_steps,
                      config.global_batch_size, config.log_every)
    if start:
      log.resumed(start)
    if start >= config.train_steps:
      return None
    dataset = self.strategy.distribute_datasets_from_function(
        lambda context: self._dataset_fn(context).skip(start))
    iterator = iter(dataset)
    train_step = self.make_train_step()
    if self.is_chief:
      writer = tf.summary.create_file_writer(os.path.join(config.model_dir, "train"))
      eval_writer = tf.summary.create_file_writer(os.path.join(config.model_dir, "eval"))
    else:
      writer = eval_writer = tf.summary.create_noop_writer()
    last = None
    started = tick = time.perf_counter()
    tick_step = start
    for step in range(start + 1, config.train_steps + 1):
      bits, broken_replicas = train_step(iterator, tf.constant(step, tf.int64)).numpy()
      bits = float(bits)
      if not math.isfinite(bits):
        raise self._diverged(f"Training loss is {bits} at step {step}")
      if broken_replicas:
        raise self._diverged(f"The weights (or the optimizer's state) are not finite after "
                             f"step {step}")
      self.step.assign(step)
      self.history.append((step, bits))
      last = bits
      self.train_seconds = time.perf_counter() - started
      out_of_time = (config.max_train_seconds is not None
                     and self.train_seconds >= config.max_train_seconds)
      final = step == config.train_steps or out_of_time
      log.step_done(step, bits, final)
      if step % config.log_every == 0 or final:
        now = time.perf_counter()
        with writer.as_default(step=step):
          tf.summary.scalar("bits_per_dim", bits)
          tf.summary.scalar("learning_rate", self._learning_rate())
          tf.summary.scalar("examples_per_s",
                            (step - tick_step) * config.global_batch_size / (now - tick))
        tick, tick_step = now, step
      if step % config.checkpoint_every == 0 or final:
        self.manager.save(checkpoint_number=step)
      if self.eval_fn and config.eval_every and (step % config.eval_every == 0
                                                 or final):
        with self.averaged_weights():
          results = self.eval_results = self.eval_fn(self.model)
        log.evaluated(step, results)
        with eval_writer.as_default(step=step):
          for name, value in results.items():
            tf.summary.scalar(name, value)
      if self.sample_fn and config.sample_every and (step % config.sample_every == 0
                                                     or final):
        with self.averaged_weights():
          images = self.sample_fn(self.model)
        with writer.as_default(step=step):
          tf.summary.image("samples", image_grid(images), max_outputs=1)
      if out_of_time:
        break
    writer.flush()
    eval_writer.flush()
    return last

  def _diverged(self, what):
    """The `FloatingPointError` that stops a run that diverged: `what`, and what was kept."""
    latest = self.manager.latest_checkpoint
    kept = (f"The latest checkpoint ({latest}) is intact" if latest else "Nothing was saved")
    return FloatingPointError(
        f"{what}; stopped. {kept}: lower the learning rate or clip gradients (clip_norm) and "
        f"rerun{' to resume from it' if latest else ''}.")
