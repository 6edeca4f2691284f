#!/usr/bin/env bash
# Make Fashion-MNIST available offline from Debian's dataset-fashion-mnist package.
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian package dataset-fashion-mnist ..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null
else
  echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist'" \
       "or set SUPERCONVERGE_DATA to a folder with the IDX files." >&2
  exit 1
fi
