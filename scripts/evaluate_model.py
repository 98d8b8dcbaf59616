"""Rule evaluate_model: test- and train-split metrics against the label and the truth, from the
model's predictions of the whole catalogue (the same numbers the catalogue carries)."""

import polars as pl

from ebteff.evaluate import full_metrics, markdown_table
from ebteff.features import ModelSpec
from ebteff.io import atomic_output, write_json
from ebteff.logs import finished, setup_logging


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    cfg = dict(smk.params.spec)
    spec = ModelSpec.from_config(cfg.pop("name"), cfg)
    raw = spec.raw_column
    par = spec.parameter
    table = pl.read_parquet(smk.input.table, columns=["source_id", "split", spec.target]).join(
        pl.read_parquet(smk.input.predictions, columns=["source_id", raw]),
        on="source_id",
        how="left",
    )
    if table[raw].null_count():
        raise ValueError(
            f"{table[raw].null_count()} stars of the feature table have no prediction in "
            f"{smk.input.predictions}; rebuild the predictions"
        )
    truth_col = par.truth if "truth" in smk.input.keys() else None
    if truth_col is not None:
        truth = pl.read_parquet(smk.input.truth, columns=["source_id", truth_col])
        table = table.join(truth, on="source_id", how="left")
    result = {"model": spec.name, "label": spec.target, "unit": par.unit, "splits": {}}
    rows = {}
    for split in ("test", "train"):
        part = table.filter(pl.col("split") == split)
        teff = part[raw].to_numpy()
        entry = {"vs_label": full_metrics(part[spec.target].to_numpy(), teff, par)}
        rows[f"{split} vs label"] = entry["vs_label"]["overall"]
        if truth_col is not None:
            entry["vs_truth"] = full_metrics(part[truth_col].to_numpy(), teff, par)
            rows[f"{split} vs truth"] = entry["vs_truth"]["overall"]
        result["splits"][split] = entry
    test = result["splits"]["test"]["vs_label"]["overall"]
    if par.scale == "ln":
        logger.info(
            "%s test: MAE %.0f K, RMSE %.0f K, R2 %.3f, within 10%% %.1f%%",
            spec.name,
            test["mae"],
            test["rmse"],
            test["r2"],
            100 * test["within_10pct"],
        )
    else:
        logger.info(
            "%s test: MAE %.3f %s, RMSE %.3f %s, bias %+.3f %s, R2 %s",
            spec.name,
            test["mae"],
            par.unit,
            test["rmse"],
            par.unit,
            test["bias"],
            par.unit,
            "n/a" if test["r2"] is None else f"{test['r2']:.3f}",
        )
    write_json(result, smk.output.metrics)
    md = markdown_table(rows, f"{spec.name} (label: {spec.target})", par)
    bins = result["splits"]["test"]["vs_label"]["per_bin"]
    md += "\n" + markdown_table(
        bins, f"{spec.name}: test split per {par.name} bin of the label", par
    )
    with atomic_output(smk.output.markdown) as tmp:
        tmp.write_text(md)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
