"""Rule fit_correction: fit the hot-star correction on the reference sample."""

import polars as pl

from ebteff.correction import dump_legacy_pickle, fit_correction, save_correction_json
from ebteff.io import scan_photometry, sha256sum
from ebteff.logs import finished, setup_logging, timed
from ebteff.plots.teff import correction_figure


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    s = smk.params.settings
    reference = pl.read_parquet(smk.input.reference, columns=["source_id", "teff_ref"])
    table = (
        scan_photometry(smk.input.photometry)
        .select("source_id", "teff_gaia")
        .join(reference.lazy(), on="source_id", how="inner")
        .sort("source_id")
        .collect()
    )
    logger.info(
        "read %d reference stars, %d with GSP-Phot Teff",
        reference.height,
        table["teff_gaia"].is_not_null().sum(),
    )
    x = table["teff_gaia"].fill_null(float("nan")).to_numpy()
    y = table["teff_ref"].to_numpy()
    with timed(logger, "fitting the correction"):
        fit = fit_correction(
            x,
            y,
            floor=s["fit_floor"],
            degree=s["degree"],
            clip_sigma=s["clip_sigma"],
            threshold=s["threshold"],
            width=s["blend_width"],
        )
    summary = {
        "n_used": fit.n_used,
        "n_clipped": fit.n_clipped,
        "rms_k": fit.rms,
        "fit_range_k": list(fit.fit_range),
        "floor_k": s["fit_floor"],
        "clip_sigma": s["clip_sigma"],
        "monotonic_over_fit_range": fit.monotonic,
    }
    save_correction_json(
        fit.correction,
        smk.output.json,
        fit=summary,
        origin={
            "method": "fit",
            "reference": str(smk.input.reference),
            "reference_sha256": sha256sum(smk.input.reference),
        },
        inputs={
            "reference_sha256": sha256sum(smk.input.reference),
            "photometry_sha256": sha256sum(smk.input.photometry),
        },
    )
    dump_legacy_pickle(fit.correction, smk.output.pkl)
    correction_figure(x, y, fit.used, fit.correction, smk.output.plot, fit=summary)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
