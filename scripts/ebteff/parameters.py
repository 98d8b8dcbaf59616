"""The stellar parameters a model can learn, and everything that depends on which one it is.

A model's ``target`` is a labelled column of the photometry; its parameter says the unit, the
scale its errors live on, the range of labels a model may learn from, the IVOA UCD, the bins
of the calibration and of the per-bin tables, and the sigma thresholds of the quality flags.
Every module asks here instead of assuming Teff:

- Teff (``teff_gaia``, ``teff_gaia_corrected``, K): errors are multiplicative (the log models
  learn log Teff), so percentiles are built in ln Teff (``scale`` "ln").
- log g (``logg_gaia``, dex) and [M/H] (``mh_gaia``, dex): already logarithmic quantities whose
  errors are additive in dex; their percentiles are built in dex (``scale`` "linear":
  prediction + z_q * sigma), and a negative [M/H] is an ordinary value, not an error.

The label ranges are those of GSP-Phot's grids: Teff 2,500-50,000 K as the earlier pipeline
filtered; log g -0.5 ... 5.5 dex and [M/H] -4 ... +1 dex (Andrae et al. 2023, A&A 674, A27,
Table 1 and Sect. 2: the MARCS/PHOENIX/OB/A libraries' ranges; GSP-Phot's log g ends at 5.5).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Parameter:
    """One stellar parameter: what its numbers mean and how they are calibrated and flagged."""

    key: str  # prefix of its catalogue columns: teff_best, logg_best, mh_best
    name: str  # for text: "Teff", "log g", "[M/H]"
    labels: tuple[str, ...]  # photometry columns a model of it may learn
    unit: str  # FITS/VOTable unit
    unit_suffix: str  # of the keys that carry a value in that unit: width_68_median_<suffix>
    scale: str  # calibration space: "ln" (multiplicative errors) or "linear" (additive)
    valid: tuple[float, float]  # labels a model learns from: lo <= label <= hi
    ucd: str
    calibration_edges: tuple  # bins of the *prediction*; None: open upper end
    report_edges: tuple  # bins of every per-bin table
    flag_b_max: float  # calibrated sigma below which an ML value is flag B ...
    flag_c_max: float  # ... and below which it is flag C (in ``unit``)
    truth: str | None  # column of the simulated truth table, or None
    decimals: int  # for the Markdown tables: 0 for K, 3 for dex

    def bin_labels(self, edges=None) -> list[str]:
        edges = self.report_edges if edges is None else edges
        return [f"{_fmt(lo)}-{_fmt(hi)}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def _fmt(x) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"


TEFF = Parameter(
    key="teff",
    name="Teff",
    labels=("teff_gaia", "teff_gaia_corrected"),
    unit="K",
    unit_suffix="k",
    scale="ln",
    valid=(2_500.0, 50_000.0),
    ucd="phys.temperature.effective",
    calibration_edges=(0, 4000, 4500, 5000, 5500, 6000, 7000, 8000, 10000, 15000, 25000, None),
    report_edges=(0.0, 4000.0, 5000.0, 6000.0, 8000.0, 50000.0),
    flag_b_max=300.0,
    flag_c_max=500.0,
    truth="teff_blend",
    decimals=0,
)
#: log g bins: the giants (< 3.5), the subgiants and the main sequence, split finely where most
#: eclipsing binaries lie (4.0-4.5 dex); flag thresholds near the earlier pipeline's test MAE
#: (0.132 dex) and twice it.
LOGG = Parameter(
    key="logg",
    name="log g",
    labels=("logg_gaia",),
    unit="dex",
    unit_suffix="dex",
    scale="linear",
    valid=(-0.5, 5.5),
    ucd="phys.gravity",
    calibration_edges=(-0.5, 2.5, 3.0, 3.5, 3.8, 4.0, 4.2, 4.4, None),
    report_edges=(-0.5, 3.0, 3.5, 4.0, 4.5, 5.5),
    flag_b_max=0.15,
    flag_c_max=0.3,
    truth="logg_blend",  # the simulated truth: the log g of the blend's light
    decimals=3,
)
#: [M/H] bins: metal-poor (< -1), the thick disc (-1 ... -0.5) and the thin disc finely;
#: flag thresholds at GSP-Phot's own typical [M/H] error (~0.2 dex) and twice it.
MH = Parameter(
    key="mh",
    name="[M/H]",
    labels=("mh_gaia",),
    unit="dex",
    unit_suffix="dex",
    scale="linear",
    valid=(-4.0, 1.0),
    ucd="phys.abund.Z",
    calibration_edges=(-4.0, -1.0, -0.5, -0.25, 0.0, 0.25, None),
    report_edges=(-4.0, -1.0, -0.5, 0.0, 1.0),
    flag_b_max=0.2,
    flag_c_max=0.4,
    truth="mh",  # the simulated truth: the binary's [M/H]
    decimals=3,
)

PARAMETERS: dict[str, Parameter] = {p.key: p for p in (TEFF, LOGG, MH)}
#: Every label a model may learn, in order.
TARGETS: tuple[str, ...] = tuple(t for p in PARAMETERS.values() for t in p.labels)


def parameter_of(target: str) -> Parameter:
    """The parameter a label column measures; ValueError for any other column."""
    for p in PARAMETERS.values():
        if target in p.labels:
            return p
    raise ValueError(f"{target!r} is not a label a model can learn; one of {', '.join(TARGETS)}")


def parameter_named(key: str | None) -> Parameter:
    """The parameter of a stored calibration's ``parameter`` key (None: Teff, as every
    calibration written before the key existed)."""
    if key is None:
        return TEFF
    if key not in PARAMETERS:
        raise ValueError(f"unknown parameter {key!r}; one of {', '.join(PARAMETERS)}")
    return PARAMETERS[key]
