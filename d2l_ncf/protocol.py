"""The two ways of running the chapter: as printed, and corrected.

A protocol is data: each function that behaves differently reads the
field it needs, so there is one training loop, one evaluator and one
model, not a corrected copy of each.
"""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Protocol:
    name: str
    # Evaluator: rank items with id < num_users (the chapter's defect) or
    # every item; the Hit@k cut-off is fixed at 50 in the chapter.
    rank_all_items: bool
    fixed_k: bool
    # Training loop: the chapter adds the running loss total every batch
    # and never restarts its timer; corrected, the loss is the mean per
    # example and the timer covers training batches only.
    running_loss_sum: bool
    cumulative_timer: bool
    # Model: the chapter's sigmoid on the prediction layer, or logits.
    sigmoid_output: bool
    # Training step: the chapter's two calls of the network (positives,
    # then negatives) and loss outside the graph, or one compiled graph of
    # net and loss over both (losses.PairwiseObjective): faster, and
    # equal only to the last bits (a larger batch sums in another order).
    fused_step: bool = False


BOOK = Protocol('book', rank_all_items=False, fixed_k=True,
                running_loss_sum=True, cumulative_timer=True,
                sigmoid_output=True)
CORRECTED = Protocol('corrected', rank_all_items=True, fixed_k=False,
                     running_loss_sum=False, cumulative_timer=False,
                     sigmoid_output=False, fused_step=True)
PROTOCOLS = {p.name: p for p in (BOOK, CORRECTED)}


def get_protocol(protocol):
    """A `Protocol` from itself or its name."""
    if isinstance(protocol, Protocol):
        return protocol
    try:
        return PROTOCOLS[protocol]
    except KeyError:
        raise ValueError(f'unknown protocol {protocol!r}: expected one of '
                         f'{sorted(PROTOCOLS)}') from None
