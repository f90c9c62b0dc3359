#!/usr/bin/env bash
# Checks the Docker demo (examples/docker-compose.yaml) as far as it can be
# checked without a Docker engine:
#
#   1. `run.sh --render-compose` writes the sidecar configs and certificates;
#   2. the compose file is valid (docker-compose config) and every host path
#      a service mounts exists (Docker would mount an empty directory instead);
#   3. every file a sidecar's Envoy reads from a mount (its config, keys,
#      certificates, .wasm modules) is readable by the official Envoy image's
#      user: its entrypoint drops to `envoy`, uid 101 and gid 101, and a bind
#      mount keeps the host's owners and modes. Each file and every directory
#      from the mount's source down must let uid 101 / gid 101 in;
#   4. every sidecar config passes `envoy --mode validate` (which also reads
#      the keys and loads each module with its configuration), run as uid 101
#      and gid 101.
#
# Steps 3 and 4 run on a copy of the files the sidecar reads, at their
# container paths under a temporary root and with the modes and owners of
# the originals, so that only the directories the container sees count,
# not the host directories above each mount's source. As root they use the
# kernel's own checks (setpriv to uid 101); otherwise step 3 reads the mode
# bits (ACLs aside) and step 4 runs Envoy as the current user.
#
#   examples/mesh/check-compose.sh     # or: make compose-validate
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
envoy=${ENVOY:-$root/.venv/bin/envoy}
compose_file=$root/examples/docker-compose.yaml
envoy_uid=101 envoy_gid=101
as_envoy=(setpriv --reuid=$envoy_uid --regid=$envoy_gid --clear-groups)
is_root=false
[[ $(id -u) == 0 ]] && is_root=true
failed=0
problem() {
  echo "FAIL: $*" >&2
  failed=1
}

"$root/examples/mesh/run.sh" --render-compose >/dev/null

# The effective compose configuration: relative paths resolved, anchors and
# merge keys applied.
effective=$(docker-compose -f "$compose_file" config)

