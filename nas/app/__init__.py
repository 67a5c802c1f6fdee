"""The application floor: the search driver, run directory, export, training, benchmarks and CLI.

Modules here may import everything below them (:mod:`nas`'s core modules, ``search_spaces``,
``strategies``, ``evaluators``); nothing below imports them (``tests/test_layering.py``).
"""
