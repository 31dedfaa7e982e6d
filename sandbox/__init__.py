"""The landing zone on one machine: `python -m sandbox`."""
