"""Names of the file formats the workflow writes, one place for each: the writers, the readers
and the cards import them from here (a module without dependencies, so that checking a
downloaded forest's header needs no scikit-learn)."""

#: A random forest as a Parquet table of tree nodes (:mod:`ebteff.forest`).
FOREST_FORMAT = "ebteff-forest-v1"
#: How a model's ``metadata.json`` names the format of its ``model.parquet``.
FOREST_FORMAT_TEXT = f"{FOREST_FORMAT} (Parquet node table; ebteff.forest.load_forest)"
#: The manifest of a staged release (``results/<run>/publish/manifest.json``).
MANIFEST_FORMAT = "ebteff-publish-manifest-v1"
