"""Live views of streaming devices: the terminal view (a browser dashboard will join it)."""
