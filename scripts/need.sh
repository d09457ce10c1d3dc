# shellcheck shell=bash
# need COMMAND PACKAGE: installs the Debian PACKAGE when COMMAND is missing (apt-get update at
# most once per script). Not root: says which package to install and exits 1.
# Sourced by scripts/test.d/30-kotlin.sh and 40-interop.sh.
need_apt_updated=false
need() {
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "$(basename "$0" .sh): $1 not found; install the Debian package $2" >&2
    exit 1
  fi
  if [ "$need_apt_updated" = false ]; then apt-get update -qq; need_apt_updated=true; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
