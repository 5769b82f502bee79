#!/usr/bin/env bash
# Installs what the tests of Blitline's clients need (e2e/node_client_test.go,
# e2e/blitline_clients_test.go, http/listen_test.go):
#   - Node.js and npm (Debian packages nodejs, npm) when missing, then Blitline's
#     Node client from the committed lock file (npm ci in e2e/clients/node);
#   - the JSON parsers of the other clients' languages, which read /listen's
#     answer in http's TestListenBodyParsesInClientParsers: Ruby, PHP and Java's
#     Gson and json-simple (Debian packages ruby, php-cli, libgoogle-gson-java,
#     libjson-simple-java; Java itself is default-jre-headless).
# As root on Debian it installs what is missing with apt-get; otherwise it names
# the packages and fails, so no test silently skips.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v ruby >/dev/null 2>&1 || missing+=(ruby)
command -v php >/dev/null 2>&1 || missing+=(php-cli)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
[[ -e /usr/share/java/gson.jar ]] || missing+=(libgoogle-gson-java)
[[ -e /usr/share/java/json-simple.jar ]] || missing+=(libjson-simple-java)

if [[ ${#missing[@]} -gt 0 ]]; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		echo "install-clients: installing ${missing[*]} with apt-get" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	else
		echo "install-clients: missing Debian packages: ${missing[*]}" >&2
		echo "install-clients: install them with: sudo apt-get install ${missing[*]}" >&2
		exit 1
	fi
fi

# The Node client, exactly as locked; npm ci is quick when nothing changed.
if [[ ! -f e2e/clients/node/node_modules/simple_blitline_node/package.json ]]; then
	(cd e2e/clients/node && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