# One line per mount (mount SERVICE SOURCE TARGET) and per Envoy sidecar
# (envoy SERVICE CONFIG); PyYAML comes with Debian's docker-compose.
python=
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c 'import yaml' 2>/dev/null; then python=$candidate && break; fi
done
[[ -n $python ]] || { echo "check-compose: no python3 with PyYAML (apt-get install python3-yaml)" >&2; exit 1; }
listing=$("$python" -c '
import sys, yaml
for name, service in sorted(yaml.safe_load(sys.stdin)["services"].items()):
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        print("mount", name, source, target, sep="\t")
    command = service.get("command") or []
    if command[:1] == ["envoy"] and "-c" in command:
        print("envoy", name, command[command.index("-c") + 1], sep="\t")
' <<<"$effective")

declare -A sources=()  # "service<TAB>target" -> source
while IFS=$'\t' read -r kind service a b; do
  [[ $kind == mount ]] || continue
  if [[ $a != /* ]]; then
    problem "$service mounts $a at $b: not a host path"
  elif [[ ! -e $a ]]; then
    problem "$service mounts $a at $b, which does not exist"
  else
    echo "exists: $a ($service: $b)"
  fi
  sources[$service$'\t'$b]=$a
done <<<"$listing"

# The mount a container path is under (the longest target), as
# "TARGET<TAB>SOURCE"; nothing if none.
mount_of() { # service, container path
  local key best=
  for key in "${!sources[@]}"; do
    [[ ${key%%$'\t'*} == "$1" ]] || continue
    local target=${key#*$'\t'}
    if [[ $2 == "$target" || $2 == "$target"/* ]] && ((${#target} > ${#best})); then best=$target; fi
  done
  [[ -n $best ]] && printf '%s\t%s\n' "$best" "${sources[$1$'\t'$best]}"
}

# Gives a copy the mode (and, as root, the owner) of its original.
same_mode() { # original, copy
  chmod --reference="$1" "$2"
  if $is_root; then chown --reference="$1" "$2"; fi
}

# Whether uid 101 / gid 101 may read (r) or search (x) a path, by its mode
# bits: the owner's if it owns it, else the group's if its group, else the
# others'.
mode_allows() { # path, r|x
  local mode uid gid shift=0 bit=1
  read -r mode uid gid < <(stat -c '%a %u %g' "$1")
  if ((uid == envoy_uid)); then shift=6; elif ((gid == envoy_gid)); then shift=3; fi
  [[ $2 == r ]] && bit=4
  ((((8#$mode >> shift) & bit) != 0))
}

# Copies a file the sidecar reads to ROOT/<container path>, creating the
# directories from the mount's source down with their originals' modes; the
# directories above the mount target are the container's own (0755).
place() { # service, container path, root; prints the copy's path
  local mount target source
  mount=$(mount_of "$1" "$2") || return 1
  target=${mount%%$'\t'*} source=${mount#*$'\t'}
  mkdir -p "$3$(dirname "$target")"
  local rel=${2#"$target"} host=$source copy=$3$target
  if [[ -d $source ]]; then
    mkdir -p "$copy" && same_mode "$source" "$copy"
    local part parts
    IFS=/ read -ra parts <<<"${rel#/}"
    for part in "${parts[@]::${#parts[@]}-1}"; do
      host+=/$part copy+=/$part
      mkdir -p "$copy" && same_mode "$host" "$copy"
    done
    host=$source$rel copy=$3$2
  fi
  [[ -f $host ]] || return 1
  cp "$host" "$copy" && same_mode "$host" "$copy"
  echo "$copy"
}

# Whether uid 101 / gid 101 can read a copied file, through every directory
# of the copy root.
readable() { # root, copy
  if $is_root; then
    "${as_envoy[@]}" test -r "$2"
    return
  fi
  local dir=$2
  while dir=$(dirname "$dir") && [[ $dir == "$1"/* ]]; do
    mode_allows "$dir" x || return 1
  done
  mode_allows "$2" r
}

if $is_root; then
  "${as_envoy[@]}" "$envoy" --version >/dev/null 2>&1 ||
    { echo "check-compose: uid $envoy_uid cannot run $envoy; set ENVOY to an Envoy it can run" >&2; exit 1; }
else
  echo "note: not root, so Envoy validates as uid $(id -u) and readability by uid $envoy_uid is judged from mode bits"
fi

umask 022 # the container's own directories (/, /meshwasm) are 0755
tmp=$(mktemp -d /tmp/meshwasm-compose.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
while IFS=$'\t' read -r kind service config; do
  [[ $kind == envoy ]] || continue
  croot=$tmp/$service
  mkdir -p "$croot"
  if ! mount_of "$service" "$config" >/dev/null; then
    problem "$service: its config $config is not under any of its mounts"
    continue
  fi
  host_config=$(mount_of "$service" "$config" | { IFS=$'\t' read -r t s; echo "$s${config#"$t"}"; })
  if [[ ! -f $host_config ]]; then
    problem "$service: its config $config ($host_config) does not exist"
    continue
  fi
  # Every path under one of this service's mounts that the config names.
  targets=()
  for key in "${!sources[@]}"; do
    [[ ${key%%$'\t'*} == "$service" ]] && targets+=("${key#*$'\t'}")
  done
  referenced=$(for target in "${targets[@]}"; do
    grep -oE "$target/[^][[:space:]\"',{}]+" "$host_config" || true
  done | sort -u)
  # The copy of the config names the files at their copies' paths.
  rewrite=()
  for target in "${targets[@]}"; do rewrite+=(-e "s#$target/#$croot$target/#g"); done
  copy_config=$(place "$service" "$config" "$croot") || { problem "$service: cannot copy $config"; continue; }
  sed "${rewrite[@]}" "$host_config" >"$copy_config.tmp"
  same_mode "$host_config" "$copy_config.tmp"
  mv "$copy_config.tmp" "$copy_config"
  ok=true
  for path in "$config" $referenced; do
    if [[ $path == "$config" ]]; then
      copy=$copy_config
    elif ! copy=$(place "$service" "$path" "$croot"); then
      problem "$service: $path is not a file under its mounts"
      ok=false
      continue
    fi
    if ! readable "$croot" "$copy"; then
      mount=$(mount_of "$service" "$path")
      problem "$service: uid $envoy_uid (gid $envoy_gid) cannot read $path, on the host:"
      namei -l "${mount#*$'\t'}${path#"${mount%%$'\t'*}"}" | sed 's/^/    /' >&2
      ok=false
    fi
  done
  $ok && echo "readable by uid $envoy_uid: $config and the $(wc -w <<<"$referenced") files it names ($service)"
  validate=("$envoy" --mode validate -c "$copy_config" --log-level error)
  $is_root && validate=("${as_envoy[@]}" "${validate[@]}")
  if "${validate[@]}" >"$tmp/$service.log" 2>&1; then
    echo "valid$($is_root && echo " as uid $envoy_uid"): $config ($service)"
  else
    problem "$service: envoy --mode validate refused $config:"
    sed "s#$croot##g" "$tmp/$service.log" | tail -n 5 >&2
  fi
done <<<"$listing"

if ((failed)); then
  echo "check-compose: FAILED" >&2
  exit 1
fi
echo "check-compose: examples/docker-compose.yaml and its sidecar configs are good"
