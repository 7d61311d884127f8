"""Researcher forms: a study's design as form fields built from the protocol's and the flow's
schemas; the service's validation messages land on the matching fields."""

from __future__ import annotations

from typing import Any

from django import forms

from explainers.core.render import DEFAULT, PRESETS
from explainers.models import Classifier, ImageSet, SaliencyMap
from explainers.services.rendering import presentation_fields
from studies import flow as flow_config
from studies.configschema import ConfigError
from studies.presentations import presentation_of, study_presentations
from studies.protocols import Protocol
from studies.services.studies import Design, design_validate
from studies.stimuli import IMAGE_CHOICES

CFG = "cfg_"
FLOW = "flow_"
PRES = "pres_"


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
    presentation = forms.ChoiceField(
        label="Presentation of the maps",
        choices=[(name, name) for name in PRESETS] + [("custom", "custom: the settings below")],
        initial="default",
        required=False,
        help_text="How every map is drawn for participants: the stimulus itself. "
        "The preview below shows one image per method under these settings.",
    )
    compare_presentations = forms.MultipleChoiceField(
        label="Also compare with (between-subjects factor)",
        choices=[(name, name) for name in PRESETS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Each participant sees one presentation; the export's presentation column "
        "and the analysis treat it as a condition factor.",
    )

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
        for name in ("classifier", "image_set"):
            choices = self.fields[name].queryset  # type: ignore[attr-defined]
            if not self.initial.get(name) and len(only := list(choices[:2])) == 1:
                self.initial[name] = only[0].pk  # the only one there is: preselected
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
        self._presentation_fields(design.get("stimuli", {}).get("presentations"))
        self.fields.update(protocol.schema.form_fields(design.get("configuration", {}), CFG))
        self.fields.update(flow_config.SCHEMA.form_fields(design.get("flow", {}), FLOW))

    def _presentation_fields(self, entries: Any) -> None:
        """The custom presentation's settings (``pres_<setting>``), and the initial choice."""
        first = (entries or [{"name": "default", **DEFAULT.to_dict()}])[0]
        current = presentation_of(first)
        preset = next((n for n, p in PRESETS.items() if p == current), "custom")
        self.fields["presentation"].initial = preset
        self.fields["compare_presentations"].initial = [e["name"] for e in (entries or [])[1:]]
        for spec in presentation_fields(current):
            name = PRES + spec["name"]
            if "choices" in spec:
                self.fields[name] = forms.ChoiceField(
                    label=spec["label"],
                    choices=spec["choices"],
                    initial=spec["value"],
                    required=False,
                )
            else:
                self.fields[name] = forms.FloatField(
                    label=spec["label"],
                    initial=spec["value"],
                    min_value=spec["min"],
                    max_value=spec["max"],
                    required=False,
                    widget=forms.NumberInput(attrs={"step": spec["step"]}),
                )
            self.fields[name].widget.attrs["data-presentation"] = spec["name"]

    def presentation_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(PRES)]

    def _presentations(self, cleaned: dict[str, Any]) -> list[Any]:
        """The study's presentations: the chosen one first, then those compared with it."""
        chosen = cleaned.get("presentation") or "default"
        if chosen == "custom":
            settings = {
                k[len(PRES) :]: v
                for k, v in cleaned.items()
                if k.startswith(PRES) and v not in (None, "")
            }
            first: Any = {"name": "custom", **settings}
        else:
            first = chosen
        others = [n for n in cleaned.get("compare_presentations") or [] if n != chosen]
        return [first, *others]

    def protocol_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(CFG)]

    def flow_fields(self) -> list[forms.BoundField]:
        plan = {FLOW + name for name in flow_config.PLAN_OPTIONS}
        return [self[name] for name in self.fields if name.startswith(FLOW) and name not in plan]

    def plan_fields(self) -> list[forms.BoundField]:
        """Hypotheses, power analysis and the cost inputs: the plan's part of the flow."""
        return [self[FLOW + name] for name in flow_config.PLAN_OPTIONS]

    def clean(self) -> dict[str, Any]:
        """Every field's problem at once: the fields' own checks, then the design's.

        A field that failed its own check is left out of the design (its default stands in),
        so the service still reports the other parts, and nothing is said twice about it.
        """
        cleaned = super().clean() or {}
        failed = set(self.errors)
        configuration = self._document(self.protocol.schema, cleaned, CFG, "configuration", failed)
        flow = self._document(flow_config.SCHEMA, cleaned, FLOW, "flow", failed)
        stimuli = {
            "methods": [m.strip() for m in (cleaned.get("methods") or "").split(",") if m.strip()],
            "images": cleaned.get("images"),
            "sample": cleaned.get("sample"),
            "seed": cleaned.get("seed") or 0,
            "presentations": self._presentations(cleaned),
        }
        try:
            design = design_validate(
                protocol=self.protocol.name,
                configuration=configuration,
                flow=flow,
                stimuli=stimuli,
                classifier=cleaned.get("classifier"),
                image_set=cleaned.get("image_set"),
                user=self.user,
            )
        except ConfigError as error:
            self._add(error, skip=failed)
        else:
            self.design = None if self.errors else design
        return cleaned

    def _document(
        self, schema: Any, cleaned: dict[str, Any], prefix: str, section: str, failed: set[str]
    ) -> dict[str, Any]:
        """One part of the design from its form fields; fields that already failed are left out."""
        document: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for option in schema.options:
            name = prefix + option.name
            if name in failed:
                continue
            try:
                document[option.name] = option.from_form(cleaned.get(name))
            except ConfigError as error:
                errors.update(error.errors)
                failed.add(name)
        if errors:
            self._add(ConfigError(errors).prefixed(section))
        return document

    def _add(self, error: ConfigError, skip: set[str] | frozenset[str] = frozenset()) -> None:
        for key, messages in error.errors.items():
            section, _, name = key.partition(".")
            if section == "configuration":
                field = CFG + name
            elif section == "flow":
                field = FLOW + name
            elif section == "stimuli":
                field = "presentation" if name == "presentations" else name
            else:
                field = key
            target = field if field in self.fields else None
            if target in skip:
                continue  # its own check already said what is wrong
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
        **_presentation_initial(selection),
    }


def _presentation_initial(selection: dict[str, Any]) -> dict[str, Any]:
    entries = study_presentations(selection)
    first = entries[0][1]
    preset = next((n for n, p in PRESETS.items() if p == first), "custom")
    return {
        "presentation": preset,
        "compare_presentations": [name for name, _ in entries[1:]],
        **{PRES + k: v for k, v in first.to_dict().items()},
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
