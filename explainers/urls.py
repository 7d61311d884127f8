"""URLs of the explainers app: the API router and the researcher's job and image-set pages."""

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
]
