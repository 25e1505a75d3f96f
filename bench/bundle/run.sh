#!/usr/bin/env bash
# hnfnet's portable bench, made by 'npm run bench:bundle'. Needs no npm and no network.
#   ./run.sh [--quick] [--filter TEXT] [--reps N]          (README.txt)
# Environment: HNFNET_NODE (a node >= 20), HNFNET_PYTHON (a Python with torch),
#   HNFNET_TORCH_DEVICE (cpu, cuda or none; default: cuda where torch sees one, else cpu, else none),
#   HNFNET_BENCH_OUT (results folder, default ./results), HNFNET_DAWN_TOGGLES (Dawn toggles),
#   HNFNET_VULKAN_LOADER (auto, bundle or system: whose libvulkan.so.1; auto takes the machine's if any).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${HNFNET_BENCH_OUT:-$here/results}"

# unxz_to FILE.xz DEST: with xz, else with Python's lzma.
unxz_to() {
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$1" >"$2.part"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2.part"
  else
    echo "run.sh: need xz or python3 to unpack $1" >&2
    exit 1
  fi
  mv "$2.part" "$2"
}

node_ok() { "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' >/dev/null 2>&1; }

# 1. node: $HNFNET_NODE, ./node, the machine's (>= 20), ./node.xz, a nodejs.org tarball here.
node=""
tarball="$(ls "$here"/node-v*-linux-x64.tar.* 2>/dev/null | head -n 1 || true)"
if [ -n "${HNFNET_NODE:-}" ]; then
  node="$HNFNET_NODE"
elif [ -x "$here/node" ]; then
  node="$here/node"
elif command -v node >/dev/null 2>&1 && node_ok "$(command -v node)"; then
  node="$(command -v node)"
elif [ -f "$here/node.xz" ]; then
  unxz_to "$here/node.xz" "$here/node"
  chmod +x "$here/node"
  node="$here/node"
elif [ -n "$tarball" ]; then
  tar -xaf "$tarball" -O --wildcards '*/bin/node' >"$here/node.part"
  mv "$here/node.part" "$here/node"
  chmod +x "$here/node"
  node="$here/node"
else
  echo "run.sh: no node >= 20 here: put a Linux x64 node binary beside run.sh as 'node' or 'node.xz'" >&2
  echo "        (xz -9 <\"\$(command -v node)\" >node.xz on a machine that has one), or a nodejs.org tarball" >&2
  echo "        (node-v20.*-linux-x64.tar.xz), or set HNFNET_NODE" >&2
  exit 1
fi
node_ok "$node" || { echo "run.sh: $node does not run as node >= 20" >&2; exit 1; }

# 2. Dawn's binding, kept compressed in the bundle.
dawn="$here/dist/linux-x64/dawn.node"
[ -f "$dawn" ] || unxz_to "$dawn.xz" "$dawn"

# 3. Vulkan: the machine's loader, else the bundle's lib/ (with libglvnd's dispatcher, which
#    NVIDIA's driver links to); NVIDIA's driver named where it has an ICD file, so that a software
#    driver installed beside it is not picked.
loader="${HNFNET_VULKAN_LOADER:-auto}"
case "$loader" in
  auto | bundle | system) ;;
  *) echo "run.sh: HNFNET_VULKAN_LOADER must be auto, bundle or system, not '$loader'" >&2; exit 1 ;;
esac
# (grep reads all of ldconfig's output: with -q it could stop early, and pipefail would then
# count ldconfig's broken pipe as "no loader".)
if [ "$loader" = auto ] && ! { ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1' >/dev/null; }; then
  echo "run.sh: no Vulkan loader on this machine; using the bundle's (lib/)" >&2
  loader=bundle
fi
[ "$loader" = auto ] && loader=system
if [ "$loader" = bundle ]; then
  export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if [ -d /usr/local/nvidia/lib64 ]; then
  export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/usr/local/nvidia/lib64"
fi
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  for icd in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then
      export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"
      break
    fi
  done
fi

# 4. The PyTorch peers: CUDA where torch sees it.
py="${HNFNET_PYTHON:-}"
if [ -z "$py" ]; then
  for c in python3 /usr/bin/python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import torch' >/dev/null 2>&1; then
      py="$(command -v "$c")"
      break
    fi
  done
fi
torch_device="${HNFNET_TORCH_DEVICE:-}"
if [ -z "$torch_device" ]; then
  if [ -z "$py" ]; then
    torch_device=none
  elif "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
    torch_device=cuda
  else
    torch_device=cpu
  fi
fi
if [ -n "$py" ]; then export HNFNET_PYTHON="$py"; fi

echo "run.sh: node $("$node" --version) ($node); Vulkan loader: $loader's; PyTorch peers: $torch_device${py:+ ($py)}; results: $out" >&2
cd "$here"
exec "$node" "$here/bench.mjs" --out "$out" --torch-device "$torch_device" "$@"
