"""The native compliance API (/api/v1): subject rights (`subject.py`) and the console's
operations for auditors and compliance officers (`console.py`)."""
