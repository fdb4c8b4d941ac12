"""Many solves of one case: ``scenarios`` (a YAML file of overrides and sweeps), ``batch``
(solve them on Dask into one results store), ``compare`` (each against a base),
``allocate`` (cost shares of a consortium), ``pareto`` (cost against a policy objective),
``stochastic`` (two-stage plans over clinical success), ``bench`` (timed tiers)."""
