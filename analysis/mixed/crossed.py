"""Crossed random intercepts: the structure of Z and fast factorisations of H = ΛZ'WZΛ + I.

With spherical random effects u ~ N(0, I) and b = Λu, Λ = diag(σ_f for the levels of factor f),
the negative Hessian of the joint log-density in u is

    H = ΛZ'WZΛ + I,     W = diag(−∂²ℓ_i/∂η_i²) ≥ 0.

For crossed random intercepts Z'WZ consists of diagonal blocks (one per factor) and sparse cross
blocks. Ordering the factor with the most levels first,

    H = [[A, C], [C', B]],   A diagonal (n₀ × n₀),  B dense (m × m),  m = q − n₀,

and the Schur complement S = B − C'A⁻¹C (m × m, small: e.g. the items) gives

    log|H| = Σ log A_jj + log|S|,
    H⁻¹ = [[A⁻¹ + G S⁻¹ G', −G S⁻¹], [−S⁻¹ G', S⁻¹]],   G = A⁻¹C,

so every solve costs O(n₀·m + m³) and the entries of H⁻¹ at the observed cells, which the gradient
of the Laplace log-likelihood needs, come from M = G S⁻¹ and S⁻¹. One factor means m = 0
(H diagonal); three or more factors put all but the largest into the dense block.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import linalg, sparse

__all__ = ["MAX_CROSS_CELLS", "MAX_DENSE_LEVELS", "CrossedDesign", "CrossedFactor"]

#: largest dense block (levels of all factors except the largest) that the Schur path accepts
MAX_DENSE_LEVELS = 6000
#: largest n₀ × m cross block kept dense
MAX_CROSS_CELLS = 20_000_000


class CrossedDesign:
    """Level codes of K ≥ 1 crossed grouping factors, internally ordered largest first."""

    def __init__(self, codes: Sequence[np.ndarray], n_levels: Sequence[int]) -> None:
        if len(codes) == 0:
            raise ValueError("CrossedDesign needs at least one grouping factor")
        self.order = tuple(int(i) for i in np.argsort([-n for n in n_levels], kind="stable"))
        self.codes = [np.asarray(codes[i], dtype=np.intp) for i in self.order]
        self.n_levels = [int(n_levels[i]) for i in self.order]
        self.k = len(self.codes)
        self.n = len(self.codes[0])
        self.offsets = np.concatenate([[0], np.cumsum(self.n_levels)]).astype(np.intp)
        self.q = int(self.offsets[-1])
        self.n0 = self.n_levels[0]
        self.m = self.q - self.n0
        if self.m > MAX_DENSE_LEVELS:
            raise ValueError(
                f"the grouping factors other than the largest have {self.m} levels in total; "
                f"the crossed-intercept solver supports at most {MAX_DENSE_LEVELS}"
            )
        if self.n0 * self.m > MAX_CROSS_CELLS:
            raise ValueError(
                f"the cross block between the largest grouping factor ({self.n0} levels) and the "
                f"others ({self.m} levels) has more than {MAX_CROSS_CELLS} cells; not supported"
            )
        # positions in the dense block (0..m−1) of each observation's levels of factors 1..K−1
        self.dense_pos = [self.codes[f] + (self.offsets[f] - self.n0) for f in range(1, self.k)]
        self._cross_index = (
            np.concatenate([self.codes[0] * self.m + pos for pos in self.dense_pos])
            if self.k > 1
            else np.zeros(0, dtype=np.intp)
        )
        pairs = [(f, g) for f in range(self.k - 1) for g in range(self.k - 1)]
        self._block_index = (
            np.concatenate([self.dense_pos[f] * self.m + self.dense_pos[g] for f, g in pairs])
            if self.k > 1
            else np.zeros(0, dtype=np.intp)
        )
        self._n_pairs = len(pairs)
        # Z as CSR (n × q, K ones per row) and its transpose, for fast products with blocks
        cols = np.column_stack([self.codes[f] + self.offsets[f] for f in range(self.k)]).ravel()
        self._z = sparse.csr_matrix(
            (np.ones(self.n * self.k), cols, np.arange(0, self.n * self.k + 1, self.k)),
            shape=(self.n, self.q),
        )
        self._zt = self._z.T.tocsr()

    def sigma_q(self, sigma: np.ndarray) -> np.ndarray:
        """Diagonal of Λ (length q) from the per-factor standard deviations."""
        return np.repeat(np.asarray(sigma, dtype=float), self.n_levels)

    def zt(self, v: np.ndarray) -> np.ndarray:
        """Z'v for v of shape (n,) or (n, P)."""
        return np.asarray(self._zt @ v)

    def z(self, u: np.ndarray) -> np.ndarray:
        """Zu for u of shape (q,) or (q, P)."""
        return np.asarray(self._z @ u)

    def cell_values(self, u: np.ndarray) -> np.ndarray:
        """u at each observation's level, one column per factor: shape (n, K)."""
        return np.column_stack([u[self.offsets[f] + self.codes[f]] for f in range(self.k)])

    def factorize(self, w: np.ndarray, sigma: np.ndarray) -> CrossedFactor:
        return CrossedFactor(self, np.maximum(w, 0.0), np.asarray(sigma, dtype=float))


