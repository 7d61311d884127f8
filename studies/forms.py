"""Researcher forms: a study's design as form fields built from the protocol's and the flow's
schemas; the service's validation messages land on the matching fields."""

from __future__ import annotations

from typing import Any

from django import forms

from explainers.models import Classifier, ImageSet, SaliencyMap
from studies import flow as flow_config
from studies.configschema import ConfigError
from studies.protocols import Protocol
from studies.services.studies import Design, design_validate
from studies.stimuli import IMAGE_CHOICES

CFG = "cfg_"
FLOW = "flow_"


class StudyForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For you and your team; participants never see it.",
    )
    classifier = forms.ModelChoiceField(queryset=Classifier.objects.none())
    image_set = forms.ModelChoiceField(queryset=ImageSet.objects.none())
    methods = forms.CharField(
        max_length=1000, help_text="Explanation methods, comma-separated (e.g. gradcam, rise)."
    )
    images = forms.ChoiceField(choices=[(c, c) for c in IMAGE_CHOICES])
    sample = forms.IntegerField(
        required=False, min_value=1, help_text="Empty: every selected image."
    )
    seed = forms.IntegerField(min_value=0, initial=0, help_text="Seed of the sample.")

    def __init__(
        self,
        *args: Any,
        protocol: Protocol,
        user: Any,
        initial_design: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.protocol = protocol
        self.user = user
        self.design: Design | None = None
        design = initial_design or {}
        self.fields["classifier"].queryset = Classifier.objects.visible_to(user)  # type: ignore[attr-defined]
        self.fields["image_set"].queryset = ImageSet.objects.visible_to(user)  # type: ignore[attr-defined]
        known = sorted(
            set(
                SaliencyMap.objects.filter(classifier__in=Classifier.objects.visible_to(user))
                .values_list("method", flat=True)
                .distinct()
            )
        )
        if known:
            self.fields["methods"].help_text += f" Precomputed: {', '.join(known)}."
        self.fields["images"].initial = design.get("stimuli", {}).get(
            "images", protocol.default_images
        )
        self.fields.update(protocol.schema.form_fields(design.get("configuration", {}), CFG))
        self.fields.update(flow_config.SCHEMA.form_fields(design.get("flow", {}), FLOW))

    def protocol_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(CFG)]

    def flow_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(FLOW)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            configuration = self.protocol.schema.from_form(cleaned, CFG)
            flow = flow_config.SCHEMA.from_form(cleaned, FLOW)
        except ConfigError as error:
            self._add(error, default_prefix=CFG)
            return cleaned
        stimuli = {
            "methods": [m.strip() for m in cleaned["methods"].split(",") if m.strip()],
            "images": cleaned["images"],
            "sample": cleaned.get("sample"),
            "seed": cleaned.get("seed") or 0,
        }
        try:
            self.design = design_validate(
                protocol=self.protocol.name,
                configuration=configuration,
                flow=flow,
                stimuli=stimuli,
                classifier=cleaned.get("classifier"),
                image_set=cleaned.get("image_set"),
                user=self.user,
            )
        except ConfigError as error:
            self._add(error)
        return cleaned

    def _add(self, error: ConfigError, default_prefix: str = "") -> None:
        for key, messages in error.errors.items():
            section, _, name = key.partition(".")
            if section == "configuration":
                field = CFG + name
            elif section == "flow":
                field = FLOW + name
            elif section == "stimuli":
                field = name
            else:
                field = default_prefix + key if default_prefix + key in self.fields else key
            target = field if field in self.fields else None
            for message in messages:
                self.add_error(target, message if target else f"{key}: {message}")


def study_initial(study: Any) -> dict[str, Any]:
    """Form initial values of an existing study."""
    selection = study.stimuli_selection
    return {
        "title": study.title,
        "description": study.description,
        "classifier": study.classifier_id,
        "image_set": study.image_set_id,
        "methods": ", ".join(selection.get("methods", [])),
        "images": selection.get("images"),
        "sample": selection.get("sample"),
        "seed": selection.get("seed", 0),
    }


class TitleForm(forms.Form):
    """What may change once the design is locked."""

    title = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ImportForm(forms.Form):
    document = forms.FileField(required=False, help_text="A study JSON document.")
    text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="…or paste the document here.",
    )


class CollaboratorForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(
        choices=[("view", "view and analyse"), ("edit", "edit"), ("", "remove")], required=False
    )
