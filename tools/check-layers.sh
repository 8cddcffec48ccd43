#!/usr/bin/env bash
# Fails when an #include points up a layer (docs/ARCHITECTURE.md has the map). Each
# folder may include only its own files and those of the folders listed for it.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A may_include=(
  [engine]="engine"
  [streaming]="engine streaming"
  [fuse/volume]="engine fuse/volume"
  [fuse/fs]="engine streaming fuse/volume fuse/fs"
  [fuse/control]="engine streaming fuse/volume fuse/fs fuse/control"
  [fuse/kernel]="engine streaming fuse/volume fuse/fs fuse/control fuse/kernel"
  [tools]="engine streaming fuse/volume fuse/fs fuse/control fuse/kernel tools"
)

bad=0
for folder in "${!may_include[@]}"; do
  allowed=$(printf '%s/|' ${may_include[$folder]})
  # Files of this folder and its subfolders, except subfolders that have a rule of their own.
  while IFS= read -r line; do
    file=${line%%:*}
    owner=$(dirname "$file")
    while [ -z "${may_include[$owner]+x}" ] && [ "$owner" != . ]; do owner=$(dirname "$owner"); done
    [ "$owner" = "$folder" ] || continue
    echo "layer violation: $line (${folder}/ may include ${may_include[$folder]})" >&2
    bad=1
  done < <(grep -rnE '^#include "' "$folder" --include='*.h' --include='*.cc' |
           grep -vE "#include \"(${allowed%|})" || true)
done
[ "$bad" -eq 0 ] && echo "layers: no include points up a layer"
exit "$bad"
