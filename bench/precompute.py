"""Pipeline overhead of precompute jobs against the bare engine on the same work (not a test).

    .venv/bin/python bench/precompute.py [--images 16] [--methods gradcam,gradient] [--metrics dauc]
        [--options '{"rise": {"n_masks": 500}}']

Runs in one process on a throw-away SQLite database and media folder, with tasks in-process
(the broker round trip is measured separately by the system tests). Both sides decode the same
images, compute the same maps and scores with the same batch size and the classifier already
loaded; the pipeline (the GPU path) adds the database, the raw-map files and the task plumbing.
Reports maps per second and the overhead as a share of the bare compute time (target < 10%).

Drawing maps for people is not on the GPU path: it is done from the stored raw maps on the CPU
(default) queue. Its throughput is reported on its own line (renders per second of the default
presentation, in chunks as the CPU worker takes them), measured after each pipeline round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--methods", default="gradcam,gradient")
    parser.add_argument("--metrics", default="")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of each side")
    parser.add_argument("--options", type=json.loads, default={}, help="per-method options (JSON)")
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data" / "imagenet-sample"
    )
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    metrics = [m for m in args.metrics.split(",") if m]

    work = Path(tempfile.mkdtemp(prefix="bench-precompute-"))
    os.environ.update(
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{work / 'db.sqlite3'}",
        MEDIA_ROOT=str(work / "media"),
        CELERY_TASK_ALWAYS_EAGER="true",
        DJANGO_SETTINGS_MODULE="studyplatform.settings",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import torch
    from PIL import Image as PILImage

    from explainers import core
    from explainers.runtime import core_classifier, forget_inputs
    from explainers.services.classifiers import classifier_zoo_ensure
    from explainers.services.image_sets import image_set_import
    from explainers.services.parameters import parameters_for, runtime_options
    from explainers.services.precompute import precompute_job_create

    folder = work / "images"
    folder.mkdir()
    files = sorted(p for p in args.data.glob("*.JPEG"))[: args.images]
    for path in files:
        (folder / path.name).write_bytes(path.read_bytes())
    image_set = image_set_import(name="bench", source=folder).image_set
    row = classifier_zoo_ensure(name="efficientnet_lite0")
    clf = core_classifier(row)  # loaded once for both sides, as a worker would

    def bare() -> float:
        started = time.perf_counter()
        for i in range(0, len(files), args.batch_size):
            pictures = [PILImage.open(p).convert("RGB") for p in files[i : i + args.batch_size]]
            x = clf.preprocess(pictures)
            targets = clf.probabilities(x).argmax(dim=1).tolist()
            for method in methods:
                chosen = args.options.get(method, {})
                arguments = {**parameters_for(method, chosen), **runtime_options(method, chosen)}
                maps = core.explain(clf, x, method, targets=targets, **arguments)
                for metric in metrics:
                    core.faithfulness(clf, x, maps, metric, targets=targets)
        return time.perf_counter() - started

    def pipeline() -> float:
        from explainers.models import FaithfulnessScore, Prediction, SaliencyMap

        SaliencyMap.objects.all().delete()
        FaithfulnessScore.objects.all().delete()
        Prediction.objects.all().delete()
        forget_inputs()  # decode like a fresh worker, as the bare side does every round
        started = time.perf_counter()
        from django.db import transaction

        with transaction.atomic():
            job = precompute_job_create(
                classifier=row,
                image_set=image_set,
                methods=methods,
                metrics=metrics,
                batch_size=args.batch_size,
                options=args.options,
            )
        job.refresh_from_db()
        elapsed = time.perf_counter() - started
        assert job.state == "done", job.errors
        return elapsed

    def render() -> float:
        """The CPU queue's work for the maps just computed: one presentation, chunk by chunk."""
        from explainers.core.render import DEFAULT
        from explainers.models import MapRender, SaliencyMap
        from explainers.services.rendering import RENDER_CHUNK, map_renders_create

        MapRender.objects.all().delete()
        ids = list(SaliencyMap.objects.order_by("id").values_list("id", flat=True))
        started = time.perf_counter()
        for i in range(0, len(ids), RENDER_CHUNK):
            map_renders_create(map_ids=ids[i : i + RENDER_CHUNK], presentation=DEFAULT.to_dict())
        elapsed = time.perf_counter() - started
        assert MapRender.objects.count() == len(ids)
        return elapsed

    torch.set_grad_enabled(True)
    bare()  # warm-up: first-call allocations and kernels
    pipeline()  # warm-up: imports, as in a worker that has run a job before
    render()  # warm-up: colour tables
    rounds = []
    renders = []
    for _ in range(args.rounds):  # interleaved: same conditions
        rounds.append((bare(), pipeline()))
        renders.append(render())
    t_bare = min(r[0] for r in rounds)
    t_pipe = min(r[1] for r in rounds)
    n_maps = len(files) * len(methods)
    print(
        f"{n_maps} maps ({len(files)} images × {', '.join(methods)}), "
        f"metrics: {', '.join(metrics) or 'none'}, batch {args.batch_size}, device {clf.device}"
    )
    print(f"bare engine : {n_maps / t_bare:7.2f} maps/s ({t_bare:.2f} s)")
    print(f"pipeline    : {n_maps / t_pipe:7.2f} maps/s ({t_pipe:.2f} s)")
    print(
        f"overhead    : {100 * (t_pipe - t_bare) / t_bare:6.1f} % of the bare compute time "
        f"({1000 * (t_pipe - t_bare) / n_maps:.1f} ms per map; fastest of {args.rounds} rounds)"
    )
    paired = sorted(100 * (pipe - bare) / bare for bare, pipe in rounds)  # same conditions
    print(
        f"paired      : {statistics.median(paired):6.1f} % median overhead of the {args.rounds} "
        f"rounds (each pipeline round against the bare round just before it; "
        f"range {paired[0]:.1f} to {paired[-1]:.1f} %)"
    )
    t_render = min(renders)
    print(
        f"renders     : {n_maps / t_render:7.2f} renders/s on the CPU queue, off the GPU path "
        f"({1000 * t_render / n_maps:.1f} ms per map, default presentation, fastest round)"
    )


if __name__ == "__main__":
    main()
