"""Data files shipped with the package (the most used messaging app per country)."""
