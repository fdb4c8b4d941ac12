"""The output stage: a solution → the `Plan`'s tidy tables (``extract``), the `Plan` itself
with its save and read-back (``plan``), and the independent check of a saved plan against
the raw case that shares no model code (``check``)."""
