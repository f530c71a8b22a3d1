"""The pairwise ranking losses of the previous section (d2l 16.5).

d2l 1.0.3 ships them verbatim; we re-export them so the chapter's
``d2l.BPRLoss()`` reads ``d2l_ncf.BPRLoss()``.
"""
from d2l import mxnet as d2l

BPRLoss = d2l.BPRLoss
HingeLossbRec = d2l.HingeLossbRec
