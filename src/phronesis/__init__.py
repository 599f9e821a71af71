"""phronesis: Constitutional-AI and RLAIF experiments with honest evaluation.

Importing this package is cheap: torch, transformers and TRL load only inside
the backends and stages that need them.
"""
from .core.errors import UserError

__version__ = "0.1.0"
__all__ = ["UserError", "__version__"]
