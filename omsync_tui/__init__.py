"""omsync: copy OpenMLDB online tables to offline storage, exactly once, and watch it from a terminal."""

__version__ = "0.1.0"
