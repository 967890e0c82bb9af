"""Training-step time: keras_slowfast SlowFast R50 8x8 vs PyTorchVideo slowfast_r50.

    python benchmarks/bench_train_step.py [--batch-size 1] [--steps 3] [--size 224]

One step = forward + backward + SGD update on one batch of 32-frame clips
(Keras: ``train_on_batch`` with the reference recipe's optimizer; PyTorch:
``loss.backward(); optimizer.step()`` with SGD Nesterov, weight decay 1e-4).
Both run in this process, on the CPU, one after the other; the table gives
the median of ``--steps`` timed steps after ``--warmup`` untimed ones.
"""

import argparse
import os
import platform
import statistics
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def keras_steps(batch_size, size, steps, warmup):
    import numpy as np

    from keras_slowfast import SlowFastR50
    from keras_slowfast.training.recipe import TrainingRecipe
    from keras_slowfast.training.trainer import compile_model

    model = SlowFastR50(alpha=4, num_frames=32, num_classes=400)
    recipe = TrainingRecipe(batch_size=batch_size)
    compile_model(model, recipe, steps_per_epoch=100)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch_size, 32, size, size, 3)).astype("float32")
    y = rng.integers(0, 400, size=(batch_size,))
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def torch_steps(batch_size, size, steps, warmup):
    import torch

    # pytorchvideo imports torchvision only for detection ops we do not use.
    stub = types.ModuleType("torchvision")
    stub.ops = types.ModuleType("torchvision.ops")

    class RoIAlign(torch.nn.Module):
        pass

    stub.ops.RoIAlign = RoIAlign
    stub.transforms = types.ModuleType("torchvision.transforms")
    sys.modules.setdefault("torchvision", stub)
    sys.modules.setdefault("torchvision.ops", stub.ops)
    sys.modules.setdefault("torchvision.transforms", stub.transforms)
    from pytorchvideo.models.hub import slowfast_r50

    torch.manual_seed(0)
    model = slowfast_r50(pretrained=False)
    model.train()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4
    )
    fast = torch.randn(batch_size, 3, 32, size, size)
    slow = fast[:, :, torch.linspace(0, 31, 8).long()]
    y = torch.randint(0, 400, (batch_size,))
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(model([slow, fast]), y)
        loss.backward()
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)
    import tensorflow as tf
    import torch

    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; TF {tf.__version__}, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(
        f"SlowFast R50 8x8, batch {args.batch_size}, 32x{args.size}x{args.size}, "
        f"median of {args.steps} steps after {args.warmup} warm-up"
    )
    results = {
        "keras_slowfast (TF)": keras_steps(
            args.batch_size, args.size, args.steps, args.warmup
        ),
        "PyTorchVideo slowfast_r50": torch_steps(
            args.batch_size, args.size, args.steps, args.warmup
        ),
    }
    print(f"| {'implementation':<28} | median s/step | min s/step |")
    print(f"| {'-' * 28} | ------------- | ---------- |")
    for name, times in results.items():
        print(f"| {name:<28} | {statistics.median(times):13.2f} | {min(times):10.2f} |")
    keras_median, torch_median = (statistics.median(t) for t in results.values())
    print(f"ratio keras / torch (median): {keras_median / torch_median:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
