"""The tracking server's part of the landing zone (installed in the image and the sandbox)."""
