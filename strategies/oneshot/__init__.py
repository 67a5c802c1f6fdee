"""One-shot (weight-sharing) search: the method contract (:mod:`strategies.oneshot.base`), the
methods (:mod:`strategies.oneshot.darts`), and the generic strategy and trial runner that run
any of them (:mod:`strategies.oneshot.strategy`)."""
