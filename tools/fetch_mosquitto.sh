#!/usr/bin/env bash
# Unpacks Debian's Mosquitto broker (and the libraries it needs that a minimal Debian lacks)
# into DEST (default .venv/mosquitto): no root needed to run it, no service started, nothing
# installed system-wide. The tests and `fevergate simulate --gates` start it from there.
# Needs apt's package lists; as root it refreshes them once if the download fails.
set -euo pipefail
dest="${1:-.venv/mosquitto}"
packages="mosquitto libmosquitto1 libcjson1 libdlt2 libwrap0"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download $packages >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq >/dev/null
        apt-get download $packages >/dev/null
    else
        echo "fetch_mosquitto: apt-get download failed; run 'apt-get update' as root, or set" \
            "FEVERGATE_MOSQUITTO to a mosquitto binary" >&2
        exit 1
    fi
fi
cd - >/dev/null
mkdir -p "$dest"
for deb in "$work"/*.deb; do
    dpkg -x "$deb" "$dest"
done
test -x "$dest/usr/sbin/mosquitto"
echo "mosquitto: unpacked $(ls "$work" | tr '\n' ' ')into $dest"
