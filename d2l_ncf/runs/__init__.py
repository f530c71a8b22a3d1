"""A run, over the section: its settings (`config`, `rules`, `checks`),
the parts built from them (`builders`), the run itself (`run`), what it
leaves (`records`, `checkpoint`) and what is done with runs afterwards
(`recommending`, `compare`, `exercises`, `plotting`)."""
