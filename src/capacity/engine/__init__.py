"""The solve stage: a built model → HiGHS → an outcome that `capacity.results` turns into
a `Plan`.

``solve`` is the entry: `solve` builds the model, `optimise` runs HiGHS once (a `Run`,
``run``) on a plan of steps decided before anything runs (``strategy``), and the
outcome becomes a `Plan`. ``options`` holds `SolveOptions`; ``highs`` is the layer over
highspy (the engine's matrices passed in one call, fixed-integer completions, the one
mapping of HiGHS's status); ``incumbent`` names a plan in hand; ``start`` is the
constructive start; ``large`` conducts the large-model path: PDLP's relaxation bound
(``lp_bound``), a dive (``dive``), the neighbourhood search (``search``) and the
Lagrangian bound (``lagrangian``); ``companion`` runs the LP and a dive beside branch and
bound; ``external`` hands the same model and start to SCIP (``scip``) or Gurobi
(``gurobi``) behind one interface (``backend``); ``resolver`` re-uses a model across
solves; ``explain`` finds why a case is infeasible (through ``persistent``, Pyomo's
persistent interface); ``interrupt`` handles Ctrl-C.
"""
