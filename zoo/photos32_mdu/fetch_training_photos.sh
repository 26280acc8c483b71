#!/usr/bin/env bash
# Fetches the training photographs of photos32_mdu into a folder, from Debian packages.
#
#   bash zoo/photos32_mdu/fetch_training_photos.sh DEST
#
# Reads training_photos.tsv (next to this script): for every Debian package it names,
# `apt-get download PACKAGE=VERSION` (a .deb from the configured mirror; no root needed, nothing
# is installed), `dpkg-deb -x` into a temporary folder, then copies each listed file to
# DEST/<file> and checks its SHA-256. Prints the files with their authors and licences. Needs
# apt-get and dpkg-deb (Debian or Ubuntu). An existing DEST is reused: files already there with
# the right checksum are kept. Train on the result with the dataset spec `crops:DEST@32`
# (spn_keras.data.crops_source; its validation split holds about 10% of the photos).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DEST" >&2
  exit 2
fi
dest=$1
list="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/training_photos.tsv"
for tool in apt-get dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required (Debian/Ubuntu)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"

packages=$(grep -v '^#' "$list" | cut -f3 | sort -u)
for package in $packages; do
  (cd "$work" && apt-get download -q "$package" >/dev/null)
done
for deb in "$work"/*.deb; do
  dpkg-deb -x "$deb" "$work/root"
done

status=0
while IFS=$'\t' read -r file sha256 package path author licence; do
  [[ $file == \#* ]] && continue
  if [[ ! -f "$dest/$file" ]] || ! echo "$sha256  $dest/$file" | sha256sum -c --status; then
    cp "$work/root$path" "$dest/$file.partial"
    mv "$dest/$file.partial" "$dest/$file"
  fi
  if echo "$sha256  $dest/$file" | sha256sum -c --status; then
    printf '%-42s %-18s %s (%s)\n' "$file" "$licence" "$author" "${package%%=*}"
  else
    echo "error: $dest/$file does not have the listed SHA-256 ($package changed?)" >&2
    status=1
  fi
done < "$list"
exit $status
