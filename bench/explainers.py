"""Speed of the saliency engine against Captum (and pytorch-grad-cam) on the same work (not a test).

    .venv/bin/python bench/explainers.py [--images 8] [--methods gradient,gradcam,…] [--repeats 3]

One process, one model (EfficientNet-Lite0 from the zoo), the same images and target classes for
every library. Each peer gets the user's module (the zoo module, unmodified by the engine) in
``channels_last`` with ``channels_last`` inputs and the same batch size as the engine (Captum's
``internal_batch_size`` / ``nt_samples_batch_size``), so that the ratio measures the engine, not
a configuration. Runs alternate between libraries and the best of ``--repeats`` runs is kept: the
machine is shared, and alternating exposes both sides to the same load.

Reported: maps per second per method for each library, the ratio (engine / fastest peer), and
the largest difference between the two maps relative to the peer's largest value (for the
stochastic methods the noise draws differ, so maps are not comparable value by value). For
Score-CAM and Ablation-CAM, which have no peer that runs here, the forward passes per second
are compared with plain batched inference of the same network (``--inference-images`` images
at ``batch_size``), with the engine's execution copy and with the user's module.

Black-box family (``--blackbox-*`` options): occlusion, LIME and Kernel SHAP against Captum's
``Occlusion``, ``Lime`` and ``KernelShap`` with the same number of model evaluations per image,
the engine's SLIC superpixels as Captum's feature mask and ``batch_size`` inputs per forward pass
on both sides; for all five (with RISE and DE-CAM) the forward passes per second against plain
batched inference of as many inputs on the execution copy, alternated with them.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from explainers import core  # noqa: E402

SHARED = ["gradient", "guided_backprop", "integrated_gradients", "smoothgrad", "vargrad", "gradcam"]
STOCHASTIC = {"smoothgrad", "vargrad"}
#: Methods that evaluate 50 copies of each image: fewer images keep the run short.
SAMPLED = {"integrated_gradients", "smoothgrad", "vargrad"}
TARGET_RATIO = 1.5
TARGET_PASSES = 0.8
OWN_ONLY = ["cam", "activation_map", "gradcampp", "xgradcam", "scorecam", "ablationcam"]


class _ReLU6AsReLU(torch.nn.ReLU):
    """ReLU6 as an ``nn.ReLU`` subclass: Captum's guided backprop only rewrites ``nn.ReLU``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.relu6(x)


def _swap_relu6(module: torch.nn.Module) -> torch.nn.Module:
    for name, child in module.named_children():
        if type(child) is torch.nn.ReLU6:
            setattr(module, name, _ReLU6AsReLU())
        else:
            _swap_relu6(child)
    return module


def captum_runners(
    clf: core.Classifier, x: torch.Tensor, targets: list[int], batch_size: int
) -> dict[str, Callable[[], torch.Tensor]]:
    from captum.attr import (
        GuidedBackprop,
        IntegratedGradients,
        LayerGradCam,
        NoiseTunnel,
        Saliency,
    )

    model = copy.deepcopy(clf.module).eval().to(memory_format=torch.channels_last)
    guided = _swap_relu6(copy.deepcopy(model))
    xc = x.contiguous(memory_format=torch.channels_last)
    black = clf.pixel_value(0.0)
    assert black is not None
    baselines = black.view(1, 3, 1, 1).expand_as(x).contiguous(memory_format=torch.channels_last)

    def noise_tunnel(kind: str) -> torch.Tensor:
        maps = []
        for i, target in enumerate(targets):
            image = xc[i : i + 1]
            sigma = 0.15 * float(image.max() - image.min())
            maps.append(
                NoiseTunnel(Saliency(model)).attribute(
                    image,
                    nt_type=kind,
                    nt_samples=50,
                    nt_samples_batch_size=batch_size,
                    stdevs=sigma,
                    target=target,
                    abs=kind == "smoothgrad",
                )
            )
        return torch.cat(maps).amax(dim=1)

    return {
        "gradient": lambda: Saliency(model).attribute(xc, target=targets, abs=True).amax(dim=1),
        "guided_backprop": lambda: (
            GuidedBackprop(guided).attribute(xc, target=targets).abs().amax(dim=1)
        ),
        "integrated_gradients": lambda: (
            IntegratedGradients(model)
            .attribute(
                xc,
                baselines=baselines,
                target=targets,
                n_steps=50,
                method="gausslegendre",
                internal_batch_size=batch_size,
            )
            .sum(dim=1)
            .abs()
        ),
        "smoothgrad": lambda: noise_tunnel("smoothgrad"),
        "vargrad": lambda: noise_tunnel("vargrad"),
        "gradcam": lambda: LayerGradCam(model, model.head).attribute(
            xc, target=targets, relu_attributions=True
        )[:, 0],
    }


