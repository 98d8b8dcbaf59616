"""Publishing a run on the Hugging Face Hub, one module per concern.

- :mod:`.run`: what a run produced (:func:`~.run.load_run`) and where a release goes
  (:class:`~.run.Release`);
- :mod:`.cards`: the dataset and model cards and the two text files beside the data, rendered
  from the Jinja2 templates in ``templates/`` (the cards' front matter, a ``model-index`` with the
  test metrics included, is ``huggingface_hub``'s card data);
- :mod:`.stage`: one folder per Hub repository and the manifest (:func:`~.stage.stage`);
- :mod:`.upload`: one commit per repository, or a dry run (:func:`~.upload.upload`).

Every number in a card, a summary or a description is read from a file the workflow wrote (the
photometry and catalogue summaries, each model's metrics, calibration and metadata, the
correction, the FITS header): nothing is typed in by hand, so a card cannot drift from the run
it describes. Using models that another run published (pins, downloads) is
:mod:`ebteff.published`, apart from all of this.
"""
