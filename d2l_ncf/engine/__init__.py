"""The speed paths under the section: vectorised negative sampling,
batched scoring, row-sparse gradients, weight averaging, the optimizer
tables and the multi-process cluster. The section's modules call these;
these call nothing of the section."""
