"""URLs of the explainers app: the API router, the researcher's job and gallery pages, and the
files of images and maps (checked against what the viewer may see)."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from explainers import api, views

router = DefaultRouter()
router.register("classifiers", api.ClassifierViewSet, basename="classifier")
router.register("image-sets", api.ImageSetViewSet, basename="image-set")
router.register("saliency-maps", api.SaliencyMapViewSet, basename="saliency-map")
router.register("jobs", api.PrecomputeJobViewSet, basename="job")

urlpatterns = [
    path("api/", include(router.urls)),
    path("jobs/", views.job_list, name="precompute-jobs"),
    path("jobs/<uuid:uid>/", views.job_detail, name="precompute-job"),
    path("jobs/<uuid:uid>/cancel/", views.job_cancel, name="precompute-job-cancel"),
    path("gallery/", views.gallery, name="gallery"),
    path("gallery/legend.png", views.colormap_legend, name="colormap-legend"),
    path("gallery/sample.json", views.presentation_sample, name="presentation-sample"),
    path("files/images/<uuid:uid>", api.image_file, name="image-file"),
    path("files/maps/<uuid:uid>/<str:kind>", api.map_file, name="map-file"),
]
