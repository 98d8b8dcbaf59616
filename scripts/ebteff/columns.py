"""What each catalogue column is: unit, IVOA UCD and a full description, one place.

The FITS, VOTable and CSV files (:mod:`ebteff.writers`), the dataset card and the README's
column table take their descriptions from here; the flag texts come from :mod:`ebteff.flags`.
"""

from __future__ import annotations

from .flags import BITS_TEXT, FLAG_TEXT, _percent
from .novelty import LEVEL as NOVELTY_LEVEL
from .novelty import NEIGHBOURS

#: Columns renamed since the earlier pipeline's catalogue (README, FITS RENAMEn cards).
RENAMES: dict[str, str] = {}

VOTABLE_DESCRIPTION = (
    "Effective temperatures of Gaia DR3 eclipsing binaries: corrected GSP-Phot Teff where "
    "present, else the best of the workflow's random-forest models, with calibrated "
    "percentiles (5/16/50/84/95), quality flags and a flag bit mask."
)

#: Values of ``teff_best_err_source``: where the percentiles of ``teff_best`` come from.
PERCENTILE_SOURCES = {
    "model": "calibrated percentiles of the ML model that gave teff_best",
    "gspphot": "GSP-Phot teff_gspphot_lower/upper (16th/84th), corrected; 5th/95th extrapolated",
    "reference": "scatter of the corrected GSP-Phot Teff against the reference sample",
}


_PCT_TEXT = {
    "p05": "5th",
    "p16": "16th",
    "p50": "50th (median)",
    "p84": "84th",
    "p95": "95th",
}
#: name -> (unit, UCD, full description). Columns of each model are described by
#: :func:`column_doc`.
COLUMN_DOC = {
    "source_id": ("", "meta.id;meta.main", "Gaia DR3 source identifier"),
    "ra": ("deg", "pos.eq.ra;meta.main", "Right ascension (ICRS, Gaia DR3)"),
    "dec": ("deg", "pos.eq.dec;meta.main", "Declination (ICRS, Gaia DR3)"),
    "teff_gaia": ("K", "phys.temperature.effective", "Gaia DR3 GSP-Phot effective temperature"),
    "teff_gaia_corrected": (
        "K",
        "phys.temperature.effective",
        "GSP-Phot Teff with the hot-star correction applied (the label the models learn)",
    ),
    "teff_best": (
        "K",
        "phys.temperature.effective;meta.main",
        "Adopted Teff: the corrected GSP-Phot Teff when present (flag A), else the ML "
        "prediction of the model with the smallest calibrated uncertainty",
    ),
    "teff_best_err": (
        "K",
        "stat.error;phys.temperature.effective",
        "Symmetric 1-sigma uncertainty of teff_best: (teff_best_p84 - teff_best_p16) / 2; "
        "set for every star with a Teff",
    ),
    "teff_best_source": (
        "",
        "meta.code",
        "Origin of teff_best: gaia (corrected GSP-Phot), the name of the ML model, or empty",
    ),
    "teff_best_err_source": (
        "",
        "meta.code",
        "Origin of the percentiles of teff_best: model ("
        + PERCENTILE_SOURCES["model"]
        + "), gspphot ("
        + PERCENTILE_SOURCES["gspphot"]
        + "), reference ("
        + PERCENTILE_SOURCES["reference"]
        + "), or empty (no Teff)",
    ),
    "teff_ml_best": (
        "K",
        "phys.temperature.effective",
        "Best ML Teff for every star a model could predict (flag-A stars included): the "
        "prediction of the model with the smallest calibrated uncertainty",
    ),
    "teff_ml_best_err": (
        "K",
        "stat.error;phys.temperature.effective",
        "Symmetric 1-sigma uncertainty of teff_ml_best, recalibrated for the choice of the "
        "smallest: (p84 - p16) / 2; flags B/C/D are cut on it",
    ),
    "teff_ml_best_source": (
        "",
        "meta.code",
        "Model that gave teff_ml_best (empty when no model had the star's features)",
    ),
    "flag": ("", "meta.code.qual", FLAG_TEXT),
    "flag_bits": ("", "meta.code.qual", BITS_TEXT),
    "no_teff_reason": (
        "",
        "meta.note",
        "Why a star got no Teff (flag X): novel to every model that could predict it (each "
        "model's novelty score), or no model had its features (`snakemake stars`: the features "
        "each model lacked); empty otherwise",
    ),
}
for _p, _t in _PCT_TEXT.items():
    COLUMN_DOC[f"teff_best_{_p}"] = (
        "K",
        "phys.temperature.effective;stat.percentile",
        f"{_t} percentile of teff_best (calibrated; see teff_best_err_source)",
    )


def column_doc(name: str) -> tuple[str, str]:
    """(unit, full description) of a catalogue column."""
    unit, _, text = column_meta(name)
    return unit, text


def column_ucd(name: str) -> str:
    """IVOA UCD of a catalogue column (VOTable UCD, FITS TUCDn)."""
    return column_meta(name)[1]


def column_meta(name: str) -> tuple[str, str, str]:
    """(unit, UCD, description) of a catalogue column."""
    if name in COLUMN_DOC:
        return COLUMN_DOC[name]
    if name.startswith(("logg_", "mh_")):  # log g and [M/H] beside Teff
        from .parameter_catalog import parameter_column_meta

        return parameter_column_meta(name)
    model = name[5:]
    for p, t in _PCT_TEXT.items():
        if name.endswith(f"_{p}"):
            return (
                "K",
                "phys.temperature.effective;stat.percentile",
                f"{t} percentile of the Teff of model {model[: -len(p) - 1]} (calibrated on the "
                "calibration split, corrected GSP-Phot scale)",
            )
    if name.endswith("_novelty"):
        return (
            "",
            "stat.value;meta.code.qual",
            f"Novelty of the star to model {model[: -len('_novelty')]}: mean distance to its "
            f"{NEIGHBOURS} nearest reference training stars (standardised features) over the "
            f"{_percent(NOVELTY_LEVEL)}% quantile of that distance on the calibration split; "
            "> 1: novel, the model cannot give teff_best (docs/novelty.md); empty where the "
            "model gave no Teff",
        )
    if name.endswith("_err"):
        return (
            "K",
            "stat.error;phys.temperature.effective",
            f"Symmetric 1-sigma uncertainty of model {model[:-4]}: (p84 - p16) / 2 of its "
            "calibrated percentiles",
        )
    return (
        "K",
        "phys.temperature.effective",
        f"Teff predicted by model {model} (mean of its trees, corrected GSP-Phot scale)",
    )
