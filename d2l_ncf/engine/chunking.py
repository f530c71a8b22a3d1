"""How scoring cuts its work: pairs per forward call, pairs per chunk of
the evaluator, batches in flight. Plain numbers, so that the settings
(`runs.config`) take their defaults from here without MXNet.
"""

# Pairs scored per forward call. A batch's shape could change the last
# bits of its scores (kernels that block by rows; in portable numerics,
# measured, they do not), so every scorer here cuts a stream of pairs into
# batches at the same offsets, however it is chunked.
SCORE_BATCH = 1 << 17
# Pairs (users x items) scored and ranked at once by the evaluator: about
# 16 MB of float32 scores, so memory stays bounded on any catalogue.
EVAL_CHUNK = 1 << 22
# Batches in flight per device: while the devices compute, the next
# batch's pairs are made and copied.
IN_FLIGHT = 2


def rows_per_chunk(width, chunk_size=EVAL_CHUNK):
    """Rows of `width` pairs in a chunk of at most `chunk_size` pairs (at
    least one row)."""
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, not {chunk_size}')
    return max(1, chunk_size // max(width, 1))
