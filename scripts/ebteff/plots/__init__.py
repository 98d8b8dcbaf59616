"""Figures of the report (``snakemake --report``) and beside the results; matplotlib, no display.

Every figure is drawn from what the workflow already wrote (the catalogue, the feature tables
and predictions, the metrics, calibration and summary JSON files): nothing is refitted or
re-evaluated here. Big tables are reduced first, in Polars, to counts or medians per cell of a
grid (:func:`grid_aggregate`), so a figure of 2 million stars costs about as much as one of 20
thousand. Colour maps are perceptually uniform and monotonic in lightness (viridis, cividis),
so the figures read in greyscale; lines differ by style and marker as well as by colour.

Modules: :mod:`.base` (style, saving with the count of what each panel shows, axes, reductions
of big tables), :mod:`.teff` (the correction, Teff distributions, accuracy), :mod:`.calibration`
(coverage, percentiles, PIT) and :mod:`.catalogue` (importances, flags, CMD, sky maps).
"""
