"""A run, over the section: its settings (`config`), the parts built from
them (`builders`), the run itself (`run`), what it leaves (`records`,
`checkpoint`), sweeps of runs (`sweep`: `exercises`, `ablation`) and what
is done with runs afterwards (`recommending`, `compare`, `plotting`)."""
