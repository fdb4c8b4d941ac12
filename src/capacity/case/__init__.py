"""The input stage: case files → validated tables → a `Case`.

``io`` reads the files (CSV, Parquet, Excel) as raw text cells with where each came from;
``validate`` parses and checks them against ``schema`` (the tables and columns, as data),
all problems at once; ``load`` makes the frozen `Case`. ``default`` finds the shipped
cases, ``generate`` makes seeded benchmark cases, ``importers`` turn external formats
(OR-Library) into ordinary cases. Nothing past this stage reads a case file.
"""

from capacity.case.load import Case, load_case

__all__ = ["Case", "load_case"]
