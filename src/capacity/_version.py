"""The package's version, written once: pyproject reads it (``[tool.hatch.version]``) and
the modules that stamp outputs import it from here, not from the package root, which
would make every layer depend on the whole package."""

__version__ = "0.1.0"
