#!/usr/bin/env bash
# Makes a machine ready for hnfnet: a Vulkan driver Dawn accepts, then the npm packages.
# Dawn (WebGPU for Node) needs Vulkan. With no GPU that is Mesa's lavapipe, version 24 or
# later: Debian bookworm ships 22, its bookworm-backports suite ships 25. With a real GPU,
# its own Vulkan driver does, and this script leaves it alone.
set -euo pipefail
cd "$(dirname "$0")/.."

mesa_too_old() {
  local v
  v=$(dpkg-query -W -f '${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -z "$v" ] && return 0
  [ "${v%%.*}" -lt 24 ] 2>/dev/null && return 0
  return 1
}

has_gpu_vulkan() {
  ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1
}

if command -v dpkg-query >/dev/null 2>&1 && ! has_gpu_vulkan && mesa_too_old; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "hnfnet needs Mesa's Vulkan driver (lavapipe) >= 24. As root run:" >&2
    echo "  apt-get install -t bookworm-backports mesa-vulkan-drivers   (Debian bookworm; add the backports suite first)" >&2
    exit 1
  fi
  echo "== installing Mesa's software Vulkan (lavapipe) from bookworm-backports"
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Same mirror and keyring as the machine's own Debian entry.
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    key=$(awk '/^Signed-By:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    cat > /etc/apt/sources.list.d/bookworm-backports.sources <<SRC
Types: deb
URIs: ${uri:-http://deb.debian.org/debian}
Suites: bookworm-backports
Components: main
Signed-By: ${key:-/usr/share/keyrings/debian-archive-keyring.gpg}
SRC
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -t bookworm-backports mesa-vulkan-drivers
fi

# The browser tests (test/browser) drive Debian's Chromium through playwright-core; no test
# tool ever downloads a browser. Without it they are skipped, saying why.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing Debian's chromium (headless WebGPU for the browser tests)"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium
  else
    echo "note: /usr/bin/chromium is missing, so the browser tests will be skipped; as root: apt-get install --no-install-recommends chromium" >&2
  fi
fi

# The PyTorch twin's equivalence test (test/twin) runs python/hnfnet_torch with Debian's
# CPU torch; without it that test is skipped, saying why.
if ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing Debian's python3-torch (the PyTorch twin's equivalence test)"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-torch
  else
    echo "note: python3-torch is missing, so the PyTorch twin test will be skipped; as root: apt-get install --no-install-recommends python3-torch" >&2
  fi
fi

echo "== node $(node --version), npm $(npm --version)"
npm ci --no-audit --no-fund
