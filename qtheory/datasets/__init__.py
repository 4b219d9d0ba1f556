r"""Real LLM request traces shipped with the package (no network access at run time).

``qt.datasets.azure_llm_2023("code" | "conv")`` loads the Azure LLM inference trace 2023
(Splitwise, ISCA 2024): one hour of production requests of a code-completion and a
conversation service, with arrival time, prompt length and output length of every request.
The files are the unchanged CSVs of the public repository Azure/AzurePublicDataset, gzipped;
licence CC-BY 4.0, attribution in ``AZURE_LLM_2023_LICENSE.md`` next to them (and in
:data:`AZURE_LLM_2023_CITATION`).

A trace gives job sizes (output tokens, optionally times a per-token time) as a
:class:`qtheory.Empirical` law, and (size, prediction) pairs as :class:`qtheory.EmpiricalPairs`
with a prediction error law fitted to a measured output-length predictor (see
:meth:`LLMTrace.pairs`). Its arrival process can be checked against Poisson
(:meth:`LLMTrace.interarrival_cv`, :meth:`LLMTrace.dispersion`) before a model assumes it.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["LLMTrace", "azure_llm_2023", "load_trace", "AZURE_LLM_2023_CITATION",
           "FIVE_CLASS_CONFUSION", "FIVE_CLASS_PRIORS"]

AZURE_LLM_2023_CITATION = (
    "Azure LLM inference trace 2023 (Azure/AzurePublicDataset, CC-BY 4.0). Pratyush Patel, "
    "Esha Choukse, Chaojie Zhang, Aashaka Shah, Inigo Goiri, Saeed Maleki, Ricardo Bianchini. "
    "\"Splitwise: Efficient generative LLM inference using phase splitting\". ISCA 2024."
)

_FILES = {"code": "AzureLLMInferenceTrace_code.csv.gz", "conv": "AzureLLMInferenceTrace_conv.csv.gz"}
_ALIASES = {"code": "code", "conv": "conv", "conversation": "conv"}
_HEADER = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"]

#: Row-normalised confusion matrix (rows: true class, columns: predicted class) of a BERT-base
#: output-length classifier with five percentile buckets, measured on 85,482 vicuna-13b
#: responses from LMSYS-Chat-1M (SSJF, Qiu et al., "Efficient Interactive LLM Serving with Proxy
#: Model-based Sequence Length Prediction", AIOps 2024). Exact accuracy 0.590, Kendall tau-b 0.635.
FIVE_CLASS_CONFUSION = np.array([
    [0.718, 0.218, 0.038, 0.021, 0.005],
    [0.109, 0.561, 0.233, 0.087, 0.010],
    [0.030, 0.215, 0.467, 0.267, 0.020],
    [0.013, 0.074, 0.266, 0.580, 0.067],
    [0.016, 0.055, 0.166, 0.523, 0.239],
])
#: the measured class priors of those five buckets
FIVE_CLASS_PRIORS = np.array([0.304, 0.209, 0.215, 0.260, 0.012])
#: binary predictor (long iff length > median): P(long -> short), P(short -> long)
_BINARY_ERRORS = (0.164, 0.170)


@dataclass
class LLMTrace:
    """One LLM request trace.

    Attributes
    ----------
    name : str
    arrival_times : ndarray
        Seconds since the first request (non-decreasing).
    context_tokens, generated_tokens : ndarray of int
        Prompt and output length of each request.
    citation : str
    """

    name: str
    arrival_times: np.ndarray
    context_tokens: np.ndarray
    generated_tokens: np.ndarray
    citation: str = ""

    def __len__(self):
        return int(self.generated_tokens.size)

    def __repr__(self):
        return (f"LLMTrace({self.name!r}, {len(self)} requests over {self.span:.0f} s, "
                f"mean output {self.generated_tokens.mean():.1f} tokens)")

    # -- arrivals -------------------------------------------------------------------------------
    @property
    def span(self) -> float:
        """Time from the first to the last request (s)."""
        return float(self.arrival_times[-1] - self.arrival_times[0])

    @property
    def arrival_rate(self) -> float:
        """Requests per second, (n - 1) / span."""
        return (len(self) - 1) / self.span

    def interarrival_cv(self) -> float:
        r"""Coefficient of variation of the inter-arrival times (1 for a Poisson process)."""
        g = np.diff(self.arrival_times)
        return float(g.std() / g.mean())

    def dispersion(self, window: float) -> float:
        r"""Index of dispersion of counts :math:`\mathrm{Var}[N_w]/E[N_w]` in consecutive
        windows of ``window`` seconds (1 for a Poisson process, at every window)."""
        from .._validation import positive

        w = positive("window", window)
        t = self.arrival_times - self.arrival_times[0]
        nb = int(self.span // w)
        if nb < 2:
            raise ValueError(f"window must be at most half the trace span ({self.span:.0f} s), got "
                             f"window={window!r}")
        counts = np.bincount((t[t < nb * w] // w).astype(np.int64), minlength=nb)
        return float(counts.var() / counts.mean())

    # -- sizes and predictions ------------------------------------------------------------------
    def sizes(self, per_token: float = 1.0, overhead: float = 0.0):
        r"""Job sizes :math:`X = \text{overhead} + \text{per\_token} \cdot \text{output tokens}`
        as a :class:`qtheory.Empirical` law (one atom per distinct output length)."""
        from .._validation import nonnegative, positive
        from ..laws.sizes import Empirical

        k = positive("per_token", per_token)
        o = nonnegative("overhead", overhead)
        return Empirical(o + k * self.generated_tokens.astype(float))

    def pairs(self, predictor: str = "five_class", per_token: float = 1.0, overhead: float = 0.0):
        r"""(size, prediction) pairs as :class:`qtheory.EmpiricalPairs`, exact for the SOAP
        engine.

        Parameters
        ----------
        predictor : {"five_class", "binary", "perfect"}
            * ``"five_class"``: the measured five-bucket classifier (:data:`FIVE_CLASS_CONFUSION`).
              The buckets are cut at this trace's quantiles 0.304, 0.513, 0.728, 0.988 (the
              measured class priors), so the error law transfers across traces whose lengths
              differ in scale; a request of true bucket :math:`k` is predicted in bucket
              :math:`j` with probability :math:`M_{kj}` and its prediction is the mean output
              length of bucket :math:`j` (the expected-value rule of TRAIL's classifiers).
            * ``"binary"``: long iff above the trace's median; the measured error rates
              P(long -> short) = 0.164, P(short -> long) = 0.170; the prediction is the class mean.
            * ``"perfect"``: the prediction is the size.
        per_token, overhead : float
            Sizes as in :meth:`sizes` (predictions are scaled the same way).
        """
        from ..laws.predictions import EmpiricalPairs

        law = self.sizes()
        xa, pa = law.atom_values, law.atom_probs
        key = str(predictor).strip().lower().replace("-", "_")
        if key == "perfect":
            X, Y, W = xa, xa, pa
        elif key in ("five_class", "binary"):
            if key == "five_class":
                M = FIVE_CLASS_CONFUSION / FIVE_CLASS_CONFUSION.sum(1, keepdims=True)
                levels = np.cumsum(FIVE_CLASS_PRIORS)[:-1]
            else:
                e1, e0 = _BINARY_ERRORS
                M = np.array([[1 - e0, e0], [e1, 1 - e1]])
                levels = np.array([0.5])
            edges = np.quantile(self.generated_tokens, levels, method="inverted_cdf")
            cls = np.searchsorted(edges, xa, side="left")  # x <= edge_k -> class k
            K = M.shape[0]
            pk = np.bincount(cls, weights=pa, minlength=K)
            mk = np.bincount(cls, weights=pa * xa, minlength=K)
            if np.any(pk <= 0):
                raise ValueError(f"trace {self.name!r} has an empty bucket for predictor="
                                 f"{predictor!r} (too few distinct output lengths)")
            yk = mk / pk
            X = np.repeat(xa, K)
            Y = np.tile(yk, xa.size)
            W = (pa[:, None] * M[cls, :]).ravel()
            keep = W > 0
            X, Y, W = X[keep], Y[keep], W[keep]
        else:
            raise ValueError(f"predictor must be 'five_class', 'binary' or 'perfect', got "
                             f"predictor={predictor!r}")
        from .._validation import nonnegative, positive

        k = positive("per_token", per_token)
        o = nonnegative("overhead", overhead)
        return EmpiricalPairs(o + k * X, o + k * Y, W)

    def model(self, load: float, predictor: str = "five_class", per_token: float = 1.0,
              servers: int = 1):
        r"""An :class:`qtheory.MG1` at ``load`` with this trace's sizes and predictions, or with
        ``servers = k > 1`` an :class:`qtheory.MGk` of ``k`` unit-speed servers at per-server
        load ``load`` (arrival rate :math:`k \rho / E[X]`). Poisson arrivals: check
        :meth:`interarrival_cv` first."""
        import numbers

        from ..models.mg1 import MG1
        from ..models.multiserver import MGk

        if isinstance(servers, bool) or not isinstance(servers, numbers.Integral) or servers < 1:
            raise ValueError(f"servers must be an integer >= 1, got servers={servers!r}")
        pairs = self.pairs(predictor, per_token)
        size = pairs.size_law()
        if not (0 < load < 1):
            raise ValueError(f"load must lie in (0, 1) (per server), got load={load!r}")
        if servers == 1:
            return MG1(load / size.mean, size, pairs)
        return MGk(int(servers), servers * load / size.mean, size, pairs)


# ---- parsing -------------------------------------------------------------------------------
def _parse_time(s: str) -> tuple[int, float]:
    """(whole seconds since the epoch, fraction) of 'YYYY-MM-DD HH:MM:SS[.fraction]' read as UTC
    (any number of fraction digits; kept apart so that differences keep 1e-7 s resolution)."""
    s = s.strip()
    head, _, frac = s.partition(".")
    if frac and not frac.isdigit():
        raise ValueError(s)
    dt = datetime.strptime(head, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    return int(dt.timestamp()), (float("0." + frac) if frac else 0.0)


def _parse(text_lines, source: str):
    reader = csv.reader(text_lines)
    try:
        header = next(reader)
    except StopIteration:
        raise ValueError(f"{source}: empty trace file") from None
    if [h.strip() for h in header] != _HEADER:
        raise ValueError(f"{source}, line 1: expected the header {','.join(_HEADER)}, got "
                         f"{','.join(header)!r}")
    ts, ctx, gen = [], [], []
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            raise ValueError(f"{source}, line {line}: empty line")
        if len(row) != 3:
            raise ValueError(f"{source}, line {line}: expected 3 fields, got {len(row)}: {row!r}")
        try:
            t = _parse_time(row[0])
        except ValueError:
            raise ValueError(f"{source}, line {line}: bad TIMESTAMP {row[0]!r}") from None
        try:
            c, g = int(row[1]), int(row[2])
        except ValueError:
            raise ValueError(f"{source}, line {line}: token counts must be integers, got "
                             f"{row[1]!r}, {row[2]!r}") from None
        if c < 0 or g < 1:
            raise ValueError(f"{source}, line {line}: need ContextTokens >= 0 and "
                             f"GeneratedTokens >= 1, got {c}, {g}")
        if ts and (t[0] - ts[-1][0]) + (t[1] - ts[-1][1]) < 0:
            raise ValueError(f"{source}, line {line}: TIMESTAMP goes back in time ({row[0]!r})")
        ts.append(t)
        ctx.append(c)
        gen.append(g)
    if len(ts) < 2:
        raise ValueError(f"{source}: a trace needs at least 2 requests, got {len(ts)}")
    whole = np.array([w for w, _ in ts], np.int64)
    frac = np.array([f for _, f in ts])
    t = (whole - whole[0]).astype(float) + (frac - frac[0])
    return t, np.asarray(ctx, np.int64), np.asarray(gen, np.int64)


def load_trace(path, name: str | None = None, citation: str = "") -> LLMTrace:
    """Read a trace CSV (optionally gzipped) with the columns TIMESTAMP, ContextTokens,
    GeneratedTokens. A malformed file raises ``ValueError`` naming the line."""
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", newline="") as fh:
        t, c, g = _parse(fh, str(p.name))
    return LLMTrace(name or p.name, t, c, g, citation)


_CACHE: dict[str, LLMTrace] = {}


def azure_llm_2023(service: str = "conv") -> LLMTrace:
    """The Azure LLM inference trace 2023 of the ``"code"`` or ``"conv"`` (conversation)
    service: 8,819 and 19,366 requests over about an hour (2023-11-16). CC-BY 4.0; cite
    :data:`AZURE_LLM_2023_CITATION`."""
    key = _ALIASES.get(str(service).strip().lower())
    if key is None:
        raise ValueError(f"service must be 'code' or 'conv', got service={service!r}")
    if key not in _CACHE:
        res = resources.files(__name__).joinpath(_FILES[key])
        with res.open("rb") as raw, gzip.open(raw, "rt", newline="") as fh:
            t, c, g = _parse(io.StringIO(fh.read()), _FILES[key])
        _CACHE[key] = LLMTrace(f"azure_llm_2023/{key}", t, c, g, AZURE_LLM_2023_CITATION)
    tr = _CACHE[key]
    return LLMTrace(tr.name, tr.arrival_times.copy(), tr.context_tokens.copy(),
                    tr.generated_tokens.copy(), tr.citation)
