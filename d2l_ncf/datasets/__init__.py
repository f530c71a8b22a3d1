"""Where interactions come from: MovieLens's files and downloads, the
readers of each table format, and the indexing and splitting of the
interactions into users and items. Below the section's `data`."""
