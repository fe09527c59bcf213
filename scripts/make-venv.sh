#!/bin/sh
# Create the virtualenv. Debian/Ubuntu ship python3 without the venv module
# (package python3-venv); install it when we are root, else say how.
set -eu
PYTHON="$1"
VENV="$2"
if [ -x "$VENV/bin/python" ]; then
    exit 0
fi
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    ver=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "make: installing python$ver-venv (this Python lacks the venv module)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$ver-venv" >/dev/null \
            || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
        echo "make: $PYTHON has no venv module; run: sudo apt-get install python3-venv" >&2
        exit 1
    fi
fi
"$PYTHON" -m venv "$VENV"
