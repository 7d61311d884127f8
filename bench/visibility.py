"""Visibility of every method's maps under each presentation preset on real photographs (no test).

    .venv/bin/python bench/visibility.py [--images 12] [--methods gradient,gradcam,…]

The built-in EfficientNet-Lite0 explains its top-1 class on the first ``--images`` photographs of
``../shared/data/imagenet-sample``; each map is drawn under each preset of
``explainers.core.render.PRESETS`` and scored with ``render.map_visibility`` (the colour distance
between what the rendering does to the 10 % most and the 50 % least salient pixels, 0–1; see
``explainers.core.presentation``). Printed: the median and the minimum over the photographs per
method and preset, and whether the default preset reaches ``VISIBILITY_THRESHOLD`` for every
method. ``tests/explainers/core/test_visibility.py`` asserts the same bar on fewer photographs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from explainers import core  # noqa: E402
from explainers.core import render  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "data" / "imagenet-sample"
#: Cheaper settings for the expensive methods: visibility depends on the map's shape, not on
#: sampling precision.
FAST: dict[str, dict[str, object]] = {
    "integrated_gradients": {"n_steps": 16},
    "smoothgrad": {"n_samples": 16},
    "vargrad": {"n_samples": 16},
    "rise": {"n_masks": 1000},
    "lime": {"n_samples": 300},
    "kernelshap": {"n_samples": 300},
    "decam": {"generations": 10},
}


def method_options(method: str) -> dict[str, object]:
    """The FAST options that ``method`` accepts (names differ between methods)."""
    defaults = core.METHODS[method].defaults
    return {k: v for k, v in FAST.get(method, {}).items() if k in defaults}


def photographs(n: int) -> list[Path]:
    return sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in {".jpeg", ".jpg", ".png"})[:n]


def scores(
    clf: core.Classifier, paths: list[Path], method: str, presets: dict[str, render.Presentation]
) -> dict[str, list[float]]:
    """Visibility per preset for the maps of ``method`` on ``paths`` (top-1 class)."""
    images = [Image.open(p).convert("RGB") for p in paths]
    x = clf.preprocess(images)
    views = [clf.view(image) for image in images]
    maps = core.explain(clf, x, method, **method_options(method))
    return {
        name: [render.map_visibility(v, m, p) for v, m in zip(views, maps, strict=True)]
        for name, p in presets.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--methods", default="")
    args = parser.parse_args()
    clf = core.load_classifier("efficientnet_lite0", device="cpu")
    methods = args.methods.split(",") if args.methods else sorted(core.METHODS)
    paths = photographs(args.images)
    print(
        f"visibility, median (min) over {len(paths)} photographs; threshold "
        f"{render.VISIBILITY_THRESHOLD}"
    )
    print("method".ljust(22) + "".join(name.rjust(15) for name in render.PRESETS))
    failing = []
    for method in methods:
        try:
            table = scores(clf, paths, method, render.PRESETS)
        except core.ExplainerInputError as error:
            print(f"{method.ljust(22)}  not run: {error}")
            continue
        cells = [f"{statistics.median(v):.3f} ({min(v):.2f})" for v in table.values()]
        print(method.ljust(22) + "".join(c.rjust(15) for c in cells))
        if statistics.median(table["default"]) < render.VISIBILITY_THRESHOLD:
            failing.append(method)
    verdict = "every method" if not failing else f"not {', '.join(failing)}"
    print(f"default ≥ {render.VISIBILITY_THRESHOLD}: {verdict}")


if __name__ == "__main__":
    main()
