"""One SlowFast R50 training step (forward + backward + SGD), ours vs PyTorchVideo.

Both sides run the same step on the same clips: softmax cross-entropy, SGD with
momentum 0.9 (nesterov), batch-norm in training mode. Ours runs as a plain
``tf.function`` step (optionally XLA-compiled) and as ``train_on_batch`` on a
model compiled with the training recipe (what ``fit`` runs: weight decay off
batch norm and biases, the warm-up/cosine schedule, accuracy metrics); the
reference in eager PyTorch with SGD weight decay 1e-4.
Contenders are interleaved round by round (``--processes``: one process each,
in turn, with peak memory); the table gives the median seconds
per step, clips per second and the ratio ours/reference. On a CPU with more
than AVX2 the same table is measured again with oneDNN limited to AVX2
(``--isa``).

    python benchmarks/bench_train.py                       # 8x8 R50, 224, batch 1
    python benchmarks/bench_train.py --models 8x8 4x16 --batches 1 8 --rounds 3
    python benchmarks/bench_train.py --isa avx2            # as on an AVX2-only CPU
    python benchmarks/bench_train.py --batches 8 --processes --no-recipe
"""

import argparse
import subprocess
import sys

import numpy as np  # noqa: E402
from common import (
    PRESETS,
    add_isa_arguments,
    interleaved_medians,
    isa_label,
    peak_rss_gib,
    print_table,
    reference_model,
    torch_pathways,
    variant_label,
)


def our_step(variant, clip, labels, jit_compile):
    import keras
    import tensorflow as tf

    import keras_slowfast as ks

    model = ks.from_preset(PRESETS[variant][0])
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer.build(model.trainable_variables)
    inputs, targets = tf.constant(clip), tf.constant(labels)

    @tf.function(jit_compile=jit_compile)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    return lambda: float(step(inputs, targets))


def our_fit_step(variant, clip, labels):
    from keras_slowfast import from_preset
    from keras_slowfast.training import TrainingRecipe
    from keras_slowfast.training.trainer import compile_model

    model = from_preset(PRESETS[variant][0])
    compile_model(model, TrainingRecipe(batch_size=len(clip)), steps_per_epoch=100)
    return lambda: model.train_on_batch(clip, labels)


def reference_step(variant, clip, labels):
    import torch

    reference = reference_model(variant).train()
    optimizer = torch.optim.SGD(
        reference.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4
    )
    targets = torch.from_numpy(labels.astype("int64"))
    alpha = PRESETS[variant][1]

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(
            reference(torch_pathways(clip, alpha)), targets
        )
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def contender_steps(name, variant, clip, labels):
    """The step function of the contender called ``name``."""
    if name == "PyTorchVideo eager":
        return reference_step(variant, clip, labels)
    if name == "ours tf.function":
        return our_step(variant, clip, labels, False)
    if name == "ours train_on_batch (recipe)":
        return our_fit_step(variant, clip, labels)
    return our_step(variant, clip, labels, True)  # "ours XLA"


def contender_names(args):
    names = ["PyTorchVideo eager", "ours tf.function"]
    if not args.no_recipe:
        names.append("ours train_on_batch (recipe)")
    if args.xla:
        names.append("ours XLA")
    return names


def inputs(args, batch):
    rng = np.random.default_rng(batch)
    clip = rng.random((batch, 32, args.size, args.size, 3), dtype="float32")
    return clip, rng.integers(0, 400, size=batch)


def run_contender(args):
    """Child of ``--processes``: times one contender, prints seconds and memory."""
    variant, batch = args.models[0], args.batches[0]
    medians = interleaved_medians(
        {
            args.contender: contender_steps(
                args.contender, variant, *inputs(args, batch)
            )
        },
        args.rounds,
    )
    print(f"median {medians[args.contender]} peak_rss_gib {peak_rss_gib()}")


def medians_in_processes(args, variant, batch):
    """Each contender in its own process (``--processes``), in turn.

    Needed where two models' training memory does not fit in one process
    (8x8 R50 at batch 8 on 24 GiB). Returns ``{name: (seconds, peak GiB)}``.
    """
    results = {}
    for name in contender_names(args):
        command = [
            sys.executable,
            __file__,
            "--contender",
            name,
            "--models",
            variant,
            "--batches",
            str(batch),
            "--size",
            str(args.size),
            "--rounds",
            str(args.rounds),
        ]
        output = subprocess.run(
            command, check=True, capture_output=True, text=True
        ).stdout
        fields = output.split()
        results[name] = (
            float(fields[fields.index("median") + 1]),
            float(fields[fields.index("peak_rss_gib") + 1]),
        )
    return results


def measure(args):
    """Times every (model, batch) here and prints the table rows."""
    isa = isa_label()
    for variant in args.models:
        for batch in args.batches:
            if args.processes:
                results = medians_in_processes(args, variant, batch)
            else:
                steps = {
                    name: contender_steps(name, variant, *inputs(args, batch))
                    for name in contender_names(args)
                }
                medians = interleaved_medians(steps, args.rounds)
                results = {name: (s, None) for name, s in medians.items()}
            reference = results["PyTorchVideo eager"][0]
            for name, (seconds, peak) in results.items():
                memory = "—" if peak is None else f"{peak:.2f}"
                print(
                    f"| {isa} | {variant_label(variant)} | {args.size} | {batch} | "
                    f"{name} | {seconds:.2f} | {batch / seconds:.2f} | "
                    f"{seconds / reference:.2f} | {memory} |",
                    flush=True,
                )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["8x8"], choices=sorted(PRESETS))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", nargs="+", type=int, default=[1])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--xla", action="store_true", help="also time our step under XLA"
    )
    parser.add_argument(
        "--no-recipe",
        action="store_true",
        help="skip the train_on_batch contender (one model less in memory)",
    )
    parser.add_argument(
        "--processes",
        action="store_true",
        help="run each contender in its own process, in turn (not interleaved "
        "step by step), and report its peak memory: for batches whose two "
        "models do not fit in memory together",
    )
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    add_isa_arguments(parser)
    args = parser.parse_args()
    if args.contender:
        run_contender(args)
        return
    columns = [
        "ISA",
        "model",
        "size",
        "batch",
        "contender",
        "s/step",
        "clips/s",
        "ratio vs reference",
        "peak RSS GiB",
    ]
    print_table(args, __file__, columns, measure)


if __name__ == "__main__":
    main()
