"""Helpers the tests share (``tests/`` is on ``sys.path``, so ``from helpers.x import ...``)."""