def gradcam_library_status() -> str:
    """Why pytorch-grad-cam is not a peer here: it imports torchvision, which the stack excludes
    (PyTorch CPU only, no torchvision), so it is neither installed nor importable."""
    try:
        import pytorch_grad_cam  # noqa: F401
    except ModuleNotFoundError as error:
        missing = error.name or "?"
        if missing.startswith("pytorch_grad_cam"):
            return (
                "skipped: not installed (it imports torchvision, which this stack excludes); "
                "Captum is the only peer"
            )
        return f"skipped: it cannot be imported without {missing!r}; Captum is the only peer"
    except Exception as error:
        return f"skipped ({type(error).__name__}: {error}); Captum is the only peer"
    return "importable but not wired into this benchmark; Captum is the only peer"


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def alternate(runners: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best time of each runner over ``repeats`` alternating rounds (after one warm-up each)."""
    for run in runners.values():
        run()
    best = {name: float("inf") for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            best[name] = min(best[name], timed(run))
    return best


def load_images(data: Path, count: int) -> list[Image.Image]:
    rows = list(csv.DictReader((data / "labels.csv").open()))[:count]
    return [Image.open(data / row["file"]).convert("RGB") for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument(
        "--sample-images", type=int, default=2, help="images for IG, SmoothGrad and VarGrad"
    )
    parser.add_argument("--methods", default=",".join(SHARED + OWN_ONLY + BLACKBOX))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--cam-images", type=int, default=1, help="images for Score-/Ablation-CAM")
    parser.add_argument("--inference-images", type=int, default=64)
    default_data = Path(os.environ.get("SHARED_DATA_DIR", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default_data / "imagenet-sample")
    add_blackbox_arguments(parser)
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]

    clf = core.load_classifier("efficientnet_lite0", device="cpu")
    count = max(args.images, args.cam_images, args.sample_images)
    x = clf.preprocess(load_images(args.data, count))
    targets = clf.predict(x).tolist()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {clf}")
    print(
        f"{args.images} images ({args.sample_images} for {', '.join(sorted(SAMPLED))}), "
        f"batch_size {args.batch_size}, best of {args.repeats} alternating runs"
    )
    print(f"pytorch-grad-cam: {gradcam_library_status()}\n")

    header = (
        f"{'method':22} {'images':>6} {'ours maps/s':>12} {'captum maps/s':>14} {'ratio':>7} "
        f"{'max rel diff':>13}"
    )
    print(header)
    print("-" * len(header))
    verdicts = []
    for method in methods:
        if method not in SHARED:
            continue
        n = args.sample_images if method in SAMPLED else args.images
        xs, ts = x[:n], targets[:n]
        peer = captum_runners(clf, xs, ts, args.batch_size)[method]

        def ours(method: str = method, xs: torch.Tensor = xs, ts: list[int] = ts) -> torch.Tensor:
            return core.explain(clf, xs, method, targets=ts, batch_size=args.batch_size)

        best = alternate({"ours": ours, "captum": peer}, args.repeats)
        if method in STOCHASTIC:
            diff = "  (new noise)"
        else:
            a, b = ours(), peer().detach()
            diff = f"{float((a - b).abs().max() / b.abs().max()):13.1e}"
        ratio = best["captum"] / best["ours"]
        verdicts.append((method, ratio >= TARGET_RATIO))
        print(
            f"{method:22} {n:6d} {n / best['ours']:12.2f} {n / best['captum']:14.2f} "
            f"{ratio:7.2f} {diff}"
        )
    if verdicts:
        missed = [m for m, ok in verdicts if not ok]
        verdict = "met" if not missed else "MISSED: " + ", ".join(missed)
        print(f"target ≥ {TARGET_RATIO}× Captum: {verdict}")
    xs, ts = x[: args.images], targets[: args.images]

    print(f"\n{'method (no peer here)':22} {'ours maps/s':>12}")
    for method in methods:
        if method in OWN_ONLY and method not in ("scorecam", "ablationcam"):
            seconds = alternate(
                {"ours": lambda m=method: core.explain(clf, xs, m, targets=ts)}, args.repeats
            )["ours"]
            print(f"{method:22} {len(ts) / seconds:12.2f}")

    perturbation_vs_inference(clf, x, targets, methods, args)
    blackbox_benchmark(clf, x, targets, methods, args)


def perturbation_vs_inference(
    clf: core.Classifier,
    x: torch.Tensor,
    targets: list[int],
    methods: list[str],
    args: argparse.Namespace,
) -> None:
    wanted = [m for m in ("scorecam", "ablationcam") if m in methods]
    if not wanted:
        return
    xc, tc = x[: args.cam_images], targets[: args.cam_images]
    user_module = copy.deepcopy(clf.module).eval().to(memory_format=torch.channels_last)
    pool = x.repeat(-(-args.inference_images // x.shape[0]), 1, 1, 1)[: args.inference_images]
    pool = pool.contiguous(memory_format=torch.channels_last)

    def inference(network: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.inference_mode():
                for start in range(0, pool.shape[0], args.batch_size):
                    network(pool[start : start + args.batch_size])

        return run

    with torch.inference_mode():
        features = []
        from explainers.core.hooks import capture_layer

        with capture_layer(clf.network, str(clf.target_layer)) as captured:
            for i in range(xc.shape[0]):
                clf.network(clf.prepare(xc[i : i + 1]))
                features.append(captured.output)
    informative = sum(int((f[0].amax((1, 2)) > f[0].amin((1, 2))).sum()) for f in features)
    active = sum(int((f[0] != 0).flatten(1).any(1).sum()) for f in features)
    passes = {"scorecam": informative, "ablationcam": active}
    runners: dict[str, Callable[[], object]] = {
        "inference (execution copy)": inference(clf.network),
        "inference (user module)": inference(user_module),
    }
    for method in wanted:
        runners[method] = lambda m=method: core.explain(
            clf, xc, m, targets=tc, batch_size=args.batch_size
        )
    best = alternate(runners, max(1, args.repeats - 1))
    plain = pool.shape[0] / best["inference (execution copy)"]
    plain_user = pool.shape[0] / best["inference (user module)"]
    print(
        f"\nPlain batched inference, batch {args.batch_size}: {plain:.1f} images/s on the "
        f"execution copy, {plain_user:.1f} on the user's module (channels_last)"
    )
    print(
        f"{'method':14} {'passes':>7} {'passes/s':>9} {'vs copy':>8} {'vs user':>8} {'maps/s':>7}"
    )
    for method in wanted:
        rate = passes[method] / best[method]
        verdict = "met" if rate / plain >= TARGET_PASSES else "MISSED"
        print(
            f"{method:14} {passes[method]:7d} {rate:9.1f} {rate / plain:8.2f} "
            f"{rate / plain_user:8.2f} {xc.shape[0] / best[method]:7.3f}  {verdict}"
        )
    print("(ablationcam re-runs only the layers after the target layer when the model allows it)")


# Black-box family (issue 4): RISE, occlusion, LIME, Kernel SHAP, DE-CAM ---------------------

BLACKBOX = ["occlusion", "lime", "kernelshap", "rise", "decam"]


def add_blackbox_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("black-box family")
    group.add_argument("--blackbox-images", type=int, default=2)
    group.add_argument("--blackbox-batch-size", type=int, default=16)
    group.add_argument("--blackbox-samples", type=int, default=200, help="LIME/Kernel SHAP samples")
    group.add_argument("--rise-masks", type=int, default=400)
    group.add_argument("--decam-budget", default="20x9", help="population x generations")


def blackbox_options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    population, generations = (int(v) for v in args.decam_budget.split("x"))
    samples = {"n_samples": args.blackbox_samples}
    return {
        "occlusion": {"window": 32, "stride": 32},
        "lime": dict(samples),
        "kernelshap": dict(samples),
        "rise": {"n_masks": args.rise_masks},
        "decam": {"population": population, "generations": generations},
    }


def blackbox_evaluations(method: str, options: dict[str, Any], side: int) -> int:
    """Model evaluations per image of ``method`` with ``options`` (equal for both libraries)."""
    if method == "occlusion":
        window, stride = int(options["window"]), int(options["stride"])
        return ((side - window) // stride + 1) ** 2 + 1
    if method in ("lime", "kernelshap"):
        return int(options["n_samples"])
    if method == "rise":
        return int(options["n_masks"])
    population, generations = int(options["population"]), int(options["generations"])
    return population * (generations + 1) + 1


def captum_blackbox_runners(
    clf: core.Classifier, x: torch.Tensor, targets: list[int], args: argparse.Namespace
) -> dict[str, Callable[[], torch.Tensor]]:
    """Captum's Occlusion, Lime and KernelShap on the user's module (channels_last), scoring the
    softmax probability as the engine does, with the engine's SLIC superpixels as feature mask
    and the same number of model evaluations; each forward pass holds ``batch_size`` inputs."""
    from captum.attr import KernelShap, Lime, Occlusion

    from explainers.core.methods._superpixels import segments_of

    model = copy.deepcopy(clf.module).eval().to(memory_format=torch.channels_last)

    def probability(inputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model(inputs.contiguous(memory_format=torch.channels_last)), dim=1)

    options = blackbox_options(args)
    batch = args.blackbox_batch_size

    def occlusion() -> torch.Tensor:
        window, stride = options["occlusion"]["window"], options["occlusion"]["stride"]
        return Occlusion(probability).attribute(
            x,
            sliding_window_shapes=(3, window, window),
            strides=(3, stride, stride),
            baselines=0.0,
            target=targets,
            perturbations_per_eval=max(1, batch // x.shape[0]),  # Captum batches ppe × N inputs
        )[:, 0]

    def superpixels(kind: type) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            resolved = core.resolve_parameters(kind.__name__.lower(), **options["lime"])
            segments = segments_of(clf, x, resolved)
            maps = []
            for i, target in enumerate(targets):
                maps.append(
                    kind(probability).attribute(
                        x[i : i + 1],
                        baselines=0.0,
                        target=target,
                        feature_mask=segments[i][None, None],
                        n_samples=args.blackbox_samples,
                        perturbations_per_eval=batch,
                    )[:, 0]
                )
            return torch.cat(maps)

        return run

    return {
        "occlusion": occlusion,
        "lime": superpixels(Lime),
        "kernelshap": superpixels(KernelShap),
    }


def blackbox_benchmark(
    clf: core.Classifier,
    x: torch.Tensor,
    targets: list[int],
    methods: list[str],
    args: argparse.Namespace,
) -> None:
    wanted = [m for m in BLACKBOX if m in methods]
    if not wanted:
        return
    xs, ts = x[: args.blackbox_images], targets[: args.blackbox_images]
    n, batch = xs.shape[0], args.blackbox_batch_size
    options = blackbox_options(args)
    peers = captum_blackbox_runners(clf, xs, ts, args)

    def plain(count: int) -> Callable[[], None]:
        """Plain batched inference of as many inputs as the method evaluates (same duration, so
        the same exposure to the load of a shared machine)."""

        def run() -> None:
            with clf.session(), torch.inference_mode():
                for start in range(0, count, batch):
                    stop = min(start + batch, count)
                    clf.network(clf.prepare(x[torch.arange(start, stop) % x.shape[0]]))

        return run

    print(
        f"\nBlack-box family: {n} images, batch_size {batch}, best of {args.repeats} runs "
        "alternating with plain batched inference of as many inputs at the same batch size "
        "on the execution copy (the same load for both)"
    )
    header = (
        f"{'method':11} {'evals/img':>9} {'ours maps/s':>11} {'captum maps/s':>13} "
        f"{'ratio':>6} {'ours passes/s':>13} {'plain img/s':>11} {'vs plain':>8}"
    )
    print(header)
    print("-" * len(header))
    for method in wanted:
        opts = options[method]

        def ours(method: str = method, opts: dict[str, object] = opts) -> torch.Tensor:
            return core.explain(clf, xs, method, targets=ts, batch_size=batch, **opts)

        evaluations = blackbox_evaluations(method, opts, xs.shape[2]) * n
        runners: dict[str, Callable[[], object]] = {"ours": ours, "plain": plain(evaluations)}
        if method in peers:
            runners["captum"] = peers[method]
        best = alternate(runners, args.repeats)
        rate, plain_rate = evaluations / best["ours"], evaluations / best["plain"]
        if method in peers:
            peer = f"{n / best['captum']:13.3f} {best['captum'] / best['ours']:6.2f}"
        else:
            peer = f"{'-':>13} {'-':>6}"
        verdicts = []
        if method in peers:
            verdicts.append(
                f"×Captum {'met' if best['captum'] / best['ours'] >= TARGET_RATIO else 'MISSED'}"
            )
        verdicts.append(f"passes {'met' if rate / plain_rate >= TARGET_PASSES else 'MISSED'}")
        print(
            f"{method:11} {evaluations // n:9d} {n / best['ours']:11.3f} {peer} "
            f"{rate:13.1f} {plain_rate:11.1f} {rate / plain_rate:8.2f}  {', '.join(verdicts)}"
        )
    if "occlusion" in wanted:
        a = core.explain(
            clf,
            xs,
            "occlusion",
            targets=ts,
            batch_size=batch,
            output="input",
            **options["occlusion"],
        )
        b = peers["occlusion"]().detach()
        print(
            f"occlusion: max |ours − Captum| / max |Captum| = "
            f"{float((a - b).abs().max() / b.abs().max()):.1e} (LIME, Kernel SHAP: own samples)"
        )


if __name__ == "__main__":
    main()
