"""A study's full design as a JSON document: export, and parsing for ``create_study``.

The document names the classifier and the image set (by name, with the zoo model's name and the
file hash as hints) rather than by database id, so that another lab with the same model and images
can re-run the study. The frozen stimuli's item ids (image content hashes) are included for
reference: the same selection on the same images gives the same items.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Q
from django.utils import timezone

from explainers.models import Classifier, ImageSet
from studies.configschema import ConfigError
from studies.models import Study
from studies.presentations import study_presentations
from studies.protocols import get_protocol
from studies.services.studies import Design, design_validate

FORMAT = "saliency-study"
FORMAT_VERSION = 1
TOP_KEYS = {
    "format",
    "format_version",
    "title",
    "description",
    "protocol",
    "configuration",
    "flow",
    "stimuli",
    "conditions",
    "source",
}


def study_spec(study: Study) -> dict[str, Any]:
    """The document that re-creates ``study`` (without its participants and responses)."""
    classifier = study.classifier
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "title": study.title,
        "description": study.description,
        "protocol": study.protocol,
        "configuration": study.configuration,
        "flow": study.flow,
        "stimuli": {
            **study.stimuli_selection,
            # a study from before presentations existed showed the legacy convention: say so
            "presentations": [
                {"name": name, **p.to_dict()}
                for name, p in study_presentations(study.stimuli_selection)
            ],
            "classifier": {
                "name": classifier.name,
                "source": classifier.source,
                "zoo_name": classifier.zoo_name,
                "sha256": classifier.sha256,
            },
            "image_set": {"name": study.image_set.name},
            "items": list(study.stimuli.order_by("position").values_list("item_id", flat=True)),
        },
        "conditions": [
            {"name": c.name, "factors": c.factors, "quota": c.quota}
            for c in study.conditions.order_by("position")
        ],
        "source": {
            "study": str(study.uid),
            "version": study.version,
            "state": study.state,
            "exported_at": timezone.now().isoformat(),
        },
    }


def _named(value: Any, key: str) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        return str(value["name"])
    return None


def _classifier(user: Any, ref: Any) -> Classifier | None:
    name = _named(ref, "classifier")
    if name is None:
        return None
    visible = Classifier.objects.visible_to(user)
    mine = visible.filter(name=name).order_by("owner_id").first()
    if mine is not None or not isinstance(ref, Mapping) or not ref.get("zoo_name"):
        return mine
    return visible.filter(Q(owner__isnull=True), zoo_name=ref["zoo_name"]).first()


def _image_set(user: Any, ref: Any) -> ImageSet | None:
    name = _named(ref, "image_set")
    if name is None:
        return None
    visible = ImageSet.objects.visible_to(user).filter(name=name)
    own = visible.filter(owner=user).first() if getattr(user, "is_authenticated", False) else None
    return own or visible.first()


def spec_parse(data: Any, *, user: Any) -> tuple[str, str, Design]:
    """Title, description and validated design from a document; :class:`ConfigError` otherwise."""
    if not isinstance(data, Mapping):
        raise ConfigError({"": ["the study document must be a JSON object"]})
    errors: dict[str, list[str]] = {}
    if data.get("format", FORMAT) != FORMAT:
        errors["format"] = [f"must be {FORMAT!r}"]
    if data.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        errors["format_version"] = [f"this platform reads version {FORMAT_VERSION}"]
    if unknown := sorted(set(data) - TOP_KEYS):
        errors["document"] = [f"unknown key(s): {', '.join(unknown)}"]
    if not isinstance(data.get("protocol"), str):
        errors["protocol"] = ["name the protocol, e.g. 'likert'"]
    else:
        try:
            get_protocol(data["protocol"])
        except ConfigError as error:
            errors.update(error.errors)
    stimuli = data.get("stimuli")
    if not isinstance(stimuli, Mapping):
        errors["stimuli"] = ["give the stimuli: classifier, image_set, methods, images"]
        stimuli = {}
    selection = {k: v for k, v in stimuli.items() if k not in ("classifier", "image_set", "items")}
    classifier = _classifier(user, stimuli.get("classifier"))
    image_set = _image_set(user, stimuli.get("image_set"))
    if errors:
        raise ConfigError(errors)
    try:
        design = design_validate(
            protocol=str(data["protocol"]),
            configuration=data.get("configuration") or {},
            flow=data.get("flow") or {},
            stimuli=selection,
            classifier=classifier,
            image_set=image_set,
            user=user,
        )
    except ConfigError as error:
        found = dict(error.errors)
        if "classifier" in found:
            found["stimuli.classifier"] = [
                f"no classifier named {_named(stimuli.get('classifier'), '')!r} that you can use"
            ]
            del found["classifier"]
        if "image_set" in found:
            found["stimuli.image_set"] = [
                f"no image set named {_named(stimuli.get('image_set'), '')!r} that you can use"
            ]
            del found["image_set"]
        raise ConfigError(found) from None
    return str(data.get("title") or ""), str(data.get("description") or ""), design
