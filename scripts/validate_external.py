"""Rule validate_external: one validation table predicted with the run's models and compared with
its independent Teff (``ebteff.external.validate``); JSON, Markdown, the predicted rows and the
report's figure."""

from pathlib import Path

from ebteff.external import ValidationTable, estimators_of, markdown, validate
from ebteff.io import atomic_output, write_json, write_parquet
from ebteff.logs import finished, setup_logging, timed
from ebteff.plots.validation import validation_figure
from ebteff.stars import load_stored_models


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    inp, params = smk.input, smk.params
    spec = dict(params.spec)
    table = ValidationTable.from_config(spec.pop("name"), spec)
    # every model of the run is loaded as `snakemake stars` loads them (params.loaded, the order
    # of the inputs); the Teff models (params.models) are compared
    models = {
        m: {"model": inp.models[i], "metadata": inp.metadata[i], "calibration": inp.calibrations[i]}
        for i, m in enumerate(params.loaded)
    }
    with timed(logger, f"loading {len(models)} models"):
        stored = load_stored_models(
            models, inp.best_calibration, inp.correction, inp.label_calibration
        )
    with timed(logger, f"predicting and comparing {inp.table}"):
        result, rows = validate(
            table,
            stored,
            models=params.models,
            catalogue=inp.catalog,
            simulated=params.simulated,
            batch_rows=params.batch_rows,
            n_jobs=smk.threads,
        )
    predicted = result["predicted"]
    best = predicted["estimators"]["teff_best"]["overall"]
    logger.info(
        "%s: %d stars, %d with a reference Teff; teff_best for %d: median bias %s K, "
        "within 10%%: %s; catalogue rows compared: %s",
        table.name,
        predicted["stars"],
        predicted["with_reference"],
        best["n"],
        None if best["median_bias"] is None else round(best["median_bias"]),
        "n/a" if best["within_10pct"] is None else f"{100 * best['within_10pct']:.1f}%",
        "none" if result["catalogue"] is None else result["catalogue"]["stars"],
    )
    write_json(result, smk.output.json)
    with atomic_output(smk.output.markdown) as tmp:
        Path(tmp).write_text(markdown(result))
    write_parquet(rows, smk.output.rows)
    validation_figure(
        rows, result, estimators_of(params.models), smk.output.plot, simulated=params.simulated
    )
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
