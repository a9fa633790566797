"""Pairwise scoring: calibration anchors (``calibration``), geometric verification
(``verify``), the scorer (``scorer``), the decision scale (``decision``) and the listing
gate's rule (``gate``). It sits between the descriptors (:mod:`lookalike.embed`) and the
index (:mod:`lookalike.index`), and knows nothing of where descriptors are stored."""
