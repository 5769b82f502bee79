#!/usr/bin/env bash
# Makes sure the programs vidjob runs are installed: ffmpeg and ffprobe (Debian
# package ffmpeg) and exiftool (Debian package libimage-exiftool-perl). As root on
# Debian it installs what is missing with apt-get; otherwise it names the packages
# and fails, so nothing half-works later.
set -euo pipefail

missing_pkgs=()
command -v ffmpeg >/dev/null 2>&1 || missing_pkgs+=(ffmpeg)
command -v ffprobe >/dev/null 2>&1 || missing_pkgs+=(ffmpeg)
command -v exiftool >/dev/null 2>&1 || missing_pkgs+=(libimage-exiftool-perl)

if ! command -v go >/dev/null 2>&1 && [[ ! -x /usr/local/go/bin/go ]]; then
	echo "install-deps: Go 1.26 or newer is required (https://go.dev/doc/install); it is not on PATH." >&2
	exit 1
fi

if [[ ${#missing_pkgs[@]} -eq 0 ]]; then
	exit 0
fi
# De-duplicate (ffmpeg brings both ffmpeg and ffprobe).
mapfile -t missing_pkgs < <(printf '%s\n' "${missing_pkgs[@]}" | sort -u)

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: installing ${missing_pkgs[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
	exit 0
fi

echo "install-deps: missing Debian packages: ${missing_pkgs[*]}" >&2
echo "install-deps: install them with: sudo apt-get install ${missing_pkgs[*]}" >&2
exit 1
