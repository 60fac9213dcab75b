#!/bin/sh
# Debian base stand-in: packages installed in a container build never start
# their services (exit 101: action forbidden), as in Debian's official images.
exit 101
