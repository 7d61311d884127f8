"""Mixed models for the study analyses: Laplace ML for GLMMs with crossed random intercepts.

* :func:`fit_glmm_binomial`: logistic mixed model, ``glmer(cbind(y, m − y) ~ x + (1|f1) + …)``;
* :func:`fit_clmm`: cumulative-logit mixed model, ``ordinal::clmm(y ~ x + (1|f1) + …)``;
* :func:`fit_lmm`: linear mixed model (REML) with correlated random effects, via statsmodels.

The GLMMs maximise the Laplace approximation of the marginal likelihood with exact gradients and
a Schur-complement factorisation of the crossed random-effects Hessian (see :mod:`.laplace` and
:mod:`.crossed`). References: Bates, Mächler, Bolker & Walker (2015), J. Stat. Softw. 67(1);
Christensen (2019), ordinal — Regression Models for Ordinal Data, R package vignette.
"""

from .clmm import fit_clmm
from .glmm import fit_glmm_binomial
from .lmm import fit_lmm
from .result import LinearMixedResult, MixedModelResult

__all__ = [
    "LinearMixedResult",
    "MixedModelResult",
    "fit_clmm",
    "fit_glmm_binomial",
    "fit_lmm",
]
