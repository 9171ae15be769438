# Shared by scripts/*: where the project environment lives and how it is keyed.
# Sourced, not executed.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${DELL_FAN_CONTROL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dell-fan-control}"
REQUIREMENTS_FILE="$REPO_ROOT/requirements_test.txt"

# Debian packages the test suite and scripts/develop need inside the environment.
# g++ builds pymicro-vad and pyspeex-noise (sdists only; HA's assist_pipeline needs them) and
# libturbojpeg0 is what PyTurboJPEG loads: a real `hass` sets up every default integration.
DEBIAN_PACKAGES=(python3.14 python3.14-venv python3.14-dev ca-certificates mosquitto mosquitto-clients
  ipmitool openssl gcc g++ libc6-dev libturbojpeg0 chromium fonts-dejavu-core procps)
DEBIAN_SUITE="forky"

_hash() { sha256sum | cut -c1-16; }
ROOTFS_KEY="$(printf '%s\n' "$DEBIAN_SUITE" "${DEBIAN_PACKAGES[@]}" | _hash)"
VENV_KEY="$(cat "$REQUIREMENTS_FILE" | _hash)"

# A python3.14 >= 3.14.2 on PATH means no root filesystem is needed.
host_python314() {
  local py
  py="$(command -v python3.14 || true)"
  [ -n "$py" ] || return 1
  "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 14, 2) else 1)' 2>/dev/null || return 1
  echo "$py"
}

if host_python314 >/dev/null; then
  ENV_MODE="host"
  VENV_DIR="$CACHE_ROOT/venv-$VENV_KEY"
  ROOTFS_DIR=""
else
  ENV_MODE="rootfs"
  ROOTFS_DIR="$CACHE_ROOT/rootfs-$ROOTFS_KEY"
  VENV_DIR="/opt/venv-$VENV_KEY"   # path inside the root filesystem
fi
