"""Day-ahead spot prices: one module per source behind one interface (:mod:`.base`), the registry
of sources (:mod:`.sources`), and the run's one :class:`~.book.PriceBook`. Facts: docs/prices.md."""
