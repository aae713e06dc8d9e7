"""What one analysis worker process may take, with the defaults `pixseek index` and `serve` offer.

Apart from workers.py so that the command line can name the defaults without importing the
analysers (a `pixseek search` process never loads them)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MEMORY_MB = 2048  # peaks measured (bench/containment.py): 12 MP photos ~410 MB, dense pages ~710
DEFAULT_IMAGE_SECONDS = 120.0  # a dense page with OCR takes 5-12 s here, a 12 MP photo ~0.5 s


@dataclass(frozen=True)
class WorkerLimits:
    """What one analysis worker process may take: memory_mb is the ceiling of its data segment
    (models included: ~260 MB of it), seconds the wall time per image. None: no limit."""

    memory_mb: int | None = DEFAULT_MEMORY_MB
    seconds: float | None = DEFAULT_IMAGE_SECONDS
