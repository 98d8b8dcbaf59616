"""Rule simulate_photometry: write the simulated catalogue, its truth and a reference sample."""

from ebteff.logs import finished, setup_logging, timed
from ebteff.sim.simulate import simulate_catalogue


def main(smk) -> None:
    logger = setup_logging(smk.log[0], inputs=smk.input, rule=smk.rule, resources=smk.resources)
    with timed(logger, f"simulating {smk.params.n_stars} stars"):
        stats = simulate_catalogue(
            smk.params.n_stars,
            smk.params.seed,
            smk.output.photometry,
            smk.output.truth,
            smk.output.reference,
            block_size=smk.params.block_size,
            reference_fraction=smk.params.reference_fraction,
            progress=True,
        )
    logger.info("simulated: %s", stats)
    finished(logger, smk.output)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
