#!/usr/bin/env bash
# Installs what acdd needs on Debian 12 and is not there yet: the C libraries it links (spandsp,
# libsndfile, ALSA, SQLite), pkg-config, the time-zone data business hours are read in (tzdata),
# the SIP peers the tests drive (SIPp, baresip), python3 for the SIP mutator (fuzz/), openssl
# for the certificates of the TLS tests and iproute2 for the network namespaces of the DNS tests.
# Safe to run again: it installs nothing when everything is present.
set -euo pipefail

packages=(
  libspandsp-dev libsndfile1-dev libasound2-dev libsqlite3-dev pkg-config tzdata
  sip-tester baresip python3 openssl iproute2
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "setup: swift is not on PATH; install Swift 6.3 (https://www.swift.org/install/linux/) and retry" >&2
  exit 1
fi
