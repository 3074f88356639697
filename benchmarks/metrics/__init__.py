"""One module per metric of issue 8. Each has ``measure(...) -> list[Figure]``; ``run.py``
calls them with the targets they need."""
