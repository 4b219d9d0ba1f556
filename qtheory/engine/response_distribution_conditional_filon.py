r"""Filon-type weights for the outer x-rule of the ConditionalGittins transform
(:mod:`qtheory.engine.response_distribution_conditional`).

The unconditional transform mixes the classes :math:`(x, y)`,

.. math::
    E[e^{-sT}] = \int\!\!\int e^{-sx}\,F(x, y; s)\,dx\,dy,\qquad
    F(x, y; s) = k_y(x)\,E[e^{-s(T - x)}\mid x, y],

where :math:`F` is smooth in :math:`x` on each panel of the outer rule (its variation is of the
order of :math:`\lambda`, not :math:`|s|`: :math:`|E[e^{-s(T-x)}\mid x, y]| \le 1` and it tends to the
atom :math:`P(T = x \mid x, y)` as :math:`|s| \to \infty`), while :math:`e^{-sx}` oscillates many
times per panel at the inversion's nodes (:math:`|\operatorname{Im} s|` up to :math:`38\pi/t`).
A quadrature with nodes :math:`x_j` treats the mixture as a sum of point masses at the
:math:`x_j` (a staircase of the classes' atoms :math:`P(T = x)`), which the cdf shows at small
:math:`t`. Filon's idea (Filon 1928; Iserles and Norsett, Proc. R. Soc. A 461, 2005): on each
panel replace :math:`F` by its polynomial interpolant at the panel's nodes (in the panel's
variable :math:`\tau \in [0, 1]`, :math:`x = e^{u_0 + h\tau}`) and integrate the product with
:math:`e^{-sx}` exactly,

.. math::
    \int_0^1 F(x(\tau))\,e^{-s x(\tau)}\,d\tau \approx \sum_j F_j\,M_j(s),\qquad
    M_j(s) = \int_0^1 \ell_j(\tau)\,e^{-s x(\tau)}\,d\tau,

with :math:`\ell_j` the Lagrange basis. The modified weights :math:`M_j(s)` are computed by a
Gauss-Legendre rule of :data:`FINE_ORDER` nodes on sub-panels, each spanning at most
:data:`PHASE` radians of :math:`e^{-sx}` (:math:`\ell_j` has degree below the panel's node
count, so the sub-rule integrates :math:`\ell_j e^{-sx}` to rounding). Where
:math:`|s|\,\Delta x` is below :data:`RESOLVED` on a panel the panel's own quadrature resolves
:math:`e^{-sx}` and is kept (its weights :math:`\omega_j e^{-s x_j}`: at small :math:`|s|` the
transform is the quadrature of the closed-form moments); beyond
:math:`x >` :data:`CUT` :math:`/\operatorname{Re} s` the factor :math:`|e^{-sx}| < e^{-40}` and
those sub-panels are left out.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

#: Gauss-Legendre nodes per sub-panel of the modified weights
FINE_ORDER = 32
#: the phase of e^{-sx} (radians, :math:`|s|` times the sub-panel's length in x) per sub-panel: the
#: sub-rule (exact to degree 63) then integrates l_j e^{-sx} (l_j of degree <= 16) to about
#: J_47(PHASE / 2) ~ 1e-20 (a panel of 17 nodes on [0.05, 0.6] with F = e^{-x}: 16 nodes and
#: 6 radians, 24 and 12, 32 and 22 all 1e-13 from mpmath's quadrature: the interpolation's error)
PHASE = 20.0
#: a panel whose :math:`|s|` times its length in x stays below this keeps its own quadrature
RESOLVED = 0.05
#: e^{-sx} is negligible beyond x = CUT / Re s (e^{-40} = 4e-18: the Euler rule's weights are
#: at most e^{A/2} = 4.4e5, so the cdf changes by below 1e-12)
CUT = 40.0
#: the most sub-panels of one panel (bounds the work at s with Re s near 0, where e^{-sx} is
#: not damped: there the weights lose accuracy)
MAX_SUB = 256
#: fine nodes per batch of panels (memory)
FINE_NODES = 1_000_000


def _gl01(n: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = np.polynomial.legendre.leggauss(n)
    return (t + 1.0) / 2.0, w / 2.0


class FilonPanels:
    r"""Panels in :math:`u = \log x` (rows ``lo``, ``hi``: shape ``(n, P)``) with the nodes
    ``tau`` (in [0, 1]) and weights ``omega`` of their quadrature in :math:`\tau`
    (:math:`\int_0^1 f\,d\tau \approx \sum_j \omega_j f(\tau_j)`).

    :meth:`weights` gives :math:`M_j(s)` (module docstring), shape ``(len(s), n, P, len(tau))``.
    """

    def __init__(self, lo: np.ndarray, hi: np.ndarray, tau: np.ndarray, omega: np.ndarray):
        self.lo = np.asarray(lo, float)
        self.h = np.asarray(hi, float) - self.lo
        self.tau = np.asarray(tau, float)
        self.omega = np.asarray(omega, float)
        k = self.tau.size
        d = self.tau[:, None] - self.tau[None, :]
        np.fill_diagonal(d, 1.0)
        self.bary = 1.0 / np.prod(d, axis=1)  # barycentric weights of the nodes
        self.xn = np.exp(self.lo[..., None] + self.h[..., None] * self.tau)  # (n, P, k)
        self.xlo = np.exp(self.lo)
        self.xhi = np.exp(self.lo + self.h)
        self.k = k

    def basis(self, t: np.ndarray) -> np.ndarray:
        """The Lagrange basis of the nodes at ``t`` (shape ``(len(t), k)``; barycentric form)."""
        d = t[:, None] - self.tau[None, :]
        hit = d == 0.0
        d = np.where(hit, 1.0, d)
        q = self.bary[None, :] / d
        q = np.where(hit.any(axis=1, keepdims=True), hit.astype(float), q)
        return q / np.sum(q, axis=1, keepdims=True)

    def weights(self, s: np.ndarray) -> np.ndarray:
        s = np.asarray(s, complex).reshape(-1)
        n, P = self.lo.shape
        with np.errstate(under="ignore", over="ignore"):
            M = self.omega * np.exp(-s[:, None, None, None] * self.xn[None])
        re = np.maximum(s.real, 0.0)
        with np.errstate(divide="ignore"):
            xcut = np.where(re > 0, CUT / re, np.inf)  # (ns,)
        mag = np.abs(s)
        # per panel: the largest phase |s| x h over the relevant part (x below the cut), and
        # whether e^{-sx} is resolved by the panel's own nodes there
        top = np.minimum(self.xhi[None], xcut[:, None, None])  # (ns, n, P)
        live = top > self.xlo[None]
        span = np.where(live, top - self.xlo[None], 0.0)
        need = np.max(mag[:, None, None] * span, axis=0) > RESOLVED
        if not need.any():
            return M
        # sub-panels uniform in tau: the longest (in x) below the cut is the one ending at
        # ``top``, of length top (1 - e^{-h / nsub}); it spans at most PHASE radians
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(live, PHASE / (mag[:, None, None] * top), np.inf)
            r = np.min(r, axis=0)
            nsub = np.where(r < 1.0, self.h / -np.log1p(-np.minimum(r, 1.0 - 1e-12)), 1.0)
        nsub = np.clip(np.ceil(nsub), 1, MAX_SUB).astype(np.int64)
        rows, pans = np.nonzero(need)
        ns_all = nsub[rows, pans]
        # the flagged panels in groups of at most FINE_NODES fine nodes (memory)
        cum = np.cumsum(ns_all) * FINE_ORDER
        group = cum // FINE_NODES
        for gi in np.unique(group):
            sel = group == gi
            M[:, rows[sel], pans[sel], :] = self._modified(s, xcut, rows[sel], pans[sel], ns_all[sel])
        return M

    def _modified(self, s, xcut, rows, pans, ns_f) -> np.ndarray:
        """:math:`M_j(s)` of the panels ``(rows, pans)`` on ``ns_f`` sub-panels each:
        shape ``(len(s), len(rows), k)``."""
        # the sub-panels (flagged panel f, index i of ns_f[f]); those above the cut for every s
        # (their lower end beyond max xcut) are left out
        f_of = np.repeat(np.arange(rows.size), ns_f)
        start = np.cumsum(ns_f) - ns_f
        i_of = np.arange(f_of.size) - start[f_of]
        lo_f, h_f = self.lo[rows, pans][f_of], self.h[rows, pans][f_of]
        t_lo = i_of / ns_f[f_of]
        keep = np.exp(lo_f + h_f * t_lo) < np.max(xcut)
        f_of, t_lo, lo_f, h_f = f_of[keep], t_lo[keep], lo_f[keep], h_f[keep]
        dt = 1.0 / ns_f[f_of]
        g, gw = _gl01(FINE_ORDER)
        tf = (t_lo[:, None] + dt[:, None] * g[None, :]).ravel()
        wf = (dt[:, None] * gw[None, :]).ravel()
        xf = np.exp(np.repeat(lo_f, g.size) + np.repeat(h_f, g.size) * tf)
        fidx = np.repeat(f_of, g.size)
        B = self.basis(tf) * wf[:, None]  # (Nf, k)
        cols = (fidx[:, None] * self.k + np.arange(self.k)[None, :]).ravel()
        S = sparse.csr_matrix((B.ravel(), (np.repeat(np.arange(tf.size), self.k), cols)),
                              shape=(tf.size, rows.size * self.k)).T.tocsr()
        # e^{-s x} at the fine nodes, a few s at a time (memory)
        step = max(1, int(4_000_000 // max(tf.size, 1)))
        out = np.empty((s.size, rows.size, self.k), complex)
        for a in range(0, s.size, step):
            with np.errstate(under="ignore", over="ignore"):
                E = np.exp(-np.outer(xf, s[a:a + step]))  # (Nf, ns)
            out[a:a + step] = (S @ E).T.reshape(-1, rows.size, self.k)
        return out


def gl_panels(x: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """The panel edges (in log x) of Gauss-Legendre panels of ``order`` nodes (rows of ``x``:
    the panels' nodes in order, panel-major) rebuilt from the nodes."""
    t, _ = _gl01(order)
    n = x.shape[0]
    u = np.log(x).reshape(n, -1, order)
    h = (u[..., -1] - u[..., 0]) / (t[-1] - t[0])
    lo = u[..., 0] - h * t[0]
    return lo, lo + h


__all__ = ["FilonPanels", "gl_panels", "FINE_ORDER", "PHASE", "RESOLVED", "CUT"]
