#!/usr/bin/env bash
# Installs the headless browser the dashboard's browser test drives: Debian's
# chromium package. As root on Debian it installs it with apt-get when missing;
# otherwise it names the package and fails, so the test never silently skips.
# It prints the browser's path on stdout.
set -euo pipefail

find_browser() {
	for b in "${VIDJOB_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
		if [[ -n "$b" && -x "$b" ]]; then
			echo "$b"
			return 0
		fi
	done
	return 1
}

if find_browser; then
	exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
	echo "install-browser: installing chromium with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	# fonts-liberation gives the page real glyphs in screenshots.
	apt-get install -y -qq --no-install-recommends chromium fonts-liberation >&2
	find_browser
	exit 0
fi
echo "install-browser: the Debian package chromium is missing; install it with: sudo apt-get install chromium" >&2
exit 1