class CrossedFactor:
    """Schur-complement factorisation of H = ΛZ'WZΛ + I for given weights W and σ."""

    def __init__(self, design: CrossedDesign, w: np.ndarray, sigma: np.ndarray) -> None:
        self.d = design
        self.sigma = sigma
        s0 = sigma[0]
        self.a = 1.0 + s0 * s0 * np.bincount(design.codes[0], weights=w, minlength=design.n0)
        logdet = float(np.sum(np.log(self.a)))
        m = design.m
        if m > 0:
            s_cols = np.repeat(sigma[1:], design.n_levels[1:])
            wk = np.tile(w, design.k - 1)
            cross = np.bincount(design._cross_index, weights=wk, minlength=design.n0 * m)
            self.c = cross.reshape(design.n0, m) * (s0 * s_cols)[None, :]
            block = np.bincount(
                design._block_index, weights=np.tile(w, design._n_pairs), minlength=m * m
            ).reshape(m, m)
            b = block * np.outer(s_cols, s_cols) + np.eye(m)
            self.g = self.c / self.a[:, None]
            schur = b - self.c.T @ self.g
            self.chol = linalg.cho_factor(schur, lower=True, check_finite=False)
            logdet += 2.0 * float(np.sum(np.log(np.diag(self.chol[0]))))
        self.logdet = logdet

    def solve(self, r: np.ndarray) -> np.ndarray:
        """H⁻¹ r for r of shape (q,) or (q, P)."""
        n0 = self.d.n0
        r0, r1 = r[:n0], r[n0:]
        a = self.a if r.ndim == 1 else self.a[:, None]
        if self.d.m == 0:
            return np.asarray(r0 / a)
        y1 = linalg.cho_solve(self.chol, r1 - self.g.T @ r0, check_finite=False)
        x0 = (r0 - self.c @ y1) / a
        return np.concatenate([x0, y1], axis=0)

    def cell_r(self) -> np.ndarray:
        """r_f(i) = Σ_g σ_g (H⁻¹)[l_f(i), l_g(i)] for every observation i and factor f: (n, K).

        h_i = Σ_f σ_f r_f(i) = (ZΛH⁻¹ΛZ')_ii.
        """
        d, sigma = self.d, self.sigma
        p = d.codes[0]
        if d.m == 0:
            return np.asarray((sigma[0] / self.a[p])[:, None])
        sinv = linalg.cho_solve(self.chol, np.eye(d.m), check_finite=False)
        mm = self.g @ sinv  # −(H⁻¹)₀₁
        diag0 = 1.0 / self.a + np.einsum("ij,ij->i", mm, self.g)
        out = np.empty((d.n, d.k))
        # factor 0 row: σ₀ V₀₀ + Σ_g σ_g V₀g
        r0 = sigma[0] * diag0[p]
        for g in range(1, d.k):
            r0 -= sigma[g] * mm[p, d.dense_pos[g - 1]]
        out[:, 0] = r0
        for f in range(1, d.k):
            pos_f = d.dense_pos[f - 1]
            rf = -sigma[0] * mm[p, pos_f]
            for g in range(1, d.k):
                rf += sigma[g] * sinv[pos_f, d.dense_pos[g - 1]]
            out[:, f] = rf
        return out
