"""``python -m engagement_tracker.adapters.cli``: the same as ``etrack``."""

from engagement_tracker.adapters.cli import main

if __name__ == "__main__":
    main()
