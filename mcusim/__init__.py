"""mcusim: a cycle-approximate Cortex-M simulator for TinyML firmware."""

__version__ = "0.1.0"
